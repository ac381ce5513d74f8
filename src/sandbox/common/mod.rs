//! Plumbing shared by the sandbox servers: serving a router on loopback with a hand-written
//! accept loop ([`serve`]: `TCP_NODELAY` on every accepted connection, HTTP/1.1 keep-alive,
//! one task per connection so many clients are served at once), recording every request
//! ([`Recorded`], so tests can assert "exactly these writes"), latency (global and per system)
//! and the fault model ([`FaultRule`]), all held by one [`Control`] per sandbox.
//!
//! # Latency
//!
//! Every request waits the global latency ([`Control::set_latency`], fixture `latency_ms`)
//! plus the latency of its system ([`Control::set_system_latency`], fixture
//! `system_latency_ms: {dynatrace: 20, "ocm:prod": 5}`; a key matches every system it is a
//! prefix of, the longest matching key wins), before anything else happens.
//!
//! # Faults
//!
//! A [`FaultRule`] matches requests by `system` (a prefix of `ocm:<env>`, `dynatrace`,
//! `graphql`; any when absent), `method` (any when absent) and `path_contains` (any when
//! empty). Rules are tried in the order they were added; the first matching rule that *fires*
//! decides the request, and only one rule applies to a request. A rule fires `times` times
//! (forever when absent); a rule with a `rate_limit` or `probability` gate that does not fire
//! lets the request on to the next rules. Every option is optional (`#[serde(default)]`), so
//! a fixture from before these options keeps its meaning:
//!
//! | field | meaning |
//! | --- | --- |
//! | `status` | answer with this status (and `body`, or the system-shaped error body, and `Retry-After: retry_after` when given). `0`/absent: no status of its own |
//! | `when` | `before` (default): the fault replaces processing, nothing changes on the server. `after`: the real handler runs first (its state changes stay), then the client gets the fault instead of the real answer. `hold`: wait `delay_ms`, process, wait `delay_ms` again, then answer |
//! | `reset` | close the TCP connection (with an RST, no HTTP response at all: the client sees a transport error, never a status) |
//! | `delay_ms` | with `before`: wait that long, then answer (the fault, or the real answer when the rule has no `status`/`reset`). With `after`: process, wait, then answer (a delay past the client's timeout makes the client give up on a request the server did apply). With `hold`: the wait on both sides |
//! | `rate_limit` | requests per second to one system (counted per actual system, in 1-second windows); a request past the limit fires the rule, one within it is let through and counted |
//! | `probability` | the fraction (0..=1) of matching requests the rule fires for, drawn from a splitmix64 generator seeded with `seed` (0 when absent), so a run is reproducible |
//! | `seed` | the seed of `probability` |
//! | `name` | a label reported in [`Recorded::fault`] |
//!
//! A rule with `rate_limit` or `probability` and neither `status`, `reset` nor `delay_ms`
//! answers `429` with `Retry-After: retry_after` (1 when absent), before processing: the
//! rate limits and 429 storms of real APIs. A delayed or `after` fault keeps running on the
//! server when the client gives up (a real server does not notice a client that left), so
//! its state changes happen even after a client timeout or shutdown.
//!
//! ```yaml
//! faults:
//!   # apply then fail: the SyncSet is created, the client sees a 502
//!   - {method: POST, path_contains: /external_configuration/syncsets, when: after, status: 502, times: 1}
//!   # apply then reset: the token exists, the client sees a transport error
//!   - {system: dynatrace, method: POST, path_contains: /apiTokens, when: after, reset: true, times: 1}
//!   # apply, then answer after the client's timeout
//!   - {method: PATCH, path_contains: /syncsets/, when: after, delay_ms: 15000, times: 1}
//!   # reset before processing; delay before processing
//!   - {path_contains: /api/clusters_mgmt/v1/clusters, reset: true, times: 1}
//!   - {path_contains: /sha256, delay_ms: 300, times: 2}
//!   # hold a call 2 s before and 2 s after processing (outlives a shutdown grace period)
//!   - {method: POST, path_contains: /cluster_logs, when: hold, delay_ms: 2000, times: 1}
//!   # at most 5 requests per second to Dynatrace, then 429 + Retry-After: 1
//!   - {system: dynatrace, rate_limit: 5}
//!   # a reproducible 429 storm on 20 % of the OCM requests
//!   - {system: ocm, probability: 0.2, seed: 42, retry_after: 2, name: storm}
//! ```
//!
//! From Rust, [`Control::add_fault`] takes the same rules (a literal with
//! `..Default::default()`, or the [`FaultRule::rate_limit`] / [`FaultRule::storm`]
//! constructors); [`Control::set_rate_limit`] and [`Control::set_system_latency`] are
//! shortcuts, [`Control::faults`] shows the rules with their remaining `times` and
//! [`FaultRule::validate`] is what fixtures are checked with.
//!
//! ```no_run
//! # use dtp::sandbox::common::{Control, FaultRule, FaultWhen};
//! # use std::time::Duration;
//! # let control = Control::new();
//! let syncsets = || FaultRule {
//!     method: Some("POST".into()),
//!     path_contains: "/external_configuration/syncsets".into(),
//!     times: Some(1),
//!     ..Default::default()
//! };
//! // apply then fail / reset / answer late
//! control.add_fault(FaultRule { when: FaultWhen::After, status: 502, ..syncsets() });
//! control.add_fault(FaultRule { when: FaultWhen::After, reset: true, ..syncsets() });
//! control.add_fault(FaultRule { when: FaultWhen::After, delay_ms: Some(15_000), ..syncsets() });
//! // reset before processing; delay before processing
//! control.add_fault(FaultRule { reset: true, ..syncsets() });
//! control.add_fault(FaultRule { delay_ms: Some(300), ..syncsets() });
//! // hold 2 s before and 2 s after processing
//! control.add_fault(FaultRule { when: FaultWhen::Hold, delay_ms: Some(2_000), ..syncsets() });
//! // rate limit and storm
//! control.set_rate_limit("dynatrace", 5);
//! control.add_fault(FaultRule { retry_after: Some(2), ..FaultRule::storm("ocm", 0.2, 42) });
//! // per-system latency on top of the global one
//! control.set_latency(Duration::from_millis(10));
//! control.set_system_latency("dynatrace", Duration::from_millis(20));
//! ```
//!
//! # Recording
//!
//! Every request is recorded when it arrives, before latency and faults, with the fault the
//! rules chose for it ([`Recorded::fault`]: rule name and position, cause — plain rule, rate
//! limit or storm —, `when`, status, reset, delay). [`Recorded::is_write`] says what the
//! client sent (a faulted write is still a write); [`Recorded::was_processed`] whether the
//! real handler ran; [`Control::injected`] lists the faulted requests.

mod control;
mod errors;
mod faults;
mod layer;
mod recorded;
mod rng;
mod serve;

pub use control::Control;
pub use errors::{default_error_body, ocm_error};
pub use faults::{FaultCause, FaultRule, FaultWhen, InjectedFault};
pub use recorded::Recorded;
pub use serve::{Served, serve};

#[cfg(test)]
pub(crate) use serve::accepted;

#[cfg(test)]
mod tests;
