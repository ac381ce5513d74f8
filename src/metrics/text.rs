//! The Prometheus text format 0.0.4 the Pushgateway reads: prometheus-client's own encoder
//! ([`prometheus_client::encoding::prometheus_text`]), with one change so the families equal
//! what the Python integrations push: HELP texts without the full stop prometheus-client
//! appends.

/// `text` (Prometheus text 0.0.4 from prometheus-client) with the full stop at the end of
/// every `# HELP` line removed.
pub fn without_help_full_stops(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = if line.starts_with("# HELP ") {
            line.strip_suffix('.').unwrap_or(line)
        } else {
            line
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_help_lines_lose_their_full_stop() {
        let text = "# HELP a_total Runs.\n# TYPE a_total counter\na_total 1.5\n";
        assert_eq!(
            without_help_full_stops(text),
            "# HELP a_total Runs\n# TYPE a_total counter\na_total 1.5\n"
        );
    }
}
