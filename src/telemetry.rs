//! Logging setup: `tracing` to stderr, human text or JSON lines, level from `--log-level`
//! (or `RUST_LOG`-style directives). stdout is left to the plan, so it can be piped. In a
//! dry-run every line is marked — `[DRY-RUN] ` in text (as the Python integration does) and a
//! top-level `"dry_run":true` in JSON — by the writer itself, so lines from every crate and
//! every task carry it, inside a span or not.
//!
//! With `LOG_FILE` (qontract-reconcile's container contract: its chart ships that file with a
//! sidecar) every line is also appended to that file, in the same format.

pub use crate::config::LogFormat;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The tracing directives of a `--log-level`: a level word (tracing's, or the Python names
/// qontract-reconcile uses: `DEBUG INFO WARNING ERROR CRITICAL`, any case) or directives such as
/// `info,dtp::clients=debug`. A single word that is not a level is refused: tracing would read
/// it as a target name and silence every line.
pub fn directives(level: &str) -> Result<String, String> {
    let l = level.trim();
    if l.contains('=') || l.contains(',') {
        return Ok(l.to_owned());
    }
    let word = match l.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "critical" | "fatal" => "error",
        "off" => "off",
        _ => {
            return Err(format!(
                "--log-level (LOG_LEVEL) '{l}' is not a log level: use DEBUG, INFO, WARNING, ERROR or CRITICAL (or tracing directives such as info,dtp=debug)"
            ));
        }
    };
    Ok(word.to_owned())
}

/// Installs the global subscriber. `level` is a level (`info`) or `EnvFilter` directives
/// (`info,dtp::clients=debug`); `log_file` (`LOG_FILE`) is opened for appending, created if
/// missing. Calling it twice is harmless (the second call is ignored).
pub fn init(
    format: LogFormat,
    level: &str,
    dry_run: bool,
    log_file: Option<&Path>,
) -> Result<(), String> {
    let filter = EnvFilter::try_new(directives(level)?)
        .map_err(|e| format!("--log-level (LOG_LEVEL) '{level}': {e}"))?;
    let file = match log_file {
        None => None,
        Some(path) => Some(Arc::new(Mutex::new(
            File::options()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    format!(
                        "LOG_FILE {}: cannot open for appending: {e}",
                        path.display()
                    )
                })?,
        ))),
    };
    let writer = Stderr {
        marker: dry_run.then_some(format),
        file,
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

/// stderr (and the `LOG_FILE`), marking every event in a dry-run.
#[derive(Clone)]
struct Stderr {
    marker: Option<LogFormat>,
    file: Option<Arc<Mutex<File>>>,
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = MarkedWriter;
    fn make_writer(&'a self) -> Self::Writer {
        MarkedWriter {
            marker: self.marker,
            file: self.file.clone(),
        }
    }
}

/// The fmt layer formats one event into a buffer and hands it over in one `write_all`, whose
/// first `write` call carries the whole event: the marker is added there.
struct MarkedWriter {
    marker: Option<LogFormat>,
    file: Option<Arc<Mutex<File>>>,
}

impl MarkedWriter {
    fn marked(&self, out: &mut dyn Write, buf: &[u8]) -> io::Result<()> {
        match self.marker {
            Some(LogFormat::Json) if buf.first() == Some(&b'{') => {
                out.write_all(br#"{"dry_run":true,"#)?;
                out.write_all(&buf[1..])
            }
            Some(LogFormat::Text) => {
                out.write_all(b"[DRY-RUN] ")?;
                out.write_all(buf)
            }
            _ => out.write_all(buf),
        }
    }
}

impl Write for MarkedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.marked(&mut io::stderr().lock(), buf)?;
        if let Some(file) = &self.file {
            // A full disk must not stop the run: the line still went to stderr.
            let mut f = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = self.marked(&mut *f, buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_level_names_are_levels_and_other_words_are_refused() {
        for (given, want) in [
            ("WARNING", "warn"),
            ("Critical", "error"),
            ("DEBUG", "debug"),
            ("info", "info"),
            (" error ", "error"),
        ] {
            assert_eq!(directives(given).as_deref(), Ok(want), "{given}");
        }
        assert!(directives("verbose").unwrap_err().contains("LOG_LEVEL"));
        assert_eq!(
            directives("info,dtp::clients=debug").as_deref(),
            Ok("info,dtp::clients=debug")
        );
    }
}
