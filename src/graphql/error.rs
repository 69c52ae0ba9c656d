//! How service errors reach GraphQL clients: a stable `extensions.code`,
//! and nothing of the database's internals.

use async_graphql::{Enum, Error, ErrorExtensions, Response, SimpleObject};

use crate::service::{FieldError, ServiceError};

/// Input breaks a documented rule.
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
/// The request carries no valid credentials.
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
/// The caller's role does not allow the operation.
pub const FORBIDDEN: &str = "FORBIDDEN";
/// Something failed on our side; the details are in the server's log.
pub const INTERNAL: &str = "INTERNAL";
/// A subscriber read too slowly and was disconnected; it may resume.
pub const SUBSCRIBER_LAGGED: &str = "SUBSCRIBER_LAGGED";
/// The document is larger than the server reads, or asks for more fields,
/// aliases, depth or complexity than one operation may; nothing ran.
pub const QUERY_TOO_LARGE: &str = "QUERY_TOO_LARGE";
/// A websocket already runs as many subscriptions as one socket may.
pub const TOO_MANY_SUBSCRIPTIONS: &str = "TOO_MANY_SUBSCRIPTIONS";
/// The caller spent its rate limit; `extensions.retryAfter` says when to try again.
pub const RATE_LIMITED: &str = "RATE_LIMITED";
/// The server runs trusted documents only, and this is not one of them.
pub const DOCUMENT_NOT_TRUSTED: &str = "DOCUMENT_NOT_TRUSTED";

/// A request that is not GraphQL over HTTP at all (wrong method, body or media type).
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// An automatic persisted query's hash that the server does not know yet.
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";

/// The request error of an operation refused by the caller's rate limit:
/// nothing ran; `extensions.retryAfter` holds the seconds to wait.
pub fn rate_limited(cost: usize, retry_after_secs: u64) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(
        format!(
            "rate limit exceeded: this operation costs {cost}, more than the caller has left; \
             retry in {retry_after_secs} s"
        ),
        None,
    );
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", RATE_LIMITED);
    extensions.set("retryAfter", retry_after_secs);
    error
}

/// Every code the server puts in `extensions.code` or `UserError.code`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Every code, for the test that keeps this list and the constants together.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::BadUserInput,
        ErrorCode::IdempotencyConflict,
        ErrorCode::BatchRejected,
        ErrorCode::BadRequest,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::Internal,
        ErrorCode::SubscriberLagged,
        ErrorCode::PersistedQueryNotFound,
        ErrorCode::QueryTooLarge,
        ErrorCode::TooManySubscriptions,
        ErrorCode::RateLimited,
        ErrorCode::DocumentNotTrusted,
    ];

    /// The code as `extensions.code` carries it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => BAD_USER_INPUT,
            ErrorCode::IdempotencyConflict => crate::service::error::IDEMPOTENCY_CONFLICT,
            ErrorCode::BatchRejected => super::mutation::BATCH_REJECTED,
            ErrorCode::BadRequest => BAD_REQUEST,
            ErrorCode::Unauthenticated => UNAUTHENTICATED,
            ErrorCode::Forbidden => FORBIDDEN,
            ErrorCode::Internal => INTERNAL,
            ErrorCode::SubscriberLagged => SUBSCRIBER_LAGGED,
            ErrorCode::PersistedQueryNotFound => PERSISTED_QUERY_NOT_FOUND,
            ErrorCode::QueryTooLarge => QUERY_TOO_LARGE,
            ErrorCode::TooManySubscriptions => TOO_MANY_SUBSCRIPTIONS,
            ErrorCode::RateLimited => RATE_LIMITED,
            ErrorCode::DocumentNotTrusted => DOCUMENT_NOT_TRUSTED,
        }
    }

    /// The enum value of a code the server uses; an unknown code (a bug:
    /// the test below lists every constant) reads as INTERNAL.
    pub fn of(code: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == code)
            .unwrap_or(ErrorCode::Internal)
    }
}

/// Why a piece of a mutation's input was refused.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    /// The path to the input at fault, from the mutation's arguments:
    /// `["inputs", "3", "action"]`; empty when no single input is at fault.
    pub field: Vec<String>,
    /// What is wrong, for people.
    pub message: String,
    /// What is wrong, for programs.
    pub code: ErrorCode,
}

impl UserError {
    /// `e`, at `path` below the mutation's arguments.
    pub fn at(path: &[&str], e: FieldError) -> Self {
        let mut field: Vec<String> = path.iter().map(|p| (*p).to_owned()).collect();
        field.push(e.field);
        Self {
            field,
            message: e.message,
            code: ErrorCode::of(e.code),
        }
    }
}

/// The refusals of a service call as user errors, paths starting at `root`
/// (the argument holding the input, e.g. `["input"]`); entries of a batch
/// (argument `inputs`) get their index. Errors that are not about the input
/// (forbidden, database) stay GraphQL errors.
pub fn user_errors(root: &[&str], e: ServiceError) -> Result<Vec<UserError>, Error> {
    match e {
        ServiceError::Invalid(errors) => {
            Ok(errors.into_iter().map(|e| UserError::at(root, e)).collect())
        }
        ServiceError::InvalidBatch(per_input) => Ok(per_input
            .into_iter()
            .enumerate()
            .flat_map(|(index, errors)| {
                let index = index.to_string();
                errors
                    .into_iter()
                    .map(move |e| UserError::at(&["inputs", &index], e))
            })
            .collect()),
        other => Err(service_error(other)),
    }
}

/// A GraphQL error with `extensions.code`.
pub fn coded(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

/// A BAD_USER_INPUT error naming the field at fault.
pub fn field_error(e: &FieldError) -> Error {
    let field = e.field.clone();
    Error::new(format!("{}: {}", e.field, e.message)).extend_with(move |_, ext| {
        ext.set("code", e.code);
        ext.set("field", field.clone());
    })
}

/// The error clients see for a service error; database failures are logged
/// in full here and masked for the client.
pub fn service_error(e: ServiceError) -> Error {
    match e {
        ServiceError::Invalid(errors) => errors
            .first()
            .map(field_error)
            .unwrap_or_else(|| coded(BAD_USER_INPUT, "invalid input")),
        ServiceError::InvalidBatch(errors) => errors
            .iter()
            .enumerate()
            .find_map(|(index, e)| e.first().map(|e| (index, e)))
            .map(|(index, first)| {
                // The message and `extensions.field` name the same input.
                field_error(&FieldError {
                    field: format!("inputs[{index}].{}", first.field),
                    ..first.clone()
                })
            })
            .unwrap_or_else(|| coded(BAD_USER_INPUT, "invalid input")),
        ServiceError::Forbidden(message) => coded(FORBIDDEN, message),
        ServiceError::Database(db) => internal(db),
    }
}

/// Logs an internal failure in full and returns the masked error clients see.
pub fn internal(cause: impl std::fmt::Display) -> Error {
    tracing::error!(error = %cause, "internal error");
    coded(INTERNAL, "internal error")
}

/// `?`-friendly conversion of service results.
pub trait IntoGraphql<T> {
    /// The result with its error turned into the client's view of it.
    fn graphql(self) -> async_graphql::Result<T>;
}

impl<T> IntoGraphql<T> for Result<T, ServiceError> {
    fn graphql(self) -> async_graphql::Result<T> {
        self.map_err(service_error)
    }
}

/// Gives every error that reaches a client without `extensions.code` the
/// code BAD_USER_INPUT, or QUERY_TOO_LARGE for the depth and complexity
/// limits. The server's own errors all carry a code, so the ones without
/// come from async-graphql reading the request: syntax errors, unknown
/// fields, values that are not a UUID, a date or an enum value, and those
/// two limits, which it reports in these words alone.
pub fn with_default_code(mut response: Response) -> Response {
    for error in &mut response.errors {
        // Apollo's name for it, which its clients also recognise.
        let code = match error.message.as_str() {
            "PersistedQueryNotFound" => PERSISTED_QUERY_NOT_FOUND,
            // The limits of `build_schema`: refused before anything ran, like ours.
            "Query is too complex." | "Query is nested too deep." => QUERY_TOO_LARGE,
            _ => BAD_USER_INPUT,
        };
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", code);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_server_uses_is_in_the_enum() {
        let used = [
            BAD_USER_INPUT,
            crate::service::error::BAD_USER_INPUT,
            crate::service::error::IDEMPOTENCY_CONFLICT,
            super::super::mutation::BATCH_REJECTED,
            BAD_REQUEST,
            UNAUTHENTICATED,
            FORBIDDEN,
            INTERNAL,
            SUBSCRIBER_LAGGED,
            PERSISTED_QUERY_NOT_FOUND,
        ];
        for code in used {
            assert_eq!(ErrorCode::of(code).as_str(), code);
        }
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::of(code.as_str()), code);
        }
    }

    #[test]
    fn batch_errors_carry_their_index_in_the_path() {
        let e = ServiceError::InvalidBatch(vec![
            vec![],
            vec![FieldError::invalid("action", "must not be empty")],
        ]);
        let errors = user_errors(&["inputs"], e).unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, ["inputs", "1", "action"]);
        assert_eq!(errors[0].code, ErrorCode::BadUserInput);
    }
}
