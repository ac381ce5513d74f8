//! The observers the clients report to: every HTTP attempt and retry ([`HttpObserver`]) and
//! every change of a target's concurrency limit ([`LimitObserver`]).

use super::labels::{RequestLabels, RetryLabels, SystemLabels, SystemMethodLabels, TargetLabels};
use super::{Metrics, gauge_value, method_label};
use crate::clients::http::HttpObserver;
use crate::clients::limit::LimitObserver;
use std::borrow::Cow;
use std::time::Duration;

impl LimitObserver for Metrics {
    fn limit(&self, system: &'static str, target: &str, limit: usize) {
        self.concurrency_limit
            .get_or_create(&TargetLabels {
                system,
                target: target.to_owned(),
            })
            .set(gauge_value(limit));
    }
}

impl HttpObserver for Metrics {
    fn response(&self, system: &'static str, method: &str, status: Option<u16>, elapsed: Duration) {
        let method = method_label(method);
        let status_label = status.map_or(Cow::Borrowed("error"), |s| Cow::Owned(s.to_string()));
        self.http_requests
            .get_or_create(&RequestLabels {
                system,
                method,
                status: status_label,
            })
            .inc();
        self.http_duration
            .get_or_create(&SystemMethodLabels { system, method })
            .observe(elapsed.as_secs_f64());
        if status == Some(429) {
            self.http_throttled
                .get_or_create(&SystemLabels { system })
                .inc();
        }
    }

    fn retry(&self, system: &'static str, status: Option<u16>) {
        let reason = match status {
            Some(429) => "429",
            Some(503) => "503",
            _ => "other",
        };
        self.http_retries
            .get_or_create(&RetryLabels { system, reason })
            .inc();
    }
}
