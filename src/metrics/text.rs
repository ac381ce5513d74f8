//! The Prometheus text format 0.0.4 the Pushgateway reads, converted from the OpenMetrics
//! text [`super::Metrics::encode`] writes.

use std::collections::HashSet;

/// Converts OpenMetrics text (as [`super::Metrics::encode`] writes it) to the Prometheus text
/// format 0.0.4 the Pushgateway reads: counter families are named with their `_total`
/// suffix, HELP texts lose the full stop prometheus-client appends (so they equal the
/// Python integrations' HELP for the same families), `# UNIT` and `# EOF` lines are dropped.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64);
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|tag| {
            let rest = line.strip_prefix(tag)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let suffix = if counters.contains(name) {
                "_total"
            } else {
                ""
            };
            // prometheus-client ends every HELP with a full stop; qontract-reconcile's (the
            // same families pushed by the Python integrations) have none.
            let tail = if *tag == "# HELP " {
                tail.strip_suffix('.').unwrap_or(tail)
            } else {
                tail
            };
            Some(format!("{tag}{name}{suffix} {tail}"))
        });
        match rewritten {
            Some(l) => out.push_str(l.trim_end()),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
