//! Configuration: one struct per concern, read from flags and environment variables.
//! One unit because clap flattens these structs into one command line, and
//! each struct's `Default` is that command line's defaults.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::service::Limits;

/// The settings of `T` as its flags' attributes default them, with the
/// environment ignored: those attributes are the one source of every
/// default, and a `Default` value must not change with the environment.
fn defaults<T: Args + FromArgMatches>() -> T {
    let command =
        T::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None::<&str>));
    // Every setting is optional or has a default; the test below parses each.
    let matches = command
        .try_get_matches_from(["defaults"])
        .expect("every setting has a default");
    T::from_arg_matches(&matches).expect("the defaults parse")
}

/// The embedded default: an SQLite file in the working directory, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://activity-feed.db?mode=rwc";

/// activity-feed: a GraphQL API server for an activity feed.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Where the activities are stored.
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// How logs are written.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// The commands of the binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) and exit.
    Schema,
    /// Delete activities older than N days and exit.
    Prune {
        /// Age in days beyond which activities are deleted.
        #[arg(long)]
        days: i64,
    },
    /// Fill the database with realistic demo data.
    Seed(SeedConfig),
    /// Mint a bearer token for development and scripts, and print it.
    Token(TokenConfig),
    /// Recompute the log's hash chain and report the first position that
    /// fails and why, as JSON; exits with status 1 when the log fails.
    Verify(VerifyConfig),
    /// Erase a person: pseudonymise their uuid, clear their request
    /// context, replace their emails and names in metadata.
    Forget {
        /// The person's uuid.
        uuid: uuid::Uuid,
        /// Why, stored in the `person.forgotten` entry (no personal data).
        #[arg(long)]
        reason: String,
    },
    /// Print the public key that checks signed heads (PEM), from SIGNING_KEY_FILE.
    PublicKey(SigningConfig),
}

/// What `verify` checks.
#[derive(Debug, Clone, Args)]
pub struct VerifyConfig {
    /// A signed head kept earlier, as the JSON `logHead` gave
    /// (`{"position": …, "hash": …, "signedAt": …, "signature": …}`); the
    /// chain must reach it with its hash.
    #[arg(long)]
    pub head: Option<String>,
    /// The first position to check (a cursor); the oldest kept row when omitted.
    #[arg(long)]
    pub from: Option<String>,
    /// The last position to check (a cursor); the newest seal when omitted.
    #[arg(long)]
    pub to: Option<String>,
    /// The key whose public half checks the head.
    #[command(flatten)]
    pub signing: SigningConfig,
}

/// The key log heads are signed with.
#[derive(Debug, Clone, Default, Args)]
pub struct SigningConfig {
    /// PKCS#8 PEM file holding the Ed25519 private key that signs log heads
    /// (`openssl genpkey -algorithm ed25519 -out signing-key.pem`); heads are
    /// unsigned without it.
    #[arg(long, env = "SIGNING_KEY_FILE")]
    pub signing_key_file: Option<std::path::PathBuf>,
}

/// What `token` signs.
#[derive(Debug, Clone, Args)]
pub struct TokenConfig {
    /// The role: admin, service or user.
    #[arg(long)]
    pub role: String,
    /// The caller's uuid (the `sub` claim).
    #[arg(long)]
    pub sub: uuid::Uuid,
    /// How long the token is valid, e.g. "1h", "30d".
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub ttl: Duration,
    /// HS256 secret to sign with.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// PEM file with an RSA private key to sign with (RS256) instead.
    #[arg(long)]
    pub private_key_file: Option<std::path::PathBuf>,
}

/// How live events travel between writers and subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BusKind {
    /// PostgreSQL LISTEN/NOTIFY on PostgreSQL, in-process on SQLite.
    Auto,
    /// In-process: subscribers see only what this process logged.
    Memory,
    /// PostgreSQL LISTEN/NOTIFY: every instance sees every commit.
    Postgres,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The database connection.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub url: String,
    /// PostgreSQL schema to use (search_path); the database's default when unset.
    #[arg(long = "database-schema", env = "DATABASE_SCHEMA", global = true)]
    pub schema: Option<String>,
    /// Most connections in the pool.
    #[arg(
        long = "database-pool-size",
        env = "DATABASE_POOL_SIZE",
        default_value_t = 16,
        global = true
    )]
    pub pool_size: u32,
    /// Longest a statement may run before it is cancelled, e.g. "30s"; on
    /// SQLite a transaction counts as one, and a statement whose request has
    /// ended stops at once.
    #[arg(long = "statement-timeout", env = "STATEMENT_TIMEOUT", value_parser = humantime::parse_duration, default_value = "30s", global = true)]
    pub statement_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        defaults()
    }
}

/// The HTTP server and its background jobs.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// Days activities are kept; the retention job deletes older ones.
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 90)]
    pub retention_days: u32,
    /// How often the retention job runs, e.g. "1d", "6h"; "0s" turns it off.
    #[arg(long, env = "RETENTION_INTERVAL", value_parser = humantime::parse_duration, default_value = "1d")]
    pub retention_interval: Duration,
    /// How often the rollups that answer counts take in new rows, e.g. "1s";
    /// "0s" turns folding off (counts stay exact but scan more).
    #[arg(long, env = "ROLLUP_INTERVAL", value_parser = humantime::parse_duration, default_value = "1s")]
    pub rollup_interval: Duration,
    /// How many unread live events one subscriber may fall behind before it is
    /// dropped; never less than the batch size limit.
    #[arg(long, env = "SUBSCRIBER_BUFFER", default_value_t = 1024)]
    pub subscriber_buffer: usize,
    /// How live events travel: "postgres" (LISTEN/NOTIFY, so subscribers on
    /// every instance see what any instance logged), "memory" (this process
    /// only), or "auto": postgres on PostgreSQL, memory on SQLite.
    #[arg(long, env = "BUS", value_enum, default_value_t = BusKind::Auto)]
    pub bus: BusKind,
    /// Longest wait between the listener's reconnection attempts.
    #[arg(long, env = "LISTENER_MAX_RECONNECT_DELAY", value_parser = humantime::parse_duration, default_value = "5s")]
    pub listener_max_reconnect_delay: Duration,
    /// How long shutdown waits for requests and sockets to finish.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    pub shutdown_timeout: Duration,
    /// Who may call.
    #[command(flatten)]
    pub auth: AuthConfig,
    /// Bounds on what one request may ask for.
    #[command(flatten)]
    pub limits: LimitsConfig,
    /// Whether and how the caller's IP address and user agent are recorded.
    #[command(flatten)]
    pub context: ContextConfig,
    /// Which metadata keys are stored redacted.
    #[command(flatten)]
    pub redaction: RedactionConfig,
    /// How much each caller may ask for over time.
    #[command(flatten)]
    pub rate_limit: RateLimitConfig,
    /// Which documents may run.
    #[command(flatten)]
    pub trusted_documents: TrustedDocumentsConfig,
    /// The key log heads are signed with.
    #[command(flatten)]
    pub signing: SigningConfig,
    /// Whether this instance seals new activities into the hash chain. One
    /// sealer works at a time per database whatever this says; turn it off
    /// on instances that should leave the work to others.
    #[arg(long, env = "SEALER", default_value_t = true, action = clap::ArgAction::Set)]
    pub sealer: bool,
    /// How often the signed head is logged as a `log.checkpoint` activity,
    /// e.g. "1h"; "0s" turns checkpoints off. Needs SIGNING_KEY_FILE.
    #[arg(long, env = "CHECKPOINT_INTERVAL", value_parser = humantime::parse_duration, default_value = "1h")]
    pub checkpoint_interval: Duration,
}

/// Trusted documents: an allow-list of the operations that may run.
#[derive(Debug, Clone, Args)]
pub struct TrustedDocumentsConfig {
    /// A manifest of `{"<sha256>": "<document>"}` (GraphQL Codegen's client
    /// preset, Relay); when set, only its documents run.
    #[arg(long, env = "TRUSTED_DOCUMENTS")]
    pub trusted_documents: Option<std::path::PathBuf>,
    /// Whether admin tokens may run documents that are not in the manifest.
    #[arg(long, env = "TRUSTED_DOCUMENTS_ADMIN_ANY", default_value_t = false, action = clap::ArgAction::Set)]
    pub trusted_documents_admin_any: bool,
    /// Whether the served dashboard's own documents are trusted beside the manifest.
    #[arg(long, env = "TRUSTED_DOCUMENTS_DASHBOARD", default_value_t = true, action = clap::ArgAction::Set)]
    pub trusted_documents_dashboard: bool,
}

impl Default for TrustedDocumentsConfig {
    fn default() -> Self {
        defaults()
    }
}

/// Per-caller rate limits: a token bucket per token (role and subject), and
/// per client address for requests without a valid token, charged by each
/// operation's cost. Never applied in open development mode.
#[derive(Debug, Clone, Args)]
pub struct RateLimitConfig {
    /// Whether callers are rate-limited (never in open development mode).
    #[arg(long, env = "RATE_LIMIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub rate_limit: bool,
    /// Cost units each caller's bucket regains per second (a field costs 1,
    /// a 50-row page about 500, a count 1000).
    #[arg(long, env = "RATE_LIMIT_COST_PER_SECOND", default_value_t = 20_000)]
    pub rate_limit_cost_per_second: u32,
    /// Cost units a full bucket holds: the most one caller may spend at once.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 100_000)]
    pub rate_limit_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        defaults()
    }
}

/// Request context: the caller's IP address and user agent, stored with each
/// activity a request logs. Off by default: both identify people, so turning
/// it on makes the log hold personal data (see the README).
#[derive(Debug, Clone, Default, Args)]
pub struct ContextConfig {
    /// Record the caller's IP address and user agent with each logged activity.
    #[arg(long, env = "RECORD_REQUEST_CONTEXT", default_value_t = false, action = clap::ArgAction::Set)]
    pub record_request_context: bool,
    /// Proxies whose `X-Forwarded-For` is believed, comma-separated addresses
    /// or CIDR ranges ("10.0.0.0/8,::1"). When the peer is one of them, the
    /// client is the nearest address in the header that is not a trusted
    /// proxy; otherwise the peer is the client and the header is ignored.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpRange>,
}

/// An IP address, or a CIDR range of them.
///
/// IPv4-mapped IPv6 ranges (`::ffff:10.0.0.0/104`) are held as the IPv4
/// range they map (`10.0.0.0/8`), and addresses are compared in canonical
/// form, so a proxy is recognised however its address family is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange(ipnet::IpNet);

impl IpRange {
    /// Whether `ip` lies in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use ipnet::{IpNet, Ipv4Net};
        let s = s.trim();
        let net = match s.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => s
                .parse::<std::net::IpAddr>()
                .map(IpNet::from)
                .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?,
        };
        let net = match net {
            // Inside ::ffff:0:0/96 the last 32 bits are an IPv4 address.
            IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
                Some(v4) => IpNet::V4(
                    Ipv4Net::new(v4, v6.prefix_len() - 96).map_err(|e| format!("{s:?}: {e}"))?,
                ),
                None => net,
            },
            other => other,
        };
        Ok(Self(net.trunc()))
    }
}

/// A browser origin: `http` or `https`, a host, and a port when it is not
/// the scheme's default; held lower-cased, as browsers send it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

impl Origin {
    /// The origin as a header value would carry it ("https://app.example.com").
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host and port, as a `Host` header names them ("app.example.com:8443").
    pub fn authority(&self) -> &str {
        self.0
            .split_once("://")
            .map_or("", |(_, authority)| authority)
    }
}

impl std::str::FromStr for Origin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let origin = s.trim().to_ascii_lowercase();
        if origin == "*" {
            // tower-http panics on it in a list, and a wildcard would let any
            // site's pages call with the user's token and open websockets.
            return Err("\"*\" is not supported: list each origin that may call \
                        (\"https://app.example.com\")"
                .into());
        }
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let well_formed = authority.is_some_and(|a| {
            !a.is_empty()
                && a.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_')
                })
        });
        if !well_formed {
            return Err(format!(
                "{s:?} is not an origin: write scheme and host, with the port if it is \
                 not the default, and no path (\"https://app.example.com\")"
            ));
        }
        Ok(Self(origin))
    }
}

/// Redaction of sensitive metadata before it is stored or published.
#[derive(Debug, Clone, Args)]
pub struct RedactionConfig {
    /// Metadata keys whose values are stored as "[REDACTED]", at any depth,
    /// comma-separated; their `_from`/`_to` diff keys too. Keys match after
    /// normalizing (NFKC, trimmed, camelCase and kebab-case as snake_case,
    /// lower-cased). Empty turns redaction off; unset keeps the service's
    /// own list of sensitive keys (passwords, tokens, keys, cards, …).
    #[arg(long, env = "REDACT_KEYS", value_delimiter = ',')]
    pub redact_keys: Option<Vec<String>>,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        defaults()
    }
}

/// Token verification. With neither key set the server runs in open
/// development mode, which it allows only on a loopback address.
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// Shared secret for HS256 bearer tokens.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM file with the RSA public key for RS256 bearer tokens.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<std::path::PathBuf>,
    /// The identity provider's key set URL (`jwks_uri`); keys are chosen by
    /// the token's `kid` and fetched again when a token names a new one.
    #[arg(long, env = "JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<reqwest::Url>,
    /// A key set (JWKS) file, read again as the URL would be fetched.
    #[arg(long, env = "JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<std::path::PathBuf>,
    /// Fewest time between two key set loads caused by a token with an unknown `kid`.
    #[arg(long, env = "JWT_JWKS_REFETCH_INTERVAL", value_parser = humantime::parse_duration, default_value = "30s")]
    pub jwt_jwks_refetch_interval: Duration,
    /// How old the loaded key set may grow before it is loaded again, so removed keys stop working.
    #[arg(long, env = "JWT_JWKS_MAX_AGE", value_parser = humantime::parse_duration, default_value = "10m")]
    pub jwt_jwks_max_age: Duration,
    /// Accepted token issuers (`iss`), comma-separated; any when empty.
    #[arg(long, env = "JWT_ISSUER", value_delimiter = ',')]
    pub jwt_issuer: Vec<String>,
    /// This server's audience names (`aud`), comma-separated; when empty,
    /// tokens that carry an `aud` claim are refused.
    #[arg(long, env = "JWT_AUDIENCE", value_delimiter = ',')]
    pub jwt_audience: Vec<String>,
    /// Claim path of the role: a name or a list of names, dotted for nested claims ("realm_access.roles").
    #[arg(long, env = "JWT_ROLE_CLAIM", default_value = "role")]
    pub jwt_role_claim: crate::auth::ClaimPath,
    /// Claim path of the subject, the caller's uuid.
    #[arg(long, env = "JWT_SUBJECT_CLAIM", default_value = "sub")]
    pub jwt_subject_claim: crate::auth::ClaimPath,
    /// Provider role names and the roles they grant, comma-separated
    /// ("feed-admins=admin,writers=service"); when set, only these names count.
    #[arg(long, env = "JWT_ROLE_MAP", value_delimiter = ',')]
    pub jwt_role_map: Vec<crate::auth::RoleMapping>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        defaults()
    }
}

/// Limits on hostile or mistaken input; each has a default that suits a
/// public deployment.
#[derive(Debug, Clone, Args)]
pub struct LimitsConfig {
    /// Most rows in one page (`perPage`, `first`, `last`, `limit`).
    #[arg(long, env = "MAX_PAGE_SIZE", default_value_t = Limits::DEFAULT.max_page_size)]
    pub max_page_size: u64,
    /// Most entries in one `logBatch` or `upsertUsers`.
    #[arg(long, env = "MAX_BATCH_SIZE", default_value_t = Limits::DEFAULT.max_batch_size)]
    pub max_batch_size: usize,
    /// Most bytes of one activity's metadata, as JSON.
    #[arg(long, env = "MAX_METADATA_BYTES", default_value_t = Limits::DEFAULT.max_metadata_bytes)]
    pub max_metadata_bytes: usize,
    /// Most bytes in one request body.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Deepest nesting of selections in one query.
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 12)]
    pub max_depth: usize,
    /// Highest query complexity: each field costs 1, list fields cost their page size times their entries,
    /// fields that count or scan cost 1000.
    #[arg(long, env = "MAX_QUERY_COMPLEXITY", default_value_t = 20_000)]
    pub max_complexity: usize,
    /// Most bytes of one GraphQL document, refused before it is parsed.
    #[arg(long, env = "MAX_QUERY_BYTES", default_value_t = 64 * 1024)]
    pub max_query_bytes: usize,
    /// Most tokens (names, punctuation, values) of one GraphQL document, refused before it is parsed.
    #[arg(long, env = "MAX_QUERY_TOKENS", default_value_t = 10_000)]
    pub max_query_tokens: usize,
    /// Most fields at the top of one operation, fragments included.
    #[arg(long, env = "MAX_ROOT_FIELDS", default_value_t = 32)]
    pub max_root_fields: usize,
    /// Most aliased fields in one document.
    #[arg(long, env = "MAX_ALIASES", default_value_t = 64)]
    pub max_aliases: usize,
    /// Most words in a `metadataText` search.
    #[arg(long, env = "MAX_SEARCH_WORDS", default_value_t = Limits::DEFAULT.max_search_words)]
    pub max_search_words: usize,
    /// Longest one HTTP request may take.
    #[arg(long, env = "REQUEST_TIMEOUT", value_parser = humantime::parse_duration, default_value = "30s")]
    pub request_timeout: Duration,
    /// Whether the schema may be introspected; turn off in production if clients do not need it.
    #[arg(long, env = "INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Whether a browser GET on /graphql gets GraphiQL.
    #[arg(long, env = "GRAPHIQL", default_value_t = true, action = clap::ArgAction::Set)]
    pub graphiql: bool,
    /// Most operations in one batched (JSON array) request; 0 refuses batches.
    #[arg(long, env = "MAX_BATCHED_OPERATIONS", default_value_t = 0)]
    pub max_batched_operations: usize,
    /// Browser origins allowed to call the API (CORS) and to open websockets
    /// from their pages, comma-separated ("https://app.example.com"); none
    /// when empty. "*" is refused: credentials must not go to any site.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<Origin>,
    /// Whether Apollo's automatic persisted queries are accepted.
    #[arg(long, env = "PERSISTED_QUERIES", default_value_t = true, action = clap::ArgAction::Set)]
    pub persisted_queries: bool,
    /// Most bytes of persisted query documents kept, least recently used out.
    #[arg(long, env = "PERSISTED_QUERIES_CACHE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub persisted_queries_cache_bytes: usize,
    /// How long a websocket may wait before sending `connection_init`.
    #[arg(long, env = "WS_INIT_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    pub ws_init_timeout: Duration,
    /// Most websockets open at once; further upgrades get 503.
    #[arg(long, env = "MAX_WEBSOCKETS", default_value_t = 20_000)]
    pub max_websockets: usize,
    /// Most subscriptions one websocket may run at once; further ones are refused.
    #[arg(long, env = "MAX_SUBSCRIPTIONS_PER_SOCKET", default_value_t = 100)]
    pub max_subscriptions_per_socket: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        defaults()
    }
}

impl From<&LimitsConfig> for Limits {
    fn from(config: &LimitsConfig) -> Self {
        Self {
            max_page_size: config.max_page_size,
            max_batch_size: config.max_batch_size,
            max_metadata_bytes: config.max_metadata_bytes,
            max_search_words: config.max_search_words,
        }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        defaults()
    }
}

impl ServeConfig {
    /// The serve settings from environment variables and defaults alone, for
    /// when the binary is started without a command.
    pub fn from_env() -> Self {
        #[derive(Parser)]
        struct EnvOnly {
            #[command(flatten)]
            serve: ServeConfig,
        }
        EnvOnly::parse_from(["activity-feed"]).serve
    }
}

/// What `seed` generates.
#[derive(Debug, Clone, Args)]
pub struct SeedConfig {
    /// How many activities.
    #[arg(long, default_value_t = 10_000)]
    pub count: u64,
    /// How many people act in them.
    #[arg(long, default_value_t = 100)]
    pub users: u64,
    /// How many days back they reach; keep it within the retention, or the
    /// retention job deletes the oldest part when the server starts.
    #[arg(long, default_value_t = 60)]
    pub days: u32,
    /// Random seed: the same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_flags_defaults_and_the_services_limits() {
        let serve = ServeConfig::default();
        assert_eq!(Limits::from(&serve.limits), Limits::DEFAULT);
        assert_eq!(serve.limits.max_depth, 12);
        assert_eq!(serve.limits.request_timeout, Duration::from_secs(30));
        assert_eq!(serve.retention_days, 90);
        assert_eq!(serve.retention_interval, Duration::from_secs(24 * 60 * 60));
        assert_eq!(serve.bind, SocketAddr::from(([127, 0, 0, 1], 8000)));
        assert_eq!(serve.auth.jwt_jwks_max_age, Duration::from_secs(600));
        assert!(serve.rate_limit.rate_limit && serve.trusted_documents.trusted_documents_dashboard);
        assert_eq!(serve.redaction.redact_keys, None);
        let database = DatabaseConfig::default();
        assert_eq!(database.url, DEFAULT_DATABASE_URL);
        assert_eq!(database.pool_size, 16);
    }

    #[test]
    fn an_empty_key_list_is_given_not_left_to_the_default() {
        let command = RedactionConfig::augment_args(clap::Command::new("t"));
        let matches = command
            .try_get_matches_from(["t", "--redact-keys", ""])
            .unwrap();
        let config = RedactionConfig::from_arg_matches(&matches).unwrap();
        assert_eq!(config.redact_keys, Some(vec![String::new()]));
    }
}
