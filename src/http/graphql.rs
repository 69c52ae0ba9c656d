use async_graphql::{BatchRequest, BatchResponse};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::bearer::{challenge, Authorization};
use super::protocol::{self, MediaType};
use super::{client, websocket, AppState};
use crate::db::watchdog;
use crate::graphql::context::Authentication;
use crate::ratelimit::Bucket;
use crate::service::ErrorCode;

/// GET: a websocket upgrade, GraphiQL for a browser, or a query in the URL.
pub async fn get(
    State(state): State<AppState>,
    authorization: Authorization,
    req: Request,
) -> Response {
    if is_websocket(req.headers()) {
        return websocket::upgrade(state, authorization, req).await;
    }
    if state.limits.graphiql && wants_html(req.headers()) {
        return super::graphiql::page();
    }
    execute(state, authorization, req).await
}

/// POST: a query in the body.
pub async fn post(
    State(state): State<AppState>,
    authorization: Authorization,
    req: Request,
) -> Response {
    execute(state, authorization, req).await
}

/// Executes a GraphQL-over-HTTP request (GET or POST) as the caller its
/// `Authorization` header names.
async fn execute(state: AppState, authorization: Authorization, req: Request) -> Response {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let Some(media) = protocol::negotiate(accept) else {
        return protocol::not_acceptable().into_response(MediaType::Json);
    };
    let identity = state.auth.authenticate(authorization.as_deref()).await;
    // Kept for the status: a refused token answers 401 (RFC 6750).
    let refused = identity.as_ref().err().cloned();
    let context = client::request_context(&state.context, req.headers(), req.extensions());
    let bucket = state
        .rate_limits
        .is_on()
        .then(|| Bucket::of(identity.as_ref().ok(), client_address(&state, &req)));
    let batch = if req.method() == Method::GET {
        let documents = state.limits.documents();
        protocol::parse_get(
            req.uri().query().unwrap_or_default(),
            &documents,
            state.trusted.as_ref(),
        )
        .map(BatchRequest::Single)
    } else {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match axum::body::to_bytes(req.into_body(), usize::MAX).await {
            Ok(body) => body,
            // The body limit layer ends the body early when it is too large.
            Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        };
        protocol::parse_post(
            content_type.as_deref(),
            &body,
            state.limits.max_batched_operations,
        )
    };
    let batch = match batch {
        Ok(batch) => {
            let mut batch = batch.data(Authentication(identity));
            if let Some(bucket) = bucket {
                batch = batch.data(bucket);
            }
            match context {
                Some(context) => batch.data(context),
                None => batch,
            }
        }
        Err(error) => return error.into_response(media),
    };
    // Statements still running when the request ends (a timeout, a client
    // gone) are interrupted on SQLite, as they are not left to run on.
    let response = watchdog::request_scope(state.schema.execute_batch(batch)).await;
    let limited = rate_limited(&response);
    let refused =
        refused.filter(|_| every_response_has(&response, ErrorCode::Unauthenticated.as_str()));
    let mut http = protocol::respond_batch(media, response);
    if let Some(refused) = refused {
        *http.status_mut() = StatusCode::UNAUTHORIZED;
        http.headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge(&refused));
    }
    if let Some(limited) = limited {
        if limited.all {
            *http.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        }
        http.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(limited.retry_after));
    }
    http
}

/// The client's address, for the rate limit of requests without a valid token.
fn client_address(state: &AppState, req: &Request) -> Option<std::net::IpAddr> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    client::client_ip(peer, req.headers(), &state.context.trusted_proxies)
}

/// The `code` extension of a GraphQL error.
fn code_of(error: &async_graphql::ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code") {
        Some(async_graphql::Value::String(code)) => Some(code),
        _ => None,
    }
}

/// Whether every response of the batch has an error coded `code`.
fn every_response_has(response: &BatchResponse, code: &str) -> bool {
    let has = |r: &async_graphql::Response| r.errors.iter().any(|e| code_of(e) == Some(code));
    match response {
        BatchResponse::Single(one) => has(one),
        BatchResponse::Batch(all) => all.iter().all(has),
    }
}

/// What the rate limit refused in a response.
struct Limited {
    /// Every operation was refused: the request as a whole gets 429.
    all: bool,
    /// The longest wait any refusal asks for, in seconds.
    retry_after: u64,
}

fn rate_limited(response: &BatchResponse) -> Option<Limited> {
    let responses: Vec<&async_graphql::Response> = match response {
        BatchResponse::Single(one) => vec![one],
        BatchResponse::Batch(all) => all.iter().collect(),
    };
    let waits: Vec<Option<u64>> = responses
        .iter()
        .map(|r| {
            r.errors.iter().find_map(|e| {
                let is_limited = code_of(e) == Some(ErrorCode::RateLimited.as_str());
                match e.extensions.as_ref()?.get("retryAfter") {
                    Some(async_graphql::Value::Number(n)) if is_limited => n.as_u64(),
                    _ => None,
                }
            })
        })
        .collect();
    let retry_after = waits.iter().flatten().max().copied()?;
    Some(Limited {
        all: waits.iter().all(Option::is_some),
        retry_after,
    })
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}
