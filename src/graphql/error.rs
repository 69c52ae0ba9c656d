//! How service errors reach GraphQL clients: a stable `extensions.code`,
//! and nothing of the database's internals.

use async_graphql::{Enum, Error, ErrorExtensions, Response, SimpleObject};

use crate::service::{ErrorCode, FieldError, ServiceError};

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
    extensions.set("code", ErrorCode::RateLimited.as_str());
    extensions.set("retryAfter", retry_after_secs);
    error
}

// The service's `ErrorCode` as the schema's enum: mirrored (async-graphql's
// `remote` derives both conversions) because the service layer does not
// derive GraphQL types.
/// Every code the server puts in `extensions.code` or `UserError.code`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ErrorCode", remote = "crate::service::ErrorCode")]
pub enum Code {
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

/// Why a piece of a mutation's input was refused.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    /// The path to the input at fault, from the mutation's arguments:
    /// `["inputs", "3", "action"]`; empty when no single input is at fault.
    pub field: Vec<String>,
    /// What is wrong, for people.
    pub message: String,
    /// What is wrong, for programs.
    pub code: Code,
}

impl UserError {
    /// `e`, at `path` below the mutation's arguments.
    pub fn at(path: &[&str], e: FieldError) -> Self {
        let mut field: Vec<String> = path.iter().map(|p| (*p).to_owned()).collect();
        field.push(e.field);
        Self {
            field,
            message: e.message,
            code: e.code.into(),
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
pub fn coded(code: ErrorCode, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()))
}

/// One error for every field at fault: the message names them all,
/// `extensions.field` the first, and, when there are several,
/// `extensions.fieldErrors` lists each with its message and code, so a
/// client can mark every bad field from one answer. An error about one
/// field is as it always was.
pub fn field_errors(errors: &[FieldError]) -> Error {
    let Some(first) = errors.first() else {
        return coded(ErrorCode::BadUserInput, "invalid input");
    };
    let message = FieldError::describe_all(errors);
    let all: Vec<async_graphql::Value> = errors
        .iter()
        .map(|e| {
            let mut entry = async_graphql::indexmap::IndexMap::new();
            entry.insert(async_graphql::Name::new("field"), e.field.clone().into());
            entry.insert(
                async_graphql::Name::new("message"),
                e.message.clone().into(),
            );
            entry.insert(async_graphql::Name::new("code"), e.code.as_str().into());
            async_graphql::Value::Object(entry)
        })
        .collect();
    let (code, field) = (first.code.as_str(), first.field.clone());
    Error::new(message).extend_with(move |_, ext| {
        ext.set("code", code);
        ext.set("field", field.clone());
        if all.len() > 1 {
            ext.set("fieldErrors", async_graphql::Value::List(all.clone()));
        }
    })
}

/// The error clients see for a service error; database failures are logged
/// in full here and masked for the client.
pub fn service_error(e: ServiceError) -> Error {
    match e {
        ServiceError::Invalid(errors) => field_errors(&errors),
        ServiceError::InvalidBatch(per_input) => {
            // The message and `extensions.field` name each input by its index.
            let errors: Vec<FieldError> = per_input
                .into_iter()
                .enumerate()
                .flat_map(|(index, errors)| {
                    errors.into_iter().map(move |e| FieldError {
                        field: format!("inputs[{index}].{}", e.field),
                        ..e
                    })
                })
                .collect();
            field_errors(&errors)
        }
        ServiceError::Forbidden(message) => coded(ErrorCode::Forbidden, message),
        ServiceError::Database(db) => internal(db),
    }
}

/// Logs an internal failure in full and returns the masked error clients see.
pub fn internal(cause: impl std::fmt::Display) -> Error {
    tracing::error!(error = %cause, "internal error");
    coded(ErrorCode::Internal, "internal error")
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
            "PersistedQueryNotFound" => ErrorCode::PersistedQueryNotFound,
            // The limits of `build_schema`: refused before anything ran, like ours.
            "Query is too complex." | "Query is nested too deep." => ErrorCode::QueryTooLarge,
            _ => ErrorCode::BadUserInput,
        };
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", code.as_str());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_enum_names_each_code_as_the_wire_does() {
        // The SDL value of each variant is the string `as_str` puts on the wire.
        for code in [
            ErrorCode::BadUserInput,
            ErrorCode::BatchRejected,
            ErrorCode::PersistedQueryNotFound,
            ErrorCode::TooManySubscriptions,
        ] {
            let value = async_graphql::InputType::to_value(&Code::from(code));
            assert_eq!(
                value,
                async_graphql::Value::Enum(async_graphql::Name::new(code.as_str()))
            );
            assert_eq!(ErrorCode::from(Code::from(code)), code);
        }
    }

    #[test]
    fn every_field_error_reaches_the_client() {
        let e = ServiceError::Invalid(vec![
            FieldError::invalid("action", "must not be empty"),
            FieldError::invalid("module", "must be at most 50 characters"),
        ]);
        let error = service_error(e).into_server_error(async_graphql::Pos::default());
        assert_eq!(
            error.message,
            "action: must not be empty; module: must be at most 50 characters"
        );
        let ext = error.extensions.unwrap();
        assert_eq!(ext.get("field"), Some(&"action".into()));
        let Some(async_graphql::Value::List(all)) = ext.get("fieldErrors") else {
            panic!("no fieldErrors in {ext:?}");
        };
        assert_eq!(all.len(), 2);
        let one = service_error(ServiceError::invalid("action", "must not be empty"))
            .into_server_error(async_graphql::Pos::default());
        assert_eq!(one.message, "action: must not be empty");
        assert!(one.extensions.unwrap().get("fieldErrors").is_none());
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
        assert_eq!(errors[0].code, Code::BadUserInput);
    }
}
