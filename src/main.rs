use std::process::ExitCode;

use activity_feed::auth::{self, Claims, SigningKey};
use activity_feed::config::{Cli, Command, ServeConfig, TokenConfig};
use activity_feed::db::StatementCounter;
use activity_feed::service::seal::{SignedHead, Verification};
use activity_feed::service::{Caller, Limits, Position, ResumeCursor, Role, SeedPlan};
use activity_feed::startup::{self, open_feed, Application};
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
        Command::PublicKey(signing) => match startup::signer(&signing)? {
            Some(signer) => print!("{}", signer.public_key().to_pem()),
            None => return Err("set SIGNING_KEY_FILE (or --signing-key-file)".into()),
        },
        Command::Verify(verify) => {
            let mut feed = open_feed(&cli.database, Limits::default(), &counter).await?;
            if let Some(signer) = startup::signer(&verify.signing)? {
                feed = feed.with_signer(signer);
            }
            let head = verify.head.as_deref().map(parse_head).transpose()?;
            let from = verify
                .from
                .as_deref()
                .map(|f| parse_position("--from", f))
                .transpose()?;
            let to = verify
                .to
                .as_deref()
                .map(|t| parse_position("--to", t))
                .transpose()?;
            let progress = Progress::new(None, "verified");
            let report = feed
                .verify_reporting(&Caller::SYSTEM, from, to, head.as_ref(), |n| progress.at(n))
                .await?;
            progress.finish();
            println!("{}", serde_json::to_string_pretty(&report_json(&report))?);
            if !report.valid {
                return Err(report
                    .failure
                    .map_or("the log does not verify".into(), |f| f.message)
                    .into());
            }
        }
        Command::Forget { uuid, reason } => {
            let feed = open_feed(&cli.database, Limits::default(), &counter).await?;
            let progress = Progress::new(None, "activities looked at");
            let forgotten = feed
                .forget_reporting(&Caller::SYSTEM, uuid, &reason, |done, total| {
                    progress.of(done, total)
                })
                .await?;
            progress.finish();
            match forgotten.pseudonym {
                Some(pseudonym) => println!(
                    "forgotten: {} activities rewritten; the person is now {pseudonym}",
                    forgotten.rewritten
                ),
                None => println!("nothing is held about {uuid}; nothing was written"),
            }
        }
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

/// A signed head from the JSON `logHead` gave.
fn parse_head(text: &str) -> Result<SignedHead, Box<dyn std::error::Error>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("--head is not JSON: {e}"))?;
    let field = |name: &str| {
        value[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("--head has no string \"{name}\""))
    };
    Ok(SignedHead {
        position: parse_position("--head position", &field("position")?)?,
        hash: field("hash")?,
        signed_at: field("signedAt")?,
        signature: field("signature")?,
    })
}

/// A position from its cursor.
fn parse_position(what: &str, cursor: &str) -> Result<Position, Box<dyn std::error::Error>> {
    match ResumeCursor::decode(cursor) {
        Some(ResumeCursor::Position(p)) => Ok(p),
        _ => Err(format!("{what}: {cursor:?} is not a position cursor").into()),
    }
}

/// A verification report as `verify` prints it: the fields `verifyLog` has.
fn report_json(v: &Verification) -> serde_json::Value {
    serde_json::json!({
        "valid": v.valid,
        "checked": v.checked,
        "start": v.start.encode(),
        "lastVerified": v.last_verified.encode(),
        "unsealed": v.unsealed,
        "pruned": v.pruned,
        "erasedCount": v.erased_total,
        "erased": v.erased.iter().map(|e| serde_json::json!({
            "position": e.position.encode(),
            "activityUuid": e.activity,
            "field": e.field,
        })).collect::<Vec<_>>(),
        "headChecked": v.head_checked,
        "failure": v.failure.as_ref().map(|f| serde_json::json!({
            "position": f.position.encode(),
            "reason": f.reason.as_str(),
            "field": f.field,
            "message": f.message,
        })),
    })
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

    /// Progress of `done` out of `total`, which may grow as it is learnt.
    fn of(&self, done: u64, total: u64) {
        match &self.bar {
            Some(bar) => {
                if bar.length() != Some(total) {
                    bar.set_length(total);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{bar:40} {pos}/{len} {msg} ({per_sec}, {eta} left)",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                }
                bar.set_position(done);
            }
            None => tracing::info!(done, total, "{}", self.what),
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish();
        }
    }
}
