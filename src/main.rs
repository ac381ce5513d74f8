//! The `dtp` binary: parse the command line, set up logging, hand over to the library and
//! map the outcome to the documented exit code.

use clap::Parser;

fn main() {
    let cli = dtp::cli::Cli::parse();
    if let Err(e) = dtp::telemetry::init(cli.log_format, &cli.log_level) {
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
    let code = runtime.block_on(dtp::commands::execute(cli, dtp::cli::Env::from_process()));
    std::process::exit(code);
}
