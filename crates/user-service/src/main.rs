//! `user-service` binary: a thin CLI over the library.

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use user_service::{Application, Config};

/// The platform's identity service.
#[derive(Parser)]
#[command(name = "user-service", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create an admin account (or grant admin to an existing one).
    CreateAdmin {
        /// The admin's email.
        #[arg(long)]
        email: String,
        /// Read the password from standard input instead of ADMIN_PASSWORD.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Signing-key operations.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Service clients (OAuth 2.0 client credentials).
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// Configuration operations.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Publish a new signing key; it signs after KEY_PUBLISH_DELAY_SECS.
    Rotate,
    /// Start a new master-key version for encrypted data; old versions still decrypt.
    RotateMaster,
}

#[derive(Subcommand)]
enum ClientsAction {
    /// Register a client; prints its id and secret (shown once).
    Create {
        /// A name for the client, e.g. `ticker`.
        #[arg(long)]
        name: String,
        /// Scopes the client may request, comma separated.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the effective configuration (secrets redacted) and what production would refuse.
    Check,
}

fn out(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    user_service::init_tracing(&config);
    match run(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Serve => Application::build(config).await?.run_until_stopped().await?,
        Command::Migrate => {
            let report = user_service::migrate(&config).await?;
            out("migrations applied");
            if report.colliding_emails > 0 {
                out(&format!(
                    "warning: {} accounts have emails that collide with another account's (look-alike \
                     spellings); they were not merged and log in by their exact address only",
                    report.colliding_emails
                ));
            }
        }
        Command::CreateAdmin { email, password_stdin } => {
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                std::env::var("ADMIN_PASSWORD").map_err(|_| "set ADMIN_PASSWORD or pass --password-stdin")?
            };
            out(&user_service::create_admin(config, &email, &password).await?);
        }
        Command::Keys { action: KeysAction::Rotate } => {
            out(&format!("published signing key {}", user_service::rotate_keys(config).await?));
        }
        Command::Keys { action: KeysAction::RotateMaster } => {
            out(&user_service::rotate_master_key(config).await?)
        }
        Command::Clients { action: ClientsAction::Create { name, scopes } } => {
            let (id, secret) = user_service::create_client(config, &name, &scopes).await?;
            out(&format!("client_id: {id}\nclient_secret: {secret}\n(the secret is shown only once)"));
        }
        Command::Config { action: ConfigAction::Check } => {
            out(&config.redacted_summary());
            let problems = config.production_problems();
            if problems.is_empty() {
                out("\nproduction would accept this configuration");
            } else {
                out("\nproduction would refuse to start:");
                for p in problems {
                    out(&format!("  - {p}"));
                }
            }
            config.validate()?;
        }
    }
    Ok(())
}
