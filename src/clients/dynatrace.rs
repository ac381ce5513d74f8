//! placeholder: Dynatrace client.
