//! GraphQL over HTTP, as the specification asks of a server: media types
//! negotiated from `Accept`, request errors as 4xx, JSON-only POSTs, and
//! queries only over GET. async-graphql executes; this module decides what
//! goes in and how the answer is framed.
//!
//! One unit: one specification's request and response rules, which read
//! each other's media types and errors (about 300 lines, the rest tests).

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request, Response};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use serde_json::{json, Map, Value};

use crate::graphql::is_request_error;
use crate::graphql::limits::{self, DocumentLimits};
use crate::graphql::trusted::{TrustedDocuments, DOCUMENT_ID};
use crate::service::ErrorCode;

/// The response media types we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: status codes tell request errors apart.
    GraphqlResponse,
    /// `application/json`: the legacy type; 200 for anything that was executed.
    Json,
}

impl MediaType {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// Picks the response type from `Accept`; `None` when it names neither.
/// No `Accept` at all means `application/json`, as the specification says.
pub fn negotiate(accept: Option<&str>) -> Option<MediaType> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(MediaType::Json);
    };
    let mut best: Option<(f32, MediaType)> = None;
    for range in accept.split(',') {
        let Ok(mime) = range.trim().parse::<mime::Mime>() else {
            continue;
        };
        let q = mime
            .get_param("q")
            .and_then(|q| q.as_str().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        let kind = match (
            mime.type_().as_str(),
            mime.subtype().as_str(),
            mime.suffix(),
        ) {
            ("application", "graphql-response", Some(mime::JSON)) => MediaType::GraphqlResponse,
            ("application", "json", _) | ("application", "*", _) | ("*", "*", _) => MediaType::Json,
            _ => continue,
        };
        // Prefer the higher q; on a tie, the type that carries more meaning.
        let better = match best {
            None => true,
            Some((bq, bk)) => {
                q > bq || (q == bq && kind == MediaType::GraphqlResponse && bk == MediaType::Json)
            }
        };
        if better {
            best = Some((q, kind));
        }
    }
    best.map(|(_, kind)| kind)
}

/// A request that cannot be executed at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// 400, 405, 406 or 415.
    pub status: StatusCode,
    /// What is wrong, for people.
    pub message: String,
}

impl RequestError {
    fn bad(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// The error as a response in `media` (or JSON when none was acceptable).
    pub fn into_response(self, media: MediaType) -> HttpResponse {
        let body = json!({ "errors": [{
            "message": self.message,
            "extensions": { "code": ErrorCode::BadRequest.as_str() },
        }]});
        let mut res = (self.status, body.to_string()).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, media.header());
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        res
    }
}

/// The 406 for an `Accept` we cannot satisfy.
pub fn not_acceptable() -> RequestError {
    RequestError {
        status: StatusCode::NOT_ACCEPTABLE,
        message: "Accept must allow application/graphql-response+json or application/json".into(),
    }
}

/// Checks the parameters of one request (the spec's GraphQL-over-HTTP
/// request shape) and turns them into an async-graphql request.
fn request_from(mut params: Map<String, Value>) -> Result<Request, RequestError> {
    // A persisted document's id (GraphQL over HTTP's `documentId`), for the
    // trusted documents to look up; it travels as a request extension.
    let document_id = match params.remove(DOCUMENT_ID) {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err(RequestError::bad("`documentId` must be a string")),
    };
    let persisted = document_id.is_some()
        || params
            .get("extensions")
            .and_then(|e| e.get("persistedQuery"))
            .is_some();
    match params.get("query") {
        Some(Value::String(_)) => {}
        None | Some(Value::Null) if persisted => {}
        None | Some(Value::Null) => {
            return Err(RequestError::bad("the `query` parameter is missing"))
        }
        Some(_) => return Err(RequestError::bad("`query` must be a string")),
    }
    if !matches!(
        params.get("operationName"),
        None | Some(Value::Null | Value::String(_))
    ) {
        return Err(RequestError::bad("`operationName` must be a string"));
    }
    for key in ["variables", "extensions"] {
        if !matches!(params.get(key), None | Some(Value::Null | Value::Object(_))) {
            return Err(RequestError::bad(format!("`{key}` must be a map")));
        }
    }
    let mut params = params;
    // async-graphql wants absent, not null, for the optional parameters.
    params.retain(|_, v| !v.is_null());
    params
        .entry("query")
        .or_insert_with(|| Value::String(String::new()));
    let mut request: Request = serde_json::from_value(Value::Object(params))
        .map_err(|e| RequestError::bad(e.to_string()))?;
    if let Some(id) = document_id {
        request
            .extensions
            .insert(DOCUMENT_ID.into(), async_graphql::Value::String(id));
    }
    Ok(request)
}

/// Reads a POST: `Content-Type` must be JSON; the body one request, or — when
/// `max_batch` > 0 — a non-empty array of at most that many.
pub fn parse_post(
    content_type: Option<&str>,
    body: &[u8],
    max_batch: usize,
) -> Result<BatchRequest, RequestError> {
    let is_json = content_type
        .and_then(|c| c.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == mime::APPLICATION && m.subtype() == mime::JSON);
    if !is_json {
        return Err(RequestError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "POST bodies must be application/json".into(),
        });
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RequestError::bad(format!("the body is not valid JSON: {e}")))?;
    match value {
        Value::Object(params) => Ok(BatchRequest::Single(request_from(params)?)),
        Value::Array(_) if max_batch == 0 => {
            Err(RequestError::bad("batched requests are not accepted"))
        }
        Value::Array(items) if items.is_empty() || items.len() > max_batch => Err(
            RequestError::bad(format!("a batch holds 1 to {max_batch} requests")),
        ),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(params) => request_from(params),
                _ => Err(RequestError::bad("each batched request must be a map")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(BatchRequest::Batch),
        _ => Err(RequestError::bad("the body must be a map")),
    }
}

/// Reads a GET: parameters in the query string, `variables` and
/// `extensions` as JSON text. Only queries may be executed this way; a
/// `documentId` is looked up in `trusted` to tell.
pub fn parse_get(
    query_string: &str,
    documents: &DocumentLimits,
    trusted: Option<&TrustedDocuments>,
) -> Result<Request, RequestError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query_string).map_err(|e| RequestError::bad(e.to_string()))?;
    let mut params = Map::new();
    for (key, text) in pairs {
        let value = match key.as_str() {
            "variables" | "extensions" if !text.is_empty() => serde_json::from_str(&text)
                .map_err(|e| RequestError::bad(format!("`{key}` is not valid JSON: {e}")))?,
            "variables" | "extensions" => Value::Null,
            _ => Value::String(text),
        };
        params.insert(key, value);
    }
    let has_query = !params.get("query").is_none_or(Value::is_null);
    let document_id = match params.get(DOCUMENT_ID) {
        Some(Value::String(id)) if !has_query => Some(id.clone()),
        _ => None,
    };
    if !has_query && document_id.is_none() {
        // An automatic persisted query's hash would hide its operation type
        // from the check below; a trusted document's id does not.
        return Err(RequestError::bad(
            "the `query` parameter is missing (persisted queries need POST)",
        ));
    }
    let request = request_from(params)?;
    // An id no trusted document has runs nothing: execution refuses it.
    let text = match &document_id {
        Some(id) => trusted.and_then(|t| t.text_of(id)).unwrap_or_default(),
        None => request.query.as_str(),
    };
    if !reads_only(text, request.operation_name.as_deref(), documents) {
        return Err(RequestError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: "only queries may be sent with GET; use POST".into(),
        });
    }
    Ok(request)
}

/// Whether the operation the request would run is a query. A document that
/// does not parse counts as read-only: execution reports its syntax error,
/// as it refuses one over the size or token limit, which is not parsed here.
fn reads_only(text: &str, operation_name: Option<&str>, documents: &DocumentLimits) -> bool {
    if limits::check_text(text, documents).is_err() {
        return true;
    }
    let Ok(doc) = async_graphql::parser::parse_query(text) else {
        return true;
    };
    let kind = crate::graphql::selected_operation(&doc, operation_name).map(|(_, op)| op.node.ty);
    kind.is_none_or(|ty| ty == OperationType::Query)
}

/// Frames one response: with graphql-response+json a request error is a 400
/// without `data`; with application/json everything executed is a 200.
pub fn respond(media: MediaType, res: Response) -> HttpResponse {
    let request_error = is_request_error(&res);
    let mut body = serde_json::to_value(&res)
        .unwrap_or_else(|_| json!({ "errors": [{ "message": "internal error" }] }));
    let status = if request_error && media == MediaType::GraphqlResponse {
        if let Value::Object(map) = &mut body {
            map.remove("data");
        }
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut http = (status, body.to_string()).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, media.header());
    http
}

/// Frames a batch: one 200 with the responses in request order.
pub fn respond_batch(media: MediaType, res: BatchResponse) -> HttpResponse {
    match res {
        BatchResponse::Single(one) => respond(media, one),
        BatchResponse::Batch(all) => {
            let body = serde_json::to_string(&all).unwrap_or_else(|_| "[]".into());
            let mut http = (StatusCode::OK, body).into_response();
            http.headers_mut()
                .insert(header::CONTENT_TYPE, media.header());
            http
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_accept() {
        assert_eq!(negotiate(None), Some(MediaType::Json));
        assert_eq!(negotiate(Some("application/json")), Some(MediaType::Json));
        assert_eq!(negotiate(Some("*/*")), Some(MediaType::Json));
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(MediaType::Json)
        );
        assert_eq!(negotiate(Some("text/html")), None);
        assert_eq!(negotiate(Some("application/json;q=0")), None);
    }

    #[test]
    fn post_needs_json_and_a_query_string() {
        let status = |ct: Option<&str>, body: &str| {
            parse_post(ct, body.as_bytes(), 0).err().map(|e| e.status)
        };
        let json = Some("application/json; charset=utf-8");
        assert_eq!(status(json, r#"{"query":"{ a }"}"#), None);
        assert_eq!(
            status(Some("text/plain"), r#"{"query":"{ a }"}"#),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(
            status(None, r#"{"query":"{ a }"}"#),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        for bad in [
            "{",
            "{}",
            r#"{"query":1}"#,
            r#"{"query":"{a}","variables":"x"}"#,
            r#"{"query":"{a}","operationName":2}"#,
            r#"{"query":"{a}","extensions":[]}"#,
            r#"[{"query":"{a}"}]"#,
            "3",
        ] {
            assert_eq!(status(json, bad), Some(StatusCode::BAD_REQUEST), "{bad}");
        }
        assert_eq!(
            status(
                json,
                r#"{"query":"{a}","variables":null,"operationName":null,"extensions":null}"#
            ),
            None
        );
    }

    #[test]
    fn batches_only_when_allowed() {
        let body = br#"[{"query":"{a}"},{"query":"{b}"}]"#;
        assert!(parse_post(Some("application/json"), body, 0).is_err());
        assert!(
            matches!(parse_post(Some("application/json"), body, 2), Ok(BatchRequest::Batch(v)) if v.len() == 2)
        );
        assert!(parse_post(Some("application/json"), body, 1).is_err());
    }

    #[test]
    fn get_runs_queries_only() {
        assert!(parse_get("query=%7B%20a%20%7D", &DocumentLimits::default(), None).is_ok());
        let err = parse_get(
            "query=mutation%20%7B%20a%20%7D",
            &DocumentLimits::default(),
            None,
        )
        .unwrap_err();
        assert_eq!(err.status, StatusCode::METHOD_NOT_ALLOWED);
        let named =
            "query=query%20A%20%7B%20a%20%7D%20mutation%20B%20%7B%20b%20%7D&operationName=B";
        assert_eq!(
            parse_get(named, &DocumentLimits::default(), None)
                .unwrap_err()
                .status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            parse_get("", &DocumentLimits::default(), None)
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_get(
                "query=%7Ba%7D&variables=nope",
                &DocumentLimits::default(),
                None
            )
            .unwrap_err()
            .status,
            StatusCode::BAD_REQUEST
        );
        assert!(parse_get(
            "query=%7Ba%7D&variables=%7B%22x%22%3A1%7D",
            &DocumentLimits::default(),
            None
        )
        .is_ok());
    }
}
