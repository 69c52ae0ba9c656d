//! Builds the server from configuration and runs it until it is told to stop.
//!
//! It is one unit because start-up is one ordered sequence (database, live
//! delivery, background jobs, schema, listener) whose parts share the same
//! shutdown token and task tracker.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use sea_orm::DbErr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Authenticator, ClaimRules, Jwks, JwksSource, TokenRules};
use crate::bus::postgres::ListenerConfig;
use crate::bus::{LocalBus, PgBus};
use crate::config::{AuthConfig, BusKind, DatabaseConfig, ServeConfig, SigningConfig};
use crate::db::{self, StatementCounter};
use crate::graphql::live::Fanout;
use crate::graphql::trusted::{self, ManifestError, Manifests, TrustedDocuments};
use crate::graphql::{self, SchemaConfig};
use crate::http::delivery::DeliveryRuntime;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimits;
use crate::retention::{self, RetentionLock};
use crate::service::rollup;
use crate::service::seal::HeadSigner;
use crate::service::{ActivityFeed, Bus, Limits, Live, Redactor};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The authentication settings are unusable or unsafe.
    #[error("{0}")]
    Auth(String),
    /// Another setting is unusable.
    #[error("{0}")]
    Config(String),
    /// The signing key cannot be read.
    #[error("{0}")]
    Signing(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// Opens the database, applies migrations and builds the service on it
/// without live delivery: for commands that run once and serve no subscribers.
pub async fn open_feed(
    database: &DatabaseConfig,
    limits: Limits,
    statements: &StatementCounter,
) -> Result<ActivityFeed, DbErr> {
    let db = db::connect(database, statements).await?;
    db::migrate(&db, database).await?;
    Ok(ActivityFeed::new(
        db,
        Arc::new(LocalBus),
        Live::new(1),
        limits,
    ))
}

/// Events a subscriber may fall behind by. A batch is published in one
/// burst: a buffer smaller than the largest batch would make every
/// subscriber lag, however fast it reads.
fn subscriber_capacity(config: &ServeConfig) -> usize {
    config.subscriber_buffer.max(config.limits.max_batch_size)
}

/// The bus the configuration asks for: LISTEN/NOTIFY on PostgreSQL unless
/// told otherwise, none beyond the process on SQLite.
async fn open_bus(
    database: &DatabaseConfig,
    config: &ServeConfig,
    live: &Live,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<Arc<dyn Bus>, DbErr> {
    let postgres = database.url.starts_with("postgres");
    let kind = match config.bus {
        BusKind::Auto if postgres => BusKind::Postgres,
        BusKind::Auto => BusKind::Memory,
        other => other,
    };
    Ok(match kind {
        BusKind::Postgres if !postgres => {
            return Err(DbErr::Custom(
                "the postgres bus needs a PostgreSQL DATABASE_URL".into(),
            ))
        }
        BusKind::Postgres => {
            let listener = ListenerConfig {
                url: database.url.clone(),
                schema: database.schema.clone(),
                max_reconnect_delay: config.listener_max_reconnect_delay,
            };
            let bus = PgBus::start(listener, live.waker(), shutdown.clone(), tasks).await?;
            Arc::new(bus)
        }
        BusKind::Memory | BusKind::Auto => Arc::new(LocalBus),
    })
}

/// The authenticator the configuration asks for. Open development mode is
/// allowed only on a loopback address, and announced loudly.
pub async fn authenticator(
    config: &AuthConfig,
    bind: SocketAddr,
) -> Result<Authenticator, StartupError> {
    let public_key = config
        .jwt_public_key_file
        .as_ref()
        .map(|path| {
            std::fs::read(path).map_err(|e| {
                StartupError::Auth(format!(
                    "cannot read JWT public key {}: {e}",
                    path.display()
                ))
            })
        })
        .transpose()?;
    let mut auth = Authenticator::new(config.jwt_secret.as_deref(), public_key.as_deref())
        .map_err(|e| StartupError::Auth(e.to_string()))?
        .with_rules(TokenRules {
            issuers: config.jwt_issuer.clone(),
            audiences: config.jwt_audience.clone(),
            claims: ClaimRules {
                role: config.jwt_role_claim.clone(),
                subject: Some(config.jwt_subject_claim.clone()),
                role_map: config
                    .jwt_role_map
                    .iter()
                    .map(|m| (m.name.clone(), m.role))
                    .collect(),
            },
        });
    if config.jwt_jwks_url.is_some() || config.jwt_jwks_file.is_some() {
        if let Some(url) = &config.jwt_jwks_url {
            let host = url.host_str().unwrap_or_default();
            let loopback = host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            // Keys fetched in the clear could be swapped on the way.
            if url.scheme() != "https" && !loopback {
                return Err(StartupError::Auth(format!(
                    "JWT_JWKS_URL must be https (it is {url}): keys fetched over plain HTTP \
                     could be replaced by anyone on the path"
                )));
            }
        }
        let jwks = Jwks::load(JwksSource {
            url: config.jwt_jwks_url.clone(),
            file: config.jwt_jwks_file.clone(),
            min_refetch_interval: config.jwt_jwks_refetch_interval,
            max_age: config.jwt_jwks_max_age,
        })
        .await
        .map_err(|e| StartupError::Auth(e.to_string()))?;
        if jwks.is_empty() {
            tracing::warn!(
                "the JWKS holds no usable signing key yet; tokens are refused until it does"
            );
        }
        if config.jwt_audience.is_empty() {
            tracing::warn!(
                "JWT_AUDIENCE is not set: an identity provider's keys sign tokens for all its \
                 applications, and only tokens without `aud` are accepted"
            );
        }
        auth = auth.with_jwks(jwks);
    }
    if auth.is_open() {
        if !bind.ip().is_loopback() {
            return Err(StartupError::Auth(format!(
                "refusing to listen on {bind} without authentication: set JWT_SECRET, \
                 JWT_PUBLIC_KEY_FILE, JWT_JWKS_URL or JWT_JWKS_FILE, or bind to a loopback \
                 address for development"
            )));
        }
        tracing::warn!(
            "OPEN DEVELOPMENT MODE: no JWT_SECRET, JWT_PUBLIC_KEY_FILE or JWKS is set, so every \
             request acts as an administrator. Reachable from this machine only ({bind})."
        );
    }
    Ok(auth)
}

/// The rate limits the configuration asks for: none in open development
/// mode, where every caller is the system and shares one bucket.
fn rate_limits(config: &ServeConfig, auth: &Authenticator) -> Result<RateLimits, StartupError> {
    let settings = &config.rate_limit;
    if !settings.rate_limit || auth.is_open() {
        return Ok(RateLimits::off());
    }
    let positive = |name: &str, value: u32| {
        NonZeroU32::new(value).ok_or_else(|| {
            StartupError::Config(format!(
                "{name} must be at least 1; set RATE_LIMIT=false to turn rate limiting off"
            ))
        })
    };
    Ok(RateLimits::new(
        positive(
            "RATE_LIMIT_COST_PER_SECOND",
            settings.rate_limit_cost_per_second,
        )?,
        positive("RATE_LIMIT_BURST", settings.rate_limit_burst)?,
    ))
}

/// The trusted documents of `TRUSTED_DOCUMENTS`, parsed and validated
/// once; the server does not start with a manifest it cannot use.
fn trusted_documents(config: &ServeConfig) -> Result<Option<TrustedDocuments>, StartupError> {
    let settings = &config.trusted_documents;
    let Some(path) = &settings.trusted_documents else {
        return Ok(None);
    };
    let refused = |e: ManifestError| StartupError::Config(e.to_string());
    let mut manifests = Manifests::new();
    manifests.add_file(path).map_err(refused)?;
    if settings.trusted_documents_dashboard {
        manifests
            .add("the dashboard's manifest", trusted::DASHBOARD_MANIFEST)
            .map_err(refused)?;
    }
    let trusted = TrustedDocuments::load(
        manifests,
        &graphql::sdl(),
        settings.trusted_documents_admin_any,
    )
    .map_err(refused)?;
    tracing::info!(
        documents = trusted.len(),
        manifest = %path.display(),
        admin_any = settings.trusted_documents_admin_any,
        "trusted documents only"
    );
    Ok(Some(trusted))
}

/// The key `config` names, read; `None` when it names none.
pub fn signer(config: &SigningConfig) -> Result<Option<HeadSigner>, StartupError> {
    config
        .signing_key_file
        .as_deref()
        .map(HeadSigner::from_file)
        .transpose()
        .map_err(StartupError::Signing)
}

/// A bound, ready server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    config: ServeConfig,
    statements: StatementCounter,
}

impl Application {
    /// Connects, migrates, builds the schema, binds the address and starts the
    /// background jobs. Bind port 0 to get a free port (see [`Self::local_addr`]).
    pub async fn build(
        database: &DatabaseConfig,
        config: ServeConfig,
    ) -> Result<Self, StartupError> {
        let auth = authenticator(&config.auth, config.bind).await?;
        // Settings are checked before the database is opened.
        let rate_limits = rate_limits(&config, &auth)?;
        let trusted = trusted_documents(&config)?;
        let statements = StatementCounter::default();
        let limits = Limits::from(&config.limits);
        let shutdown = CancellationToken::new();
        let sockets = TaskTracker::new();
        let metrics = Arc::new(Metrics::new());
        let db = db::connect(database, &statements).await?;
        db::migrate(&db, database).await?;
        let live = Live::new(subscriber_capacity(&config));
        let bus = open_bus(database, &config, &live, &shutdown, &sockets).await?;
        let mut feed = ActivityFeed::new(db, bus, live.clone(), limits);
        if let Some(keys) = &config.redaction.redact_keys {
            feed = feed.with_redactor(Redactor::new(keys));
        }
        if let Some(signer) = signer(&config.signing)? {
            feed = feed.with_signer(signer);
        }
        let publisher_pool = DatabaseConfig {
            pool_size: 1,
            ..database.clone()
        };
        let publisher_db = db::connect(&publisher_pool, &StatementCounter::default()).await?;
        feed.start_publisher(
            publisher_db,
            shutdown.clone(),
            &sockets,
            config.listener_max_reconnect_delay,
        )
        .await
        .map_err(|e| DbErr::Custom(format!("live delivery: {e}")))?;
        if rate_limits.is_on() {
            let (limits, stop) = (rate_limits.clone(), shutdown.clone());
            sockets.spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tokio::select! {
                        _ = every.tick() => limits.forget_idle(),
                        _ = stop.cancelled() => return,
                    }
                }
            });
        }
        if config.sealer {
            let sealer_db = db::connect(&publisher_pool, &StatementCounter::default()).await?;
            feed.start_sealer(
                sealer_db,
                config.checkpoint_interval,
                shutdown.clone(),
                &sockets,
            );
        }
        let schema = graphql::build_schema(
            feed.clone(),
            SchemaConfig {
                retention_days: config.retention_days,
                limits: config.limits.clone(),
                metrics: metrics.clone(),
                rate_limits: rate_limits.clone(),
                trusted: trusted.clone(),
            },
        );
        let fanout = Fanout::new(
            schema.clone(),
            live,
            subscriber_capacity(&config),
            metrics.clone(),
        );
        retention::spawn(
            feed.clone(),
            RetentionLock::for_database(database),
            config.retention_days,
            config.retention_interval,
            shutdown.clone(),
            &sockets,
        );
        // The folder's statements are its own: on a connection of its own,
        // not counted with requests'.
        let folder_db = db::connect(&publisher_pool, &StatementCounter::default()).await?;
        rollup::spawn(
            feed.with_db(folder_db),
            config.rollup_interval,
            shutdown.clone(),
            &sockets,
        );
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: config.bind,
                    source,
                })?;
        Ok(Self {
            listener,
            state: AppState {
                schema,
                fanout,
                feed,
                auth,
                shutdown,
                sockets,
                limits: config.limits.clone(),
                context: config.context.clone(),
                metrics,
                statements: statements.clone(),
                socket_slots: Arc::new(tokio::sync::Semaphore::new(config.limits.max_websockets)),
                rate_limits,
                trusted,
                delivery: DeliveryRuntime::start(),
            },
            config,
            statements,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has a local address")
    }

    /// Cancel it to shut the server down gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Counts the SQL statements the server runs.
    pub fn statements(&self) -> StatementCounter {
        self.statements.clone()
    }

    /// The service the server runs on.
    pub fn feed(&self) -> &ActivityFeed {
        &self.state.feed
    }

    /// Serves until the shutdown token is cancelled, then lets in-flight
    /// requests finish, completes subscriptions and closes websockets,
    /// waiting at most the configured shutdown timeout.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            listener,
            state,
            config,
            ..
        } = self;
        let shutdown = state.shutdown.clone();
        let sockets = state.sockets.clone();
        tracing::info!(addr = %listener.local_addr()?, "listening");
        // With the peer's address, for request context.
        let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let server =
            axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let server = tokio::spawn(server.into_future());
        shutdown.cancelled().await;
        sockets.close();
        let drained = tokio::time::timeout(config.shutdown_timeout, async {
            let served = server.await;
            sockets.wait().await;
            served
        })
        .await;
        match drained {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(std::io::Error::other(join)),
            Err(_) => {
                tracing::warn!("shutdown timed out; closing the remaining connections");
                Ok(())
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
