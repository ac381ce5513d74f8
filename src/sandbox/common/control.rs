//! [`Control`]: the state every server of one sandbox shares: the request log, the fault
//! rules and the latencies (global and per system). Every part sits behind its own lock, so
//! concurrent requests on many connections are safe.

use super::faults::{ActiveRule, FaultRule, Plan, take_plan};
use super::recorded::Recorded;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// State shared by all sandbox servers of one sandbox: the request log, fault rules and
/// latency. Cheap to clone.
#[derive(Clone, Default)]
pub struct Control {
    inner: Arc<ControlInner>,
}

#[derive(Default)]
struct ControlInner {
    log: Mutex<Vec<Recorded>>,
    faults: Mutex<Vec<ActiveRule>>,
    latency: Mutex<Duration>,
    /// By system prefix.
    system_latency: Mutex<BTreeMap<String, Duration>>,
}

/// A lock that a panicking test thread cannot wedge for everyone else.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.inner.log).clone()
    }

    /// Writes (POST/PUT/PATCH/DELETE) received so far.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests_where(Recorded::is_write)
    }

    /// The requests a fault was injected into, in order.
    pub fn injected(&self) -> Vec<Recorded> {
        self.requests_where(|r| r.fault.is_some())
    }

    /// The requests `keep` accepts, in order (only those are copied out of the log).
    fn requests_where(&self, keep: impl Fn(&Recorded) -> bool) -> Vec<Recorded> {
        lock(&self.inner.log)
            .iter()
            .filter(|r| keep(r))
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    /// Adds a rule after the existing ones (see [`FaultRule`]; [`FaultRule::validate`] says
    /// whether it makes sense).
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.inner.faults).push(ActiveRule::new(rule));
    }

    /// The rules, with `times` as far as they are counted down.
    pub fn faults(&self) -> Vec<FaultRule> {
        lock(&self.inner.faults)
            .iter()
            .map(|a| a.rule.clone())
            .collect()
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Rate-limits every system starting with `system` to `per_second` requests per second
    /// (429 with `Retry-After: 1` past it): [`FaultRule::rate_limit`].
    pub fn set_rate_limit(&self, system: &str, per_second: u32) {
        self.add_fault(FaultRule::rate_limit(system, per_second));
    }

    /// Latency added to every request.
    pub fn set_latency(&self, d: Duration) {
        *lock(&self.inner.latency) = d;
    }

    /// Latency added to the requests of every system starting with `system`, on top of the
    /// global latency (the longest matching prefix wins). Zero removes it.
    pub fn set_system_latency(&self, system: &str, d: Duration) {
        let mut map = lock(&self.inner.system_latency);
        if d.is_zero() {
            map.remove(system);
        } else {
            map.insert(system.to_owned(), d);
        }
    }

    /// Global plus per-system latency of a request to `system`.
    pub(crate) fn latency_for(&self, system: &str) -> Duration {
        let global = *lock(&self.inner.latency);
        let own = lock(&self.inner.system_latency)
            .iter()
            .filter(|(prefix, _)| system.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, d)| *d)
            .unwrap_or_default();
        global + own
    }

    pub(crate) fn record(&self, r: Recorded) {
        lock(&self.inner.log).push(r);
    }

    pub(crate) fn take_plan(&self, system: &str, method: &str, path: &str) -> Option<Plan> {
        let mut rules = lock(&self.inner.faults);
        take_plan(&mut rules, system, method, path, Instant::now())
    }
}
