//! How far a run is: per phase, how many items are done out of how many. The phases count as
//! they go; [`Progress::line`] renders the counts for the progress log line the runner writes
//! every [`INTERVAL`] (which also beats `/healthz`, so a long run that makes progress is never
//! taken for a stuck one).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How often a long run logs its progress.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// The phases of a run that count items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// OCM environments discovered.
    Discovery,
    /// Tenants whose tokens were listed.
    Tenants,
    /// Cluster bundles read.
    Bundles,
    /// Changed clusters applied.
    Apply,
}

impl Stage {
    const ALL: [Stage; 4] = [Self::Discovery, Self::Tenants, Self::Bundles, Self::Apply];

    fn name(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Tenants => "tenants",
            Self::Bundles => "bundles",
            Self::Apply => "apply",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Discovery => 0,
            Self::Tenants => 1,
            Self::Bundles => 2,
            Self::Apply => 3,
        }
    }
}

#[derive(Debug, Default)]
struct Counter {
    done: AtomicUsize,
    total: AtomicUsize,
}

/// The counts of one run. Shared between the phases and the runner's ticker.
#[derive(Debug, Default)]
pub struct Progress {
    stages: [Counter; 4],
}

impl Progress {
    /// A phase is about to handle `total` items.
    pub fn start(&self, stage: Stage, total: usize) {
        let c = &self.stages[stage.index()];
        c.total.store(total, Ordering::Relaxed);
        c.done.store(0, Ordering::Relaxed);
    }

    /// A phase has `n` more items to handle (phases whose work arrives as the run goes).
    pub fn add(&self, stage: Stage, n: usize) {
        self.stages[stage.index()]
            .total
            .fetch_add(n, Ordering::Relaxed);
    }

    /// One more item of a phase is done.
    pub fn advance(&self, stage: Stage) {
        self.stages[stage.index()]
            .done
            .fetch_add(1, Ordering::Relaxed);
    }

    /// `discovery 2/2, tenants 10/10, bundles 400/1000` (phases not started are left out).
    pub fn line(&self) -> String {
        Stage::ALL
            .iter()
            .filter_map(|s| {
                let c = &self.stages[s.index()];
                let total = c.total.load(Ordering::Relaxed);
                (total > 0)
                    .then(|| format!("{} {}/{total}", s.name(), c.done.load(Ordering::Relaxed)))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_started_phases_in_order() {
        let p = Progress::default();
        assert_eq!(p.line(), "");
        p.start(Stage::Bundles, 3);
        p.start(Stage::Discovery, 2);
        p.advance(Stage::Discovery);
        p.advance(Stage::Bundles);
        assert_eq!(p.line(), "discovery 1/2, bundles 1/3");
    }
}
