use std::process::ExitCode;

use activity_feed::auth::{self, Claims, SigningKey};
use activity_feed::config::{Cli, Command, ServeConfig, TokenConfig};
use activity_feed::db::StatementCounter;
use activity_feed::service::{Caller, Limits, Role, SeedPlan};
use activity_feed::startup::{open_feed, Application};
use activity_feed::{graphql, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(Box::new(ServeConfig::from_env())));
    let counter = StatementCounter::default();
    match command {
        Command::Serve(config) => {
            let app = Application::build(&cli.database, *config).await?;
            let token = app.shutdown_token();
            tokio::spawn(async move {
                activity_feed::startup::shutdown_signal().await;
                tracing::info!("shutting down");
                token.cancel();
            });
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            open_feed(&cli.database, Limits::default(), &counter).await?;
            tracing::info!("migrations applied");
        }
        Command::Schema => print!("{}", graphql::sdl()),
        Command::Prune { days } => {
            let feed = open_feed(&cli.database, Limits::default(), &counter).await?;
            let result = feed.prune(&Caller::SYSTEM, days).await?;
            tracing::info!(deleted = result.deleted, cutoff = %result.cutoff, "pruned");
        }
        Command::Token(token) => println!("{}", mint_token(&token)?),
        Command::Seed(seed) => {
            let feed = open_feed(&cli.database, Limits::default(), &counter).await?;
            let plan = SeedPlan {
                activities: seed.count,
                users: seed.users,
                days: seed.days,
                seed: seed.seed,
            };
            feed.seed(plan, |written| {
                if written % 100_000 == 0 || written == plan.activities {
                    tracing::info!(written, of = plan.activities, "seeding");
                }
            })
            .await?;
        }
    }
    Ok(())
}

/// Signs the token `token` describes with the secret or private key it names.
fn mint_token(token: &TokenConfig) -> Result<String, Box<dyn std::error::Error>> {
    if Role::parse(&token.role).is_none() {
        return Err(format!("unknown role {:?}: use admin, service or user", token.role).into());
    }
    let ttl = chrono::Duration::from_std(token.ttl)?;
    let claims = Claims {
        sub: token.sub.to_string(),
        role: token.role.clone(),
        exp: (chrono::Utc::now() + ttl).timestamp(),
    };
    let pem;
    let key = match (&token.private_key_file, &token.secret) {
        (Some(path), _) => {
            pem = std::fs::read(path)?;
            SigningKey::RsaPem(&pem)
        }
        (None, Some(secret)) => SigningKey::Secret(secret),
        (None, None) => return Err("set JWT_SECRET (or --secret), or --private-key-file".into()),
    };
    Ok(auth::mint(&claims, key)?)
}
