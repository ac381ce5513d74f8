//! The `dtp` binary: parse the command line, set up logging, turn flags and environment into
//! the validated configuration, hand over to the library and map the outcome to the
//! documented exit code.

use clap::Parser;
use dtp::{cli, commands, exit, telemetry};

fn main() {
    let args = cli::Cli::parse();
    let env = cli::Env::from_process();
    // Known before anything logs, so that every line of a dry-run is marked. An invalid
    // DRY_RUN is reported (exit 2) once the configuration is built.
    let dry_run = cli::dry_run_hint(&args, &env);
    if let Err(e) = telemetry::init(args.log_format, &args.log_level, dry_run) {
        eprintln!("dtp: {e}");
        std::process::exit(exit::INVALID);
    }
    let config = match cli::build(&args, &env) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(exit_code = exit::INVALID, "{e}");
            std::process::exit(exit::INVALID);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dtp: cannot start the async runtime: {e}");
            std::process::exit(exit::PARTIAL);
        }
    };
    let code = runtime.block_on(commands::execute(config));
    std::process::exit(code);
}
