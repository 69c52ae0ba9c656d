//! The service layer's error type: what went wrong, in terms a caller can act on.

use sea_orm::DbErr;

/// Why a piece of input was refused, in a form any front end can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The input field at fault, as the API names it (`action`, `metadata`, …).
    pub field: String,
    /// A sentence for people.
    pub message: String,
    /// A stable code for programs.
    pub code: ErrorCode,
}

/// Every code a client can read in an error (`extensions.code`, a user
/// error's `code`, an HTTP error body): the one list of them, whichever
/// layer refuses the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Input breaks a documented rule.
    BadUserInput,
    /// An idempotency key was replayed with other input than its first use.
    IdempotencyConflict,
    /// A valid entry of a batch that was refused because of other entries.
    BatchRejected,
    /// The request is not GraphQL over HTTP (method, body or media type).
    BadRequest,
    /// The request carries no valid credentials.
    Unauthenticated,
    /// The caller's role does not allow the operation.
    Forbidden,
    /// Something failed on the server; the details are in its log.
    Internal,
    /// A subscriber read too slowly and was disconnected; it may resume.
    SubscriberLagged,
    /// An automatic persisted query's hash is unknown: send the query text.
    PersistedQueryNotFound,
    /// The document is larger, or asks for more, than one operation may; nothing ran.
    QueryTooLarge,
    /// A websocket already runs as many subscriptions as one socket may.
    TooManySubscriptions,
    /// The caller spent its rate limit and nothing ran: retry after `extensions.retryAfter` seconds.
    RateLimited,
    /// The server runs trusted documents only (its manifest) and this is not one: nothing ran.
    DocumentNotTrusted,
}

impl ErrorCode {
    /// The code as clients read it; these strings are the API and never change.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            ErrorCode::BatchRejected => "BATCH_REJECTED",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::SubscriberLagged => "SUBSCRIBER_LAGGED",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ErrorCode::QueryTooLarge => "QUERY_TOO_LARGE",
            ErrorCode::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::DocumentNotTrusted => "DOCUMENT_NOT_TRUSTED",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FieldError {
    /// Every error of `errors` in one line, `field: message; …`, as each
    /// layer reports a refused input.
    pub fn describe_all(errors: &[FieldError]) -> String {
        errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A [`ErrorCode::BadUserInput`] error on `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            code: ErrorCode::BadUserInput,
        }
    }

    /// The [`ErrorCode::IdempotencyConflict`] error of a key whose first use, activity
    /// `first`, had other input.
    pub fn idempotency_conflict(first: uuid::Uuid) -> Self {
        Self {
            field: "idempotencyKey".into(),
            message: format!(
                "this key was first used for activity {first} with other input; \
                 a retry must repeat it, a new activity needs a new key"
            ),
            code: ErrorCode::IdempotencyConflict,
        }
    }
}

/// Everything a service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input breaks a rule; nothing was written.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// Some entries of a batch break a rule; nothing was written. One list
    /// per entry, in input order, empty for the entries that were fine.
    #[error("invalid batch: {} entries refused", .0.iter().filter(|e| !e.is_empty()).count())]
    InvalidBatch(Vec<Vec<FieldError>>),
    /// The caller's role does not allow the operation.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The database failed; the details are for the logs, not for clients.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl ServiceError {
    /// A single-field [`ServiceError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::invalid(field, message)])
    }
}

/// The result of a service call.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
