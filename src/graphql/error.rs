//! How service errors reach GraphQL clients: a stable `extensions.code`,
//! and nothing of the database's internals.

use async_graphql::{Error, ErrorExtensions, Response};

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
                let mut err = field_error(first);
                err.message = format!("inputs[{index}].{}", err.message);
                err
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
            "PersistedQueryNotFound" => "PERSISTED_QUERY_NOT_FOUND",
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
