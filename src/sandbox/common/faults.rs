//! Fault rules ([`FaultRule`], see the table in [`super`]) and how one is chosen for a request:
//! matching, `times`, the per-system `rate_limit` windows and the seeded `probability` draws,
//! ending in a `Plan` that the layer executes and an [`InjectedFault`] that is recorded.

use super::rng::SplitMix64;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// When a fault takes effect relative to the real handler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultWhen {
    /// Instead of processing (after `delay_ms`): nothing changes on the server, unless the
    /// rule has no `status` and no `reset` (then it only delays the real answer).
    #[default]
    Before,
    /// After processing: the state changes stay, then (after `delay_ms`) the client gets the
    /// fault (`status`, `reset`) or, with neither, the real answer late.
    After,
    /// Wait `delay_ms`, process, wait `delay_ms` again, then answer (the fault or, with
    /// neither `status` nor `reset`, the real answer).
    Hold,
}

/// A fault: what to do to requests matching `system`, `method` and `path_contains`. Every
/// field is optional; see the module docs of [`super`] for the whole model and YAML
/// examples. In Rust, build one with `..Default::default()`:
///
/// ```no_run
/// # use dtp::sandbox::common::{Control, FaultRule, FaultWhen};
/// # let control = Control::new();
/// // The SyncSet is created, then the client gets a 503.
/// control.add_fault(FaultRule {
///     method: Some("POST".into()),
///     path_contains: "/external_configuration/syncsets".into(),
///     when: FaultWhen::After,
///     status: 503,
///     times: Some(1),
///     ..Default::default()
/// });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// A label, reported in [`super::Recorded::fault`].
    #[serde(default)]
    pub name: Option<String>,
    /// A prefix of the system (`ocm:<env>`, `ocm`, `dynatrace`, `graphql`); any when absent.
    #[serde(default)]
    pub system: Option<String>,
    /// HTTP method, case-insensitive; any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// A substring of the path; any path when empty.
    #[serde(default)]
    pub path_contains: String,
    /// The status to answer with; `0` (absent) when the rule answers with no status of its
    /// own (a reset, a delay, or the implied 429 of a `rate_limit`/`probability` rule).
    #[serde(default)]
    pub status: u16,
    /// How many times the rule fires; forever when absent.
    #[serde(default)]
    pub times: Option<u32>,
    /// `Retry-After` seconds sent with `status`. A `rate_limit`/`probability` rule answering
    /// 429 sends 1 when absent.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// JSON error body; a system-shaped default is used when absent.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// `before` (default), `after` or `hold`: see [`FaultWhen`].
    #[serde(default)]
    pub when: FaultWhen,
    /// Close the connection with a TCP reset instead of answering (no HTTP response at all;
    /// the client sees a transport error). Wins over `status`.
    #[serde(default)]
    pub reset: bool,
    /// Milliseconds to hold the request: before processing (`before`), after it (`after`) or
    /// on both sides (`hold`).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Requests per second to one system (each system the rule matches has its own sliding
    /// one-second window): requests within the limit pass (and count), the ones past it fire
    /// the rule. `0` fires for every request.
    #[serde(default)]
    pub rate_limit: Option<u32>,
    /// Fire for this fraction (`0.0..=1.0`) of the matching requests, drawn from a seeded
    /// generator (see `seed`): a reproducible 429 storm.
    #[serde(default)]
    pub probability: Option<f64>,
    /// Seed of the `probability` draws (0 when absent): the same seed gives the same sequence
    /// of hits and misses.
    #[serde(default)]
    pub seed: Option<u64>,
}

impl FaultRule {
    /// At most `per_second` requests per second to each system starting with `system`; the
    /// others get 429 with `Retry-After: 1` before processing.
    pub fn rate_limit(system: impl Into<String>, per_second: u32) -> Self {
        Self {
            system: Some(system.into()),
            rate_limit: Some(per_second),
            ..Self::default()
        }
    }

    /// A 429 storm: `probability` of the requests to systems starting with `system` get 429
    /// with `Retry-After: 1` before processing, reproducibly for one `seed`.
    pub fn storm(system: impl Into<String>, probability: f64, seed: u64) -> Self {
        Self {
            system: Some(system.into()),
            probability: Some(probability),
            seed: Some(seed),
            ..Self::default()
        }
    }

    /// Why the rule makes no sense, if it does not (checked for fixture rules).
    pub fn validate(&self) -> Result<(), String> {
        if self.status != 0 && !(100..=599).contains(&self.status) {
            return Err(format!("status {} is not an HTTP status", self.status));
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("probability {p} is not between 0 and 1"));
        }
        if self.seed.is_some() && self.probability.is_none() {
            return Err("seed is only used with probability".to_owned());
        }
        if self.when == FaultWhen::Hold && self.delay_ms.is_none() {
            return Err("when: hold needs delay_ms".to_owned());
        }
        Ok(())
    }

    fn matches(&self, system: &str, method: &str, path: &str) -> bool {
        self.times != Some(0)
            && self.system.as_deref().is_none_or(|s| system.starts_with(s))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.contains(&self.path_contains)
    }

    fn gated(&self) -> bool {
        self.rate_limit.is_some() || self.probability.is_some()
    }

    /// The status the client gets, if any (a reset has none).
    fn answer_status(&self) -> Option<u16> {
        if self.reset {
            None
        } else if self.status != 0 {
            Some(self.status)
        } else if self.gated() && self.delay_ms.is_none() {
            Some(429)
        } else {
            None
        }
    }
}

/// Why a rule fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultCause {
    /// A plain rule (no gate): it matched and had `times` left.
    Rule,
    /// The request was past the rule's `rate_limit`.
    RateLimit,
    /// The rule's `probability` draw hit.
    Storm,
}

/// The fault a rule injected into one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InjectedFault {
    /// The rule's `name`, when it has one.
    pub name: Option<String>,
    /// The rule's position in the fault list when it fired.
    pub rule: usize,
    pub cause: FaultCause,
    pub when: FaultWhen,
    /// The status the client got instead of the real answer; `None` for a reset or a
    /// delay-only fault.
    pub status: Option<u16>,
    /// The connection was reset instead of answered.
    pub reset: bool,
    /// How long the request was held (on each side for `hold`).
    pub delay_ms: u64,
}

impl InjectedFault {
    /// Whether the real handler ran.
    pub fn processes(&self) -> bool {
        self.when != FaultWhen::Before || (self.status.is_none() && !self.reset)
    }
}

/// What the client gets once the plan has run.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    /// The real answer (possibly late).
    Real,
    /// A fault answer instead of the real one.
    Status {
        status: u16,
        body: Option<serde_json::Value>,
        retry_after: Option<u64>,
    },
    /// No answer: the connection is reset.
    Reset,
}

/// How one request is served under a fault.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) when: FaultWhen,
    pub(crate) delay: Duration,
    pub(crate) outcome: Outcome,
    pub(crate) record: InjectedFault,
}

/// A rule with its runtime state (rate windows, generator).
pub(crate) struct ActiveRule {
    pub(crate) rule: FaultRule,
    rng: SplitMix64,
    /// Per system: when the requests admitted in the last second arrived.
    windows: HashMap<String, VecDeque<Instant>>,
}

impl ActiveRule {
    pub(crate) fn new(rule: FaultRule) -> Self {
        let rng = SplitMix64::new(rule.seed.unwrap_or(0));
        Self {
            rule,
            rng,
            windows: HashMap::new(),
        }
    }

    /// Whether the rule fires for a matching request (taking a rate slot or a draw).
    fn fires(&mut self, system: &str, now: Instant) -> Option<FaultCause> {
        let mut cause = FaultCause::Rule;
        if let Some(limit) = self.rule.rate_limit {
            let window = self.windows.entry(system.to_owned()).or_default();
            while window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
            {
                window.pop_front();
            }
            if window.len() < limit as usize {
                window.push_back(now);
                return None;
            }
            cause = FaultCause::RateLimit;
        }
        if let Some(p) = self.rule.probability {
            if self.rng.next_f64() >= p {
                return None;
            }
            if cause == FaultCause::Rule {
                cause = FaultCause::Storm;
            }
        }
        Some(cause)
    }

    fn plan(&self, index: usize, cause: FaultCause) -> Plan {
        let r = &self.rule;
        let status = r.answer_status();
        let outcome = match status {
            _ if r.reset => Outcome::Reset,
            Some(s) => Outcome::Status {
                status: s,
                body: r.body.clone(),
                retry_after: r.retry_after.or((r.gated() && s == 429).then_some(1)),
            },
            None => Outcome::Real,
        };
        let delay_ms = r.delay_ms.unwrap_or(0);
        Plan {
            when: r.when,
            delay: Duration::from_millis(delay_ms),
            outcome,
            record: InjectedFault {
                name: r.name.clone(),
                rule: index,
                cause,
                when: r.when,
                status,
                reset: r.reset,
                delay_ms,
            },
        }
    }
}

/// The plan of the first rule that fires for the request, if any (counting down its `times`).
pub(crate) fn take_plan(
    rules: &mut [ActiveRule],
    system: &str,
    method: &str,
    path: &str,
    now: Instant,
) -> Option<Plan> {
    for (index, active) in rules.iter_mut().enumerate() {
        if !active.rule.matches(system, method, path) {
            continue;
        }
        let Some(cause) = active.fires(system, now) else {
            continue;
        };
        if let Some(t) = active.rule.times.as_mut() {
            *t -= 1;
        }
        return Some(active.plan(index, cause));
    }
    None
}
