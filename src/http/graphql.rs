use std::time::Duration;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{FromRequest, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

/// How long a websocket stays open after shutdown began, so the `complete`
/// messages of its subscriptions reach the client before the socket closes.
const COMPLETE_FLUSH: Duration = Duration::from_millis(250);

/// GET: a websocket upgrade, GraphiQL for a browser, or a query in the URL.
pub async fn get(State(state): State<AppState>, req: Request) -> Response {
    if is_websocket(req.headers()) {
        return websocket(state, req).await;
    }
    if wants_html(req.headers()) {
        let page = GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .finish();
        return Html(page).into_response();
    }
    execute(state, req).await
}

/// POST: a query in the body.
pub async fn post(State(state): State<AppState>, req: Request) -> Response {
    execute(state, req).await
}

async fn execute(state: AppState, req: Request) -> Response {
    match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(req, &())
        .await
    {
        Ok(request) => {
            GraphQLResponse::from(state.schema.execute(request.into_inner()).await).into_response()
        }
        Err(rejection) => rejection.into_response(),
    }
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

/// Serves graphql-transport-ws and the legacy graphql-ws on one socket.
async fn websocket(state: AppState, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) => p,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let AppState {
        schema,
        shutdown,
        sockets,
        ..
    } = state;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let serve = GraphQLWebSocket::new(socket, schema, protocol).serve();
            sockets.track_future(async move {
                tokio::select! {
                    _ = serve => {}
                    _ = async {
                        shutdown.cancelled().await;
                        tokio::time::sleep(COMPLETE_FLUSH).await;
                    } => {}
                }
            })
        })
}
