use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{FromRequest, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};

use super::{websocket, AppState};
use crate::graphql::context::Authentication;

/// GET: a websocket upgrade, GraphiQL for a browser, or a query in the URL.
pub async fn get(State(state): State<AppState>, req: Request) -> Response {
    if is_websocket(req.headers()) {
        return upgrade(state, req).await;
    }
    if state.limits.graphiql && wants_html(req.headers()) {
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

/// The request's `Authorization` header, if it is text.
fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn execute(state: AppState, req: Request) -> Response {
    let identity = state
        .auth
        .authenticate(authorization(req.headers()).as_deref());
    match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(req, &())
        .await
    {
        Ok(request) => {
            let request = request.into_inner().data(Authentication(identity));
            GraphQLResponse::from(state.schema.execute(request).await).into_response()
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

/// Upgrades to a GraphQL websocket (graphql-transport-ws or the legacy graphql-ws).
async fn upgrade(state: AppState, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let requested = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let protocol = websocket::negotiate(requested.as_deref());
    let authorization = authorization(&parts.headers);
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let sockets = state.sockets.clone();
    upgrade
        .protocols([protocol.sec_websocket_protocol()])
        .on_upgrade(move |socket| {
            sockets.track_future(websocket::serve(socket, state, protocol, authorization))
        })
}
