use std::process::ExitCode;

use activity_feed::auth::{self, Claims, SigningKey};
use activity_feed::config::{Cli, Command, ServeConfig, TokenConfig};
use activity_feed::db::StatementCounter;
use activity_feed::service::{Caller, Limits, Role, SeedPlan};
use activity_feed::startup::{open_feed, Application};
use activity_feed::{graphql, telemetry};
use std::io::IsTerminal;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

// A GraphQL response is thousands of small short-lived allocations (values,
// strings, futures); glibc's malloc took a quarter of the server's CPU on a
// page of 50 activities (BENCHMARKS.md), mimalloc serves them from per-thread
// free lists. The `system-allocator` feature leaves it out, for heap
// profilers that see only malloc (heaptrack; BENCHMARKS.md).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            let progress = Progress::new(None, "deleted");
            let result = feed
                .prune_reporting(&Caller::SYSTEM, days, |n| progress.at(n))
                .await?;
            progress.finish();
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
            let progress = Progress::new(Some(plan.activities), "written");
            feed.seed(plan, |written| progress.at(written)).await?;
            progress.finish();
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
        (None, Some(secret)) => {
            // A token signed with a secret the server refuses would be useless.
            auth::check_secret(secret)?;
            SigningKey::Secret(secret)
        }
        (None, None) => return Err("set JWT_SECRET (or --secret), or --private-key-file".into()),
    };
    Ok(auth::mint(&claims, key)?)
}

/// Progress of a long command: a bar on a terminal, a log line per step otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
}

impl Progress {
    fn new(total: Option<u64>, what: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(n) => ProgressBar::new(n).with_style(
                    ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} {msg} ({per_sec}, {eta} left)",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                ),
                None => ProgressBar::new_spinner(),
            };
            bar.set_message(what);
            bar
        });
        Self { bar, what }
    }

    fn at(&self, done: u64) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                if bar.length().is_none() {
                    bar.set_message(format!("{done} {}", self.what));
                }
            }
            None => tracing::info!(done, "{}", self.what),
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish();
        }
    }
}
