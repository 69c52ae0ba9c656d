//! Realistic, deterministic demo data: people, ~40 actions over several
//! modules and modes, metadata that looks like what producers send, spread
//! over months. The same arguments always produce the same rows.

use chrono::{DateTime, TimeDelta, Utc};
use entity::activity;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use uuid::{Builder, Uuid};

use super::clock::now;
use super::{ActivityFeed, Caller, NewUser, Result, ServiceError};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedPlan {
    /// How many activities.
    pub activities: u64,
    /// How many people act in them.
    pub users: u64,
    /// How far back the activities reach, in days.
    pub days: u32,
    /// The random seed: the same seed gives the same data.
    pub seed: u64,
}

/// (action, module, resource type, what its metadata looks like)
const ACTIONS: &[(&str, &str, &str, Shape)] = &[
    ("post.created", "posts", "post", Shape::Title),
    ("post.updated", "posts", "post", Shape::TitleDiff),
    ("post.deleted", "posts", "post", Shape::Reason),
    ("post.published", "posts", "post", Shape::Title),
    ("post.liked", "posts", "post", Shape::Empty),
    ("post.shared", "posts", "post", Shape::Channel),
    ("post.comment.added", "posts", "post", Shape::Comment),
    ("comment.created", "comments", "comment", Shape::Comment),
    ("comment.updated", "comments", "comment", Shape::BodyDiff),
    ("comment.deleted", "comments", "comment", Shape::Reason),
    ("comment.liked", "comments", "comment", Shape::Empty),
    ("comment.reported", "comments", "comment", Shape::Reason),
    ("user.registered", "users", "user", Shape::Signup),
    ("user.logged_in", "auth", "user", Shape::Login),
    ("user.logged_out", "auth", "user", Shape::Empty),
    ("user.updated", "users", "user", Shape::NameDiff),
    ("user.followed", "social", "user", Shape::Empty),
    ("user.unfollowed", "social", "user", Shape::Empty),
    ("user.deleted", "users", "user", Shape::Reason),
    ("password.changed", "auth", "user", Shape::Empty),
    ("password.reset_requested", "auth", "user", Shape::Login),
    ("email.changed", "users", "user", Shape::EmailDiff),
    ("profile.updated", "users", "user", Shape::NameDiff),
    ("avatar.changed", "users", "user", Shape::Empty),
    ("role.assigned", "admin", "user", Shape::Role),
    ("role.revoked", "admin", "user", Shape::Role),
    ("team.created", "teams", "team", Shape::Title),
    ("team.member.added", "teams", "team", Shape::Role),
    ("team.member.removed", "teams", "team", Shape::Role),
    ("team.updated", "teams", "team", Shape::TitleDiff),
    ("invoice.created", "billing", "invoice", Shape::Amount),
    ("invoice.paid", "billing", "invoice", Shape::Amount),
    ("payment.failed", "billing", "invoice", Shape::Amount),
    (
        "subscription.changed",
        "billing",
        "subscription",
        Shape::PlanDiff,
    ),
    (
        "subscription.cancelled",
        "billing",
        "subscription",
        Shape::Reason,
    ),
    ("file.uploaded", "files", "file", Shape::File),
    ("file.deleted", "files", "file", Shape::File),
    ("export.created", "reports", "report", Shape::Title),
    ("settings.changed", "admin", "settings", Shape::Setting),
    ("api_key.created", "admin", "api_key", Shape::Title),
];

/// The kinds of metadata the demo actions carry.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Empty,
    Title,
    TitleDiff,
    BodyDiff,
    NameDiff,
    EmailDiff,
    PlanDiff,
    Reason,
    Channel,
    Comment,
    Signup,
    Login,
    Role,
    Amount,
    File,
    Setting,
}

const MODES: &[(&str, u32)] = &[("manual", 70), ("auto", 20), ("cron", 6), ("script", 4)];
const FIRST: &[&str] = &[
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Katherine",
    "John",
    "Hedy",
    "Donald",
    "Sophie",
    "Niklaus",
    "Karen",
    "Guido",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Johnson",
    "McCarthy",
    "Lamarr",
    "Knuth",
    "Wilson",
    "Wirth",
    "Sparck Jones",
    "van Rossum",
];
const WORDS: &[&str] = &[
    "release",
    "notes",
    "roadmap",
    "weekly",
    "update",
    "design",
    "review",
    "launch",
    "draft",
    "budget",
    "hiring",
    "retro",
    "incident",
    "postmortem",
    "plan",
    "ideas",
    "summary",
    "guide",
];
const ROLES: &[&str] = &["viewer", "editor", "moderator", "admin", "billing"];
const PLANS: &[&str] = &["free", "starter", "team", "business", "enterprise"];

/// A uuid whose bits all come from `rng`, so seeded data is reproducible.
fn random_uuid(rng: &mut ChaCha8Rng) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    Builder::from_random_bytes(bytes).into_uuid()
}

/// A UUIDv7 for `at` whose random bits come from `rng`.
fn time_uuid(rng: &mut ChaCha8Rng, at: DateTime<Utc>) -> Uuid {
    let mut bytes = [0u8; 10];
    rng.fill_bytes(&mut bytes);
    Builder::from_unix_timestamp_millis(at.timestamp_millis() as u64, &bytes).into_uuid()
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn title(rng: &mut ChaCha8Rng) -> String {
    format!("{} {}", pick(rng, WORDS), pick(rng, WORDS))
}

fn metadata(rng: &mut ChaCha8Rng, shape: Shape) -> Value {
    match shape {
        Shape::Empty => json!({}),
        Shape::Title => json!({ "title": title(rng) }),
        Shape::TitleDiff => json!({ "title_from": title(rng), "title_to": title(rng) }),
        Shape::BodyDiff => json!({ "body": { "from": title(rng), "to": title(rng) } }),
        Shape::NameDiff => json!({
            "first_name_from": pick(rng, FIRST), "first_name_to": pick(rng, FIRST),
            "actor_role": "user",
        }),
        Shape::EmailDiff => json!({
            "email_from": format!("{}@old.example.com", pick(rng, WORDS)),
            "email_to": format!("{}@example.com", pick(rng, WORDS)),
        }),
        Shape::PlanDiff => json!({ "plan": { "from": pick(rng, PLANS), "to": pick(rng, PLANS) } }),
        Shape::Reason => {
            json!({ "reason": pick(rng, &["spam", "duplicate", "requested", "policy"]) })
        }
        Shape::Channel => json!({ "channel": pick(rng, &["email", "link", "twitter", "slack"]) }),
        Shape::Comment => json!({ "excerpt": title(rng), "length": rng.random_range(5..400) }),
        Shape::Signup => json!({ "source": pick(rng, &["web", "ios", "android", "invite"]) }),
        Shape::Login => json!({
            "ip": format!("198.51.100.{}", rng.random_range(1..255)),
            "user_agent": pick(rng, &["Firefox", "Chrome", "Safari", "curl"]),
        }),
        Shape::Role => json!({ "role": pick(rng, ROLES) }),
        Shape::Amount => json!({
            "amount_cents": rng.random_range(500..50_000), "currency": pick(rng, &["EUR", "USD", "GBP"]),
        }),
        Shape::File => json!({
            "name": format!("{}.pdf", pick(rng, WORDS)), "bytes": rng.random_range(1_000..5_000_000),
        }),
        Shape::Setting => json!({
            "setting": pick(rng, &["theme", "locale", "2fa", "digest"]),
            "from": pick(rng, &["on", "off"]), "to": pick(rng, &["on", "off"]),
        }),
    }
}

fn mode(rng: &mut ChaCha8Rng) -> &'static str {
    let mut roll = rng.random_range(0..100);
    for (mode, weight) in MODES {
        if roll < *weight {
            return mode;
        }
        roll -= weight;
    }
    "manual"
}

/// Rows written per transaction while seeding.
const SEED_CHUNK: u64 = 10_000;

impl ActivityFeed {
    /// Writes the demo data of `plan`, calling `progress` with the number of
    /// activities written so far after each chunk. Seeded rows are history:
    /// they are not published to live subscribers.
    pub async fn seed(&self, plan: SeedPlan, progress: impl Fn(u64)) -> Result<()> {
        if plan.users < 1 || plan.days < 1 {
            return Err(ServiceError::invalid(
                "users",
                "users and days must be at least 1",
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        let users: Vec<NewUser> = (0..plan.users)
            .map(|i| {
                let first = *pick(&mut rng, FIRST);
                let last = *pick(&mut rng, LAST);
                NewUser {
                    uuid: random_uuid(&mut rng),
                    email: Some(format!(
                        "{}.{}{i}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase().replace(' ', "")
                    )),
                    first_name: Some(first.into()),
                    last_name: Some(last.into()),
                }
            })
            .collect();
        for chunk in users.chunks(self.limits.max_batch_size.max(1)) {
            self.upsert_users(&Caller::SYSTEM, chunk.to_vec()).await?;
        }

        // Walk forward in time from `days` ago so the rows come out in order.
        let end = now();
        let span = TimeDelta::days(plan.days.into());
        let step = span.num_microseconds().unwrap_or(i64::MAX) / plan.activities.max(1) as i64;
        let mut at = end - span;
        let mut written = 0;
        while written < plan.activities {
            let n = SEED_CHUNK.min(plan.activities - written);
            let rows = (0..n)
                .map(|_| {
                    at += TimeDelta::microseconds(rng.random_range(0..=step.max(1) * 2));
                    at = at.min(end);
                    let (action, module, resource_type, shape) = *pick(&mut rng, ACTIONS);
                    let actor = pick(&mut rng, &users).uuid;
                    let other = pick(&mut rng, &users).uuid;
                    let about_user = resource_type == "user";
                    activity::Model {
                        uuid: time_uuid(&mut rng, at),
                        action: action.into(),
                        module: Some(module.into()),
                        mode: Some(mode(&mut rng).into()),
                        actor_uuid: Some(actor),
                        resource_type: Some(resource_type.into()),
                        resource_uuid: Some(if about_user {
                            other
                        } else {
                            random_uuid(&mut rng)
                        }),
                        target_uuid: (about_user || rng.random_bool(0.3)).then_some(other),
                        metadata: metadata(&mut rng, shape),
                        inserted_at: at,
                        idempotency_key: None,
                        correlation_id: None,
                        client_ip: None,
                        user_agent: None,
                        txid: 0,
                        seq: 0,
                        idempotency_scope: None,
                    }
                })
                .collect();
            self.insert_history(rows).await?;
            written += n;
            progress(written);
        }
        Ok(())
    }
}
