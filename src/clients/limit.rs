//! Concurrency limits per target — one OCM environment, one Dynatrace tenant, Vault, … — that
//! adapt to throttling. Every HTTP attempt holds a permit of its target's [`Limit`] while it
//! is on the wire (not while it waits to be retried), so a target never sees more than its
//! limit of calls in flight, whatever the number of clusters dtp works on.
//!
//! # Adapting
//!
//! The limit starts at the configured maximum. When at least half of a target's recent
//! answers (the last [`WINDOW`], at least four) are throttled (429, or 503 with `Retry-After`), the target is
//! overloaded: the limit halves (never below 1) and the target is paused for the
//! `Retry-After` it sent (capped): new calls to it wait, calls to other targets go on (the
//! throttled answers of calls sent before the pause do not lower it again). A few
//! scattered 429s (a busy server rejecting some calls at random) do not count as overload:
//! those calls are retried after their own `Retry-After` and the limit stays. After every
//! `limit` successes in a row the limit grows by one, up to three quarters of the limit at
//! which the target was last overloaded; past that it probes upwards by one at most every
//! [`PROBE_EVERY`], back to the maximum. So a server with a fixed capacity settles under it
//! after one or two overloads, instead of being overloaded (and pausing) again every second.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Answers remembered per target to tell overload from scattered throttling.
pub const WINDOW: usize = 16;
/// Fewer answers than this say nothing about overload.
const MIN_SAMPLE: usize = 4;
/// How often a limit at or above its ceiling may grow by one.
const PROBE_EVERY: Duration = Duration::from_secs(10);
/// The longest pause a `Retry-After` can impose on a target.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// The configured maximum number of calls in flight per target, by system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSettings {
    /// Per OCM environment (its API and SSO).
    pub ocm: usize,
    /// Per Dynatrace tenant (environment).
    pub dynatrace: usize,
    /// Vault (or OpenBao).
    pub vault: usize,
    /// qontract-server, the Pushgateway and Unleash.
    pub other: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            ocm: 16,
            dynatrace: 8,
            vault: 16,
            other: 8,
        }
    }
}

impl LimitSettings {
    fn max_for(&self, system: &str) -> usize {
        match system {
            "ocm" | "sso" => self.ocm,
            "dynatrace" => self.dynatrace,
            "vault" => self.vault,
            _ => self.other,
        }
        .max(1)
    }
}

/// Told when a target's current limit changes (the metrics).
pub trait LimitObserver: Send + Sync {
    fn limit(&self, system: &'static str, target: &str, limit: usize);
}

/// The limits of every target of one process.
#[derive(Default)]
pub struct Limits {
    settings: LimitSettings,
    targets: Mutex<HashMap<(&'static str, String), Arc<Limit>>>,
    observer: Option<Arc<dyn LimitObserver>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Limits {
    pub fn new(settings: LimitSettings, observer: Option<Arc<dyn LimitObserver>>) -> Self {
        Self {
            settings,
            targets: Mutex::new(HashMap::new()),
            observer,
        }
    }

    /// The limit of one target (`system`, e.g. `dynatrace`, and the target's name, e.g. the
    /// tenant id): the same one for every client of that target in this process.
    pub fn target(&self, system: &'static str, name: &str) -> Arc<Limit> {
        let mut targets = self
            .targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        targets
            .entry((system, name.to_owned()))
            .or_insert_with(|| {
                let max = self.settings.max_for(system);
                if let Some(o) = &self.observer {
                    o.limit(system, name, max);
                }
                Arc::new(Limit::new(system, name, max, self.observer.clone()))
            })
            .clone()
    }
}

#[derive(Debug)]
struct State {
    limit: usize,
    /// Permits to take out of circulation as they come back (the limit was lowered while
    /// they were in use).
    debt: usize,
    paused_until: Option<Instant>,
    /// The last answers, `true` for throttled.
    recent: VecDeque<bool>,
    successes: usize,
    /// Three quarters of the limit of the last overload (the maximum until one happens):
    /// growth slows down from here.
    ceiling: usize,
    /// When the limit last changed.
    changed: Instant,
}

/// One target's adaptive limit: a fair (first come, first served) semaphore whose number of
/// permits follows the limit.
pub struct Limit {
    system: &'static str,
    name: String,
    max: usize,
    permits: Semaphore,
    state: Mutex<State>,
    observer: Option<Arc<dyn LimitObserver>>,
}

impl std::fmt::Debug for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limit")
            .field("system", &self.system)
            .field("target", &self.name)
            .field("max", &self.max)
            .field("current", &self.current())
            .finish()
    }
}

/// How an attempt that held a permit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Any answer that is not throttling (errors included).
    Served,
    /// 429, or 503 with `Retry-After`: the target asks for less.
    Throttled(Option<Duration>),
}

impl Limit {
    fn new(
        system: &'static str,
        name: &str,
        max: usize,
        observer: Option<Arc<dyn LimitObserver>>,
    ) -> Self {
        let max = max.min(Semaphore::MAX_PERMITS);
        Self {
            system,
            name: name.to_owned(),
            max,
            permits: Semaphore::new(max),
            state: Mutex::new(State {
                limit: max,
                debt: 0,
                paused_until: None,
                recent: VecDeque::with_capacity(WINDOW),
                successes: 0,
                ceiling: max,
                changed: Instant::now(),
            }),
            observer,
        }
    }

    /// An unlimited limit (for clients built without a registry, e.g. in tests).
    pub fn unlimited(system: &'static str) -> Arc<Self> {
        Arc::new(Self::new(system, "-", Semaphore::MAX_PERMITS, None))
    }

    /// The system this target belongs to (`ocm`, `dynatrace`, …).
    pub fn system(&self) -> &'static str {
        self.system
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current limit.
    pub fn current(&self) -> usize {
        self.lock().limit
    }

    /// How long the target is still paused.
    fn pause_left(&self) -> Option<Duration> {
        let until = self.lock().paused_until?;
        until.checked_duration_since(Instant::now())
    }

    /// Waits until the target has room (in arrival order) and is not paused, then takes a
    /// permit.
    pub async fn acquire(&self) -> Permit<'_> {
        if let Some(pause) = self.pause_left() {
            tokio::time::sleep(pause).await;
        }
        // The semaphore is never closed.
        let permit = self.permits.acquire().await.ok();
        // Paused while waiting: every caller of this target waits the pause out.
        if let Some(pause) = self.pause_left() {
            tokio::time::sleep(pause).await;
        }
        Permit {
            limit: self,
            permit,
            done: false,
        }
    }

    fn finish(&self, permit: Option<SemaphorePermit<'_>>, answer: Answer) {
        let changed = {
            let mut s = self.lock();
            let before = s.limit;
            self.learn(&mut s, answer);
            if let Some(p) = permit
                && s.debt > 0
            {
                s.debt -= 1;
                p.forget();
            }
            (s.limit != before).then_some(s.limit)
        };
        if let (Some(limit), Some(o)) = (changed, &self.observer) {
            o.limit(self.system, &self.name, limit);
        }
    }

    /// Takes `n` permits out of circulation: the idle ones now, the others as they come back.
    fn take_out(&self, s: &mut State, n: usize) {
        let idle = self.permits.available_permits().min(n);
        let taken = u32::try_from(idle)
            .ok()
            .and_then(|k| self.permits.try_acquire_many(k).ok())
            .map_or(0, |p| {
                p.forget();
                idle
            });
        s.debt += n - taken;
    }

    fn learn(&self, s: &mut State, answer: Answer) {
        if s.recent.len() == WINDOW {
            s.recent.pop_front();
        }
        s.recent.push_back(matches!(answer, Answer::Throttled(_)));
        match answer {
            Answer::Throttled(retry_after) => {
                s.successes = 0;
                let throttled = s.recent.iter().filter(|t| **t).count();
                // Answers that arrive during a pause are of calls sent before the limit was
                // lowered: they say nothing about the lower limit.
                let pausing = s.paused_until.is_some_and(|u| Instant::now() < u);
                if !pausing && s.recent.len() >= MIN_SAMPLE && throttled * 2 >= s.recent.len() {
                    let lower = (s.limit / 2).max(1);
                    s.ceiling = (s.limit * 3 / 4).max(1);
                    s.changed = Instant::now();
                    self.take_out(s, s.limit - lower);
                    s.limit = lower;
                    let pause = retry_after.unwrap_or(Duration::from_secs(1)).min(MAX_PAUSE);
                    s.paused_until = Instant::now().checked_add(pause);
                    s.recent.clear();
                    tracing::warn!(
                        system = self.system,
                        target = %self.name,
                        limit = s.limit,
                        pause_ms = pause.as_millis() as u64,
                        "throttled: fewer calls at once"
                    );
                }
            }
            Answer::Served => {
                s.successes += 1;
                let may_grow = s.limit < s.ceiling || s.changed.elapsed() >= PROBE_EVERY;
                if s.limit < self.max && may_grow && s.successes >= s.limit {
                    s.limit += 1;
                    s.ceiling = s.ceiling.max(s.limit);
                    s.changed = Instant::now();
                    s.successes = 0;
                    if s.debt > 0 {
                        s.debt -= 1;
                    } else {
                        self.permits.add_permits(1);
                    }
                }
            }
        }
    }
}

/// A call in flight to a target; report how it ended with [`Permit::finish`] (dropping it
/// counts as [`Answer::Served`]).
pub struct Permit<'a> {
    limit: &'a Limit,
    permit: Option<SemaphorePermit<'a>>,
    done: bool,
}

impl Permit<'_> {
    pub fn finish(mut self, answer: Answer) {
        self.done = true;
        self.limit.finish(self.permit.take(), answer);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.limit.finish(self.permit.take(), Answer::Served);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: usize) -> Arc<Limit> {
        Limits::new(
            LimitSettings {
                dynatrace: max,
                ..LimitSettings::default()
            },
            None,
        )
        .target("dynatrace", "t")
    }

    #[tokio::test]
    async fn at_most_the_limit_is_in_flight() {
        let l = limit(2);
        let a = l.acquire().await;
        let _b = l.acquire().await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), l.acquire()).await;
        assert!(waiting.is_err(), "a third call waits");
        a.finish(Answer::Served);
        let c = tokio::time::timeout(Duration::from_millis(50), l.acquire()).await;
        assert!(c.is_ok(), "a freed permit is taken");
    }

    #[tokio::test]
    async fn a_lowered_limit_takes_permits_out_as_they_come_back() {
        let l = limit(4);
        let held: Vec<_> = futures::future::join_all((0..4).map(|_| l.acquire())).await;
        for p in held {
            p.finish(Answer::Throttled(Some(Duration::ZERO)));
        }
        assert_eq!(l.current(), 2, "four throttled answers of four: halved");
        let a = l.acquire().await;
        let _b = l.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(50), l.acquire()).await;
        assert!(third.is_err(), "only two in flight");
        a.finish(Answer::Served);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), l.acquire())
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn overload_halves_the_limit_and_pauses_the_target() {
        let l = limit(8);
        for _ in 0..4 {
            l.acquire()
                .await
                .finish(Answer::Throttled(Some(Duration::from_millis(200))));
        }
        assert_eq!(l.current(), 4);
        let started = Instant::now();
        drop(l.acquire().await);
        assert!(started.elapsed() >= Duration::from_millis(150), "paused");
    }

    #[tokio::test]
    async fn scattered_throttling_keeps_the_limit_and_successes_bring_it_back() {
        let l = limit(8);
        for i in 0..64 {
            let answer = if i % 5 == 0 {
                Answer::Throttled(Some(Duration::from_secs(1)))
            } else {
                Answer::Served
            };
            l.acquire().await.finish(answer);
        }
        assert_eq!(l.current(), 8, "20 % of 429s is not overload");
        for _ in 0..8 {
            l.acquire().await.finish(Answer::Throttled(None));
        }
        let low = l.current();
        assert!(low < 8);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for _ in 0..200 {
            l.acquire().await.finish(Answer::Served);
        }
        assert_eq!(
            l.current(),
            6,
            "back to three quarters of the overloaded limit"
        );
    }

    #[tokio::test]
    async fn after_an_overload_growth_stops_at_three_quarters_of_the_overloaded_limit() {
        let l = limit(8);
        for _ in 0..4 {
            l.acquire()
                .await
                .finish(Answer::Throttled(Some(Duration::ZERO)));
        }
        assert_eq!(l.current(), 4);
        for _ in 0..(4 + 5) {
            l.acquire().await.finish(Answer::Served);
        }
        assert_eq!(l.current(), 6, "quickly back to three quarters of 8");
        for _ in 0..200 {
            l.acquire().await.finish(Answer::Served);
        }
        assert_eq!(l.current(), 6, "then one more only every {PROBE_EVERY:?}");
    }
}
