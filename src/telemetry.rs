//! Logging setup: `tracing` to stderr, human text or JSON lines, level from `--log-level`
//! (or `RUST_LOG`-style directives). stdout is left to the plan, so it can be piped. In a
//! dry-run every line is marked — `[DRY-RUN] ` in text (as the Python integration does) and a
//! top-level `"dry_run":true` in JSON — by the writer itself, so lines from every crate and
//! every task carry it, inside a span or not.

pub use crate::config::LogFormat;
use std::io::{self, IsTerminal, Write};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber. `level` is a level (`info`) or `EnvFilter` directives
/// (`info,dtp::clients=debug`). Calling it twice is harmless (the second call is ignored).
pub fn init(format: LogFormat, level: &str, dry_run: bool) -> Result<(), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| format!("--log-level '{level}': {e}"))?;
    let writer = Stderr {
        marker: dry_run.then_some(format),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(format == LogFormat::Text && io::stderr().is_terminal())
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
    Ok(())
}

/// stderr, marking every event in a dry-run.
#[derive(Clone, Copy)]
struct Stderr {
    marker: Option<LogFormat>,
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = MarkedWriter;
    fn make_writer(&'a self) -> Self::Writer {
        MarkedWriter {
            marker: self.marker,
        }
    }
}

/// The fmt layer formats one event into a buffer and hands it over in one `write_all`, whose
/// first `write` call carries the whole event: the marker is added there.
struct MarkedWriter {
    marker: Option<LogFormat>,
}

impl Write for MarkedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut err = io::stderr().lock();
        match self.marker {
            Some(LogFormat::Json) if buf.first() == Some(&b'{') => {
                err.write_all(br#"{"dry_run":true,"#)?;
                err.write_all(&buf[1..])?;
            }
            Some(LogFormat::Text) => {
                err.write_all(b"[DRY-RUN] ")?;
                err.write_all(buf)?;
            }
            _ => err.write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
