//! The integration tests, compiled into one test binary (the suite builds once). Each module
//! tests one part black-box: the clients against the sandbox servers and a real OpenBao,
//! whole runs through the library (`scenarios`, `metrics`, `sharding`, `prcheck`), and the
//! `dtp` binary run as a user runs it (`e2e`, `runner`).

mod common;
mod fleet;

mod appinterface;
mod appinterface_log_rules;
mod bad_input;
mod cli_extras;
mod config;
mod container;
mod crash;
mod dynatrace;
mod dynatrace_settings;
mod e2e;
mod faults;
mod metrics;
mod ocm;
mod prcheck;
mod properties;
mod runner;
mod scenarios;
mod sharding;
mod toggle;
mod vault;
