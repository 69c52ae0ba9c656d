//! `GET /export`: the filtered feed as NDJSON or CSV, streamed row by row.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use entity::activity;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::bearer::{challenge, Authorization};
use super::AppState;
use crate::graphql::input::ActivityFilterInput;
use crate::graphql::scalars::format_utc;
use crate::service::{ActivityFilter, ErrorCode, FieldError, ServiceError};

/// The export formats.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line.
    #[default]
    Ndjson,
    /// Comma-separated values with a header row; metadata as JSON text.
    Csv,
}

/// The query string: `format` and `filter` (an ActivityFilter as JSON).
/// Anything else is refused: `?action=post.*` silently exporting the whole
/// feed is worse than an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    #[serde(default)]
    format: Format,
    filter: Option<String>,
}

fn error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    let body = json!({ "errors": [{ "message": message.into(), "extensions": { "code": code.as_str() } }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// What a refused query string is told it may carry.
const ACCEPTED: &str = "/export accepts `format` (ndjson or csv) and `filter` (an ActivityFilter as JSON, e.g. filter={\"action\":\"post.*\"})";

/// The parameters of a query string, or why they are refused and what is accepted.
fn params(query: Option<&str>) -> Result<ExportParams, String> {
    serde_urlencoded::from_str(query.unwrap_or_default()).map_err(|e| format!("{e}: {ACCEPTED}"))
}

const COLUMNS: [&str; 13] = [
    "uuid",
    "action",
    "module",
    "mode",
    "actor_uuid",
    "resource_type",
    "resource_uuid",
    "target_uuid",
    "metadata",
    "inserted_at",
    "correlation_id",
    "client_ip",
    "user_agent",
];

/// One row as NDJSON: the activity's fields, camelCase as in GraphQL.
fn ndjson_line(row: &activity::Model) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({
        "uuid": row.uuid,
        "action": row.action,
        "module": row.module,
        "mode": row.mode,
        "actorUuid": row.actor_uuid,
        "resourceType": row.resource_type,
        "resourceUuid": row.resource_uuid,
        "targetUuid": row.target_uuid,
        "metadata": row.metadata,
        "insertedAt": format_utc(row.inserted_at),
        "correlationId": row.correlation_id,
        "clientIp": row.client_ip,
        "userAgent": row.user_agent,
    }))
    .unwrap_or_default();
    line.push(b'\n');
    line
}

/// One CSV record, quoted as the csv crate does.
fn csv_record(fields: &[String]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(fields);
    writer.into_inner().unwrap_or_default()
}

/// A cell a spreadsheet would not run as a formula: text starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP's
/// advice on CSV injection). Producers choose actions, modules, user agents
/// and metadata, and whoever opens the export runs what they wrote.
fn cell(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn csv_row(row: &activity::Model) -> Vec<u8> {
    let opt = |v: &Option<String>| cell(v.clone().unwrap_or_default());
    let id = |v: Option<uuid::Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    csv_record(&[
        row.uuid.to_string(),
        cell(row.action.clone()),
        opt(&row.module),
        opt(&row.mode),
        id(row.actor_uuid),
        opt(&row.resource_type),
        id(row.resource_uuid),
        id(row.target_uuid),
        row.metadata.to_string(),
        format_utc(row.inserted_at),
        opt(&row.correlation_id),
        opt(&row.client_ip),
        opt(&row.user_agent),
    ])
}

/// Streams the activities the caller may see that match the filter.
pub async fn export(
    State(state): State<AppState>,
    authorization: Authorization,
    RawQuery(query): RawQuery,
) -> Response {
    let identity = match state.auth.authenticate(authorization.as_deref()).await {
        Ok(identity) => identity,
        Err(e) => {
            let mut refused = error(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                e.to_string(),
            );
            refused
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge(&e));
            return refused;
        }
    };
    let params = match params(query.as_deref()) {
        Ok(params) => params,
        Err(message) => return error(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, message),
    };
    let filter: ActivityFilter = match params
        .filter
        .as_deref()
        .map(serde_json::from_str::<ActivityFilterInput>)
    {
        None => ActivityFilter::default(),
        Some(Ok(input)) => match ActivityFilter::try_from(input) {
            Ok(filter) => filter,
            Err(errors) => {
                let message = FieldError::describe_all(&errors);
                return error(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, message);
            }
        },
        Some(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                format!("filter: {e}"),
            )
        }
    };
    let rows = match state.feed.export(&identity.caller, filter) {
        Ok(rows) => rows,
        Err(ServiceError::Forbidden(m)) => {
            return error(StatusCode::FORBIDDEN, ErrorCode::Forbidden, m)
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                e.to_string(),
            )
        }
    };
    let format = params.format;
    let header_line = (format == Format::Csv)
        .then(|| Ok::<_, std::io::Error>(Bytes::from(csv_record(&COLUMNS.map(String::from)))));
    let body = rows.map(move |row| match row {
        Ok(row) => Ok(Bytes::from(match format {
            Format::Ndjson => ndjson_line(&row),
            Format::Csv => csv_row(&row),
        })),
        Err(e) => {
            // Headers are sent already: the client sees a truncated body.
            tracing::error!(error = %e, "export failed mid-stream");
            Err(std::io::Error::other("export failed"))
        }
    });
    let body = futures_util::stream::iter(header_line).chain(body);
    let (content_type, name) = match format {
        Format::Ndjson => ("application/x-ndjson", "activities.ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "activities.csv"),
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
