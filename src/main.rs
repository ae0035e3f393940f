use std::process::ExitCode;

use securevote::cli::{self, Cli};
use securevote::config::{Config, ConfigError};

fn main() -> ExitCode {
    // A .env file in the working directory fills in settings the environment does not set.
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("securevote: .env: {error}");
        return ExitCode::from(2);
    }
    let cli = match Cli::from_env() {
        Ok(cli) => cli,
        Err(error) => return configuration_error(&error),
    };
    // Counting a file, the trustees' tools and the verifier need no configuration, database or
    // server.
    if let Some(outcome) = cli.command.as_ref().and_then(cli::run_offline) {
        return match outcome {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err((command, error)) => {
                eprintln!("securevote: {command}: {}", error.message);
                ExitCode::from(error.code)
            }
        };
    }
    let config = match Config::from_settings(&cli.settings) {
        Ok(config) => config,
        Err(error) => return configuration_error(&error),
    };
    securevote::telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("securevote: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let kind = if error.exit_code() == 2 {
                "configuration error: "
            } else {
                ""
            };
            eprintln!("securevote: {kind}{error}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn configuration_error(error: &ConfigError) -> ExitCode {
    eprintln!("securevote: configuration error: {error}");
    ExitCode::from(2)
}
