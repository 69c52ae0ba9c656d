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
    pub code: &'static str,
}

/// The code of input that breaks a documented rule.
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";

/// The code of an idempotency key replayed with input other than its first use's.
pub const IDEMPOTENCY_CONFLICT: &str = "IDEMPOTENCY_CONFLICT";

impl FieldError {
    /// A [`BAD_USER_INPUT`] error on `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            code: BAD_USER_INPUT,
        }
    }

    /// The [`IDEMPOTENCY_CONFLICT`] error of a key whose first use, activity
    /// `first`, had other input.
    pub fn idempotency_conflict(first: uuid::Uuid) -> Self {
        Self {
            field: "idempotencyKey".into(),
            message: format!(
                "this key was first used for activity {first} with other input; \
                 a retry must repeat it, a new activity needs a new key"
            ),
            code: IDEMPOTENCY_CONFLICT,
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
