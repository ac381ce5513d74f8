//! The process exit codes, in one place (the README and `dtp --help` document them).

/// Success (also a dry-run with a plan, `validate` with no problem, an early exit, a disabled
/// feature toggle).
pub const OK: i32 = 0;
/// Some OCM environment, tenant or cluster failed; the rest was done.
pub const PARTIAL: i32 = 1;
/// Invalid configuration or app-interface data; nothing was attempted.
pub const INVALID: i32 = 2;
