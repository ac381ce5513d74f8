//! placeholder: OCM client.
