//! Documentation generated from the clap definitions: shell completions (`dtp completions
//! <shell>`), the man page (`dtp man`, written to `target/man/dtp.1` by `make man`), and the
//! `--help` section listing the environment variables that have no flag ([`super::Env`]).

use super::Cli;
use crate::config::Shell;
use clap::CommandFactory;
use std::io::{self, Write};

/// The environment variables read without a flag ([`super::Env`]), shown after `--help` of
/// `dtp` and `dtp run` and in the man page. Keep it in step with `Env::from_process`.
pub const ENV_WITHOUT_FLAG: &str = "\
Environment variables without a flag:
  DRY_RUN                      run: true/false, 1/0, yes/no (or --dry-run/--no-dry-run); \
--dry-run/--no-dry-run beat it
  VAULT_TOKEN                  Vault token, when config.toml [vault] has neither AppRole nor \
Kubernetes auth
  KUBE_SA_TOKEN_PATH           service-account token of Vault Kubernetes auth (default \
/var/run/secrets/kubernetes.io/serviceaccount/token)
  SSL_CERT_FILE                PEM CA certificates, used as --ca-bundle when that is not given
  RUN_ONCE                     run: any non-empty value means one run (unless --interval)
  SLEEP_DURATION_SECS          run: loop interval when --interval is not given
  PUSHGATEWAY_ENABLED, PUSHGATEWAY_URL, PUSHGATEWAY_USERNAME, PUSHGATEWAY_PASSWORD
                               run: one-shot runs push their metrics to a Pushgateway
  UNLEASH_API_URL, UNLEASH_CLIENT_ACCESS_TOKEN
                               run: the feature toggle dynatrace-token-provider (disabled: exit 0)
  CONFIG                       config.toml when neither --config nor QONTRACT_CONFIG names one
  INTEGRATION_EXTRA_ARGS       flags appended to the command line, split on whitespace
  LOG_FILE                     every log line is also appended to this file";

/// Writes the completion script of `shell` for `dtp`.
pub fn completions(shell: Shell, out: &mut dyn Write) -> io::Result<()> {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // `generate` panics when its writer fails (a closed pipe): render to memory first.
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "dtp", &mut script);
    out.write_all(&script)
}

/// Writes the man page dtp(1) (roff): the top-level page, then a section per visible
/// subcommand with its synopsis and options.
pub fn man(out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    // clap_mangen titles the after-help section EXTRA; it is the environment.
    out.write_all(&retitle(&page, ".SH EXTRA", ".SH ENVIRONMENT", false))?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let page = clap_mangen::Man::new(sub.clone());
        let title = format!(".SH \"DTP {}\"", sub.get_name().to_uppercase());
        let mut synopsis = Vec::new();
        page.render_synopsis_section(&mut synopsis)?;
        out.write_all(&retitle(&synopsis, ".SH SYNOPSIS", &title, true))?;
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            writeln!(out, "{}", roff_text(&about.to_string()))?;
        }
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            let mut options = Vec::new();
            page.render_options_section(&mut options)?;
            let heading = format!(".SS \"Options of dtp {}\"", sub.get_name());
            out.write_all(&retitle(&options, ".SH OPTIONS", &heading, true))?;
        }
    }
    Ok(())
}

/// Replaces the first line `from` of a rendered page by `to`; with `section_only`, drops what
/// comes before it (the preamble roff writes at the top of every rendering).
fn retitle(page: &[u8], from: &str, to: &str, section_only: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(page);
    let at = text.match_indices(from).map(|(i, _)| i).find(|&i| {
        (i == 0 || text[..i].ends_with('\n')) && text[i + from.len()..].starts_with('\n')
    });
    match at {
        Some(i) => {
            let before = if section_only { "" } else { &text[..i] };
            format!("{before}{to}{}", &text[i + from.len()..]).into_bytes()
        }
        None => text.into_owned().into_bytes(),
    }
}

/// Plain text as a roff paragraph: no line may start with a control character.
fn roff_text(text: &str) -> String {
    let lines = text.lines().map(|l| {
        let l = l.replace('\\', "\\e");
        if l.starts_with('.') || l.starts_with('\'') {
            format!("\\&{l}")
        } else {
            l
        }
    });
    format!(".PP\n{}", lines.collect::<Vec<_>>().join("\n"))
}
