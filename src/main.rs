//! The `dtp` binary: parse the command line, set up logging, hand over to the library and
//! map the outcome to the documented exit code.

use clap::Parser;

fn main() {
    let cli = dtp::cli::Cli::parse();
    let env = dtp::cli::Env::from_process();
    // Known before anything logs, so that every line of a dry-run is marked. An invalid
    // DRY_RUN is reported (exit 2) by the run command itself.
    let dry_run = match &cli.command {
        dtp::cli::Command::Run(args) => dtp::cli::resolve_dry_run(args, &env).unwrap_or(true),
        _ => false,
    };
    if let Err(e) = dtp::telemetry::init(cli.log_format, &cli.log_level, dry_run) {
        eprintln!("dtp: {e}");
        std::process::exit(dtp::cli::EXIT_INVALID);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dtp: cannot start the async runtime: {e}");
            std::process::exit(dtp::cli::EXIT_PARTIAL);
        }
    };
    let code = runtime.block_on(dtp::commands::execute(cli, env));
    std::process::exit(code);
}
