//! GraphQL over HTTP as the specification asks of a server, through the real
//! server: the response media type follows `Accept`, request errors are 400s
//! under application/graphql-response+json and 200s under application/json,
//! POSTs must be JSON (415), mutations may not travel by GET (405), batches
//! only when configured, CORS for the configured origins only, and Apollo's
//! automatic persisted queries. The graphql-http package's audit checks the
//! same server from outside (conformance/, run by .ci/conformance).

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::Response;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, spawn_app_with, Client, TestApp};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
const QUERY: &str = "{ activities(perPage: 1) { perPage } }";
const LOG: &str = r#"mutation { log(input: {action: "http.protocol"}) { activity { uuid } } }"#;

/// POSTs `body` as it is, with the given `Accept` and `Content-Type` (none when `None`).
async fn post_raw(
    app: &Client,
    accept: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut req = app.http.post(app.url("/graphql")).body(body);
    if let Some(accept) = accept {
        req = req.header(ACCEPT, accept);
    }
    if let Some(content_type) = content_type {
        req = req.header(CONTENT_TYPE, content_type);
    }
    req.send().await.expect("request sent")
}

/// POSTs a JSON body with `Accept: accept`.
async fn post_json(app: &Client, accept: &str, body: &Value) -> Response {
    post_raw(app, Some(accept), Some(JSON), body.to_string()).await
}

/// The response's media type, without parameters.
fn media_type(res: &Response) -> String {
    media_type_of(res.headers())
}

fn media_type_of(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Status, media type and JSON body.
async fn parts(res: Response) -> (u16, String, Value) {
    let status = res.status().as_u16();
    let media = media_type(&res);
    let text = res.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body: {text}"));
    (status, media, body)
}

/// How many activities the server holds.
async fn rows(app: &TestApp) -> u64 {
    app.count(json!({})).await
}

#[tokio::test]
async fn the_response_media_type_follows_accept() {
    let app = spawn_app().await;
    let query = json!({ "query": QUERY });
    for (accept, expected) in [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (JSON, JSON),
        ("*/*", JSON),
        (
            "application/graphql-response+json, application/json;q=0.9",
            GRAPHQL_RESPONSE,
        ),
        (
            "application/graphql-response+json;q=0.5, application/json",
            JSON,
        ),
    ] {
        let (status, media, body) = parts(post_json(&app, accept, &query).await).await;
        assert_eq!(
            (status, media.as_str()),
            (200, expected),
            "Accept: {accept}"
        );
        assert_eq!(body, json!({ "data": { "activities": { "perPage": 1 } } }));
    }
    app.stop().await;
}

#[tokio::test]
async fn without_accept_the_response_is_application_json() {
    // reqwest always sends an Accept header, so this one is written by hand.
    let app = spawn_app().await;
    let body = json!({ "query": QUERY }).to_string();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        app.addr,
        body.len()
    );
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.lines().any(|l| l
            .to_ascii_lowercase()
            .starts_with("content-type: application/json")),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).expect("JSON body");
    assert_eq!(body["data"]["activities"]["perPage"], 1);
    app.stop().await;
}

#[tokio::test]
async fn a_post_that_accepts_only_html_gets_406() {
    let app = spawn_app().await;
    let res = post_json(&app, "text/html", &json!({ "query": QUERY })).await;
    let (status, _, body) = parts(res).await;
    assert_eq!(status, 406);
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn request_errors_are_400_without_data_under_graphql_response_json() {
    let app = spawn_app().await;
    for (what, request) in [
        ("a parse error", json!({ "query": "{ activities { total " })),
        ("a validation error", json!({ "query": "{ noSuchField }" })),
        (
            "a variable that does not coerce",
            json!({ "query": "query($n: Int!) { activities(perPage: $n) { perPage } }", "variables": { "n": "three" } }),
        ),
        ("a missing query", json!({ "variables": {} })),
    ] {
        let (status, media, body) = parts(post_json(&app, GRAPHQL_RESPONSE, &request).await).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(media, GRAPHQL_RESPONSE, "{what}");
        assert!(body.get("data").is_none(), "{what}: no data entry: {body}");
        assert!(
            !body["errors"].as_array().expect("errors").is_empty(),
            "{what}"
        );
    }
    // Invalid JSON is a 400 too.
    let res = post_raw(&app, Some(GRAPHQL_RESPONSE), Some(JSON), "{\"query\":").await;
    assert_eq!(res.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn request_errors_are_200_with_errors_under_application_json() {
    let app = spawn_app().await;
    for (what, request) in [
        ("a parse error", json!({ "query": "{ activities { total " })),
        ("a validation error", json!({ "query": "{ noSuchField }" })),
        (
            "a variable that does not coerce",
            json!({ "query": "query($n: Int!) { activities(perPage: $n) { perPage } }", "variables": { "n": "three" } }),
        ),
    ] {
        let (status, media, body) = parts(post_json(&app, JSON, &request).await).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(media, JSON, "{what}");
        assert_eq!(body["data"], Value::Null, "{what}: {body}");
        assert!(
            !body["errors"].as_array().expect("errors").is_empty(),
            "{what}"
        );
    }
    // A request that is not a GraphQL request at all is still a 400.
    let (status, _, _) = parts(post_json(&app, JSON, &json!({ "variables": {} })).await).await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn a_post_that_is_not_json_gets_415() {
    let app = spawn_app().await;
    let body = json!({ "query": QUERY }).to_string();
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let res = post_raw(&app, Some(GRAPHQL_RESPONSE), content_type, body.clone()).await;
        assert_eq!(res.status(), 415, "Content-Type: {content_type:?}");
    }
    // A charset parameter on application/json is fine.
    let res = post_raw(
        &app,
        Some(GRAPHQL_RESPONSE),
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_cross_site_text_plain_post_writes_nothing() {
    // The request a hostile page can send without a preflight.
    let app = spawn_app().await;
    let res = app
        .http
        .post(app.url("/graphql"))
        .header("Origin", "https://evil.example")
        .header(CONTENT_TYPE, "text/plain")
        .body(json!({ "query": LOG }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // Nor may a mutation ride a GET (an <img> or a link).
    let res = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", LOG)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(rows(&app).await, 0, "nothing was written");
    app.stop().await;
}

#[tokio::test]
async fn a_mutation_by_get_gets_405_with_allow_post() {
    let app = spawn_app().await;
    for accept in [GRAPHQL_RESPONSE, JSON] {
        let res = app
            .http
            .get(app.url("/graphql"))
            .header(ACCEPT, accept)
            .query(&[("query", LOG)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "Accept: {accept}");
        assert_eq!(res.headers()["allow"], "POST");
        assert_eq!(media_type(&res), accept);
    }
    // Also when the mutation is the named operation of a document that holds a query too.
    let res = app
        .http
        .get(app.url("/graphql"))
        .query(&[
            (
                "query",
                format!("query Q {{ __typename }} {LOG}").replace("mutation {", "mutation M {"),
            ),
            ("operationName", "M".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(rows(&app).await, 0);
    // And POST runs it.
    let (status, _, body) =
        parts(post_json(&app, GRAPHQL_RESPONSE, &json!({ "query": LOG })).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rows(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_query_by_get_works_with_variables() {
    let app = spawn_app().await;
    app.log(json!({ "action": "get.one" })).await;
    app.log(json!({ "action": "get.two" })).await;
    for accept in [GRAPHQL_RESPONSE, JSON] {
        let res = app
            .http
            .get(app.url("/graphql"))
            .header(ACCEPT, accept)
            .query(&[
                (
                    "query",
                    "query Page($n: Int!, $f: ActivityFilter) { activities(perPage: $n, filter: $f) { perPage total entries { action } } }",
                ),
                ("variables", r#"{"n": 1, "f": {"action": "get.*"}}"#),
                ("operationName", "Page"),
            ])
            .send()
            .await
            .unwrap();
        let (status, media, body) = parts(res).await;
        assert_eq!((status, media.as_str()), (200, accept), "{body}");
        assert_eq!(body["data"]["activities"]["perPage"], 1);
        assert_eq!(body["data"]["activities"]["total"], 2);
        assert_eq!(
            body["data"]["activities"]["entries"],
            json!([{ "action": "get.two" }])
        );
    }
    // Variables that are not JSON are a 400.
    let res = app
        .http
        .get(app.url("/graphql"))
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .query(&[("query", QUERY), ("variables", "{nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn batches_are_refused_by_default() {
    let app = spawn_app().await;
    let batch = json!([{ "query": QUERY }, { "query": LOG }]);
    for accept in [GRAPHQL_RESPONSE, JSON] {
        let (status, media, body) = parts(post_json(&app, accept, &batch).await).await;
        assert_eq!((status, media.as_str()), (400, accept), "{body}");
        assert!(body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("batch"));
    }
    assert_eq!(rows(&app).await, 0, "no part of a refused batch ran");
    app.stop().await;
}

#[tokio::test]
async fn batches_are_accepted_up_to_the_configured_cap() {
    let app = spawn_app_with(|c| c.limits.max_batched_operations = 2).await;
    let (status, media, body) = parts(
        post_json(
            &app,
            GRAPHQL_RESPONSE,
            &json!([{ "query": QUERY }, { "query": LOG }]),
        )
        .await,
    )
    .await;
    assert_eq!((status, media.as_str()), (200, GRAPHQL_RESPONSE), "{body}");
    let answers = body.as_array().expect("one answer per operation");
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["data"]["activities"]["perPage"], 1);
    assert!(answers[1]["data"]["log"]["activity"]["uuid"].is_string());
    assert_eq!(rows(&app).await, 1);

    for too_many in [
        json!([]),
        json!([{ "query": LOG }, { "query": LOG }, { "query": LOG }]),
    ] {
        let res = post_json(&app, GRAPHQL_RESPONSE, &too_many).await;
        assert_eq!(res.status(), 400, "{too_many}");
    }
    assert_eq!(rows(&app).await, 1, "nothing of the refused batches ran");
    app.stop().await;
}

#[tokio::test]
async fn cors_headers_go_to_allowed_origins_only() {
    let allowed = "https://app.example";
    let app = spawn_app_with(|c| c.limits.cors_origins = vec![allowed.parse().unwrap()]).await;

    // The preflight a browser sends before a JSON POST.
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type, authorization",
            )
            .send()
    };
    let res = preflight(allowed).await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], allowed);
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("content-type") && headers.contains("authorization"),
        "{headers}"
    );

    let res = preflight("https://evil.example").await.unwrap();
    // Without Access-Control-Allow-Origin the browser refuses, whatever else
    // the preflight answer says.
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert!(res
        .headers()
        .get("access-control-allow-credentials")
        .is_none());

    // The actual request.
    let post = |origin: &'static str| {
        app.http
            .post(app.url("/graphql"))
            .header("Origin", origin)
            .json(&json!({ "query": QUERY }))
            .send()
    };
    let res = post(allowed).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], allowed);
    let vary = res
        .headers()
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    assert!(vary.contains("origin"), "Vary: {vary}");
    let res = post("https://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

#[tokio::test]
async fn without_configured_origins_no_cors_headers_are_sent() {
    let app = spawn_app().await;
    let res = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = app
        .http
        .post(app.url("/graphql"))
        .header("Origin", "https://app.example")
        .json(&json!({ "query": QUERY }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

#[tokio::test]
async fn an_apollo_persisted_query_round_trip() {
    let app = spawn_app().await;
    // printf '%s' '{ activities(perPage: 1) { perPage } }' | sha256sum
    let hash = "83123c64304317be5eeb506d53ae1a346b85bcd993af39fc3990910a54363672";
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let expected = json!({ "activities": { "perPage": 1 } });

    // 1. The hash alone, before the server has seen the query.
    for accept in [JSON, GRAPHQL_RESPONSE] {
        let (status, _, body) =
            parts(post_json(&app, accept, &json!({ "extensions": extensions })).await).await;
        assert_eq!(
            body["errors"][0]["message"], "PersistedQueryNotFound",
            "{body}"
        );
        assert_eq!(status, if accept == JSON { 200 } else { 400 });
    }
    // 2. The hash with the query: executed, and remembered.
    let (status, _, body) = parts(
        post_json(
            &app,
            GRAPHQL_RESPONSE,
            &json!({ "query": QUERY, "extensions": extensions }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], expected);
    // 3. The hash alone now runs the query.
    for accept in [JSON, GRAPHQL_RESPONSE] {
        let (status, _, body) =
            parts(post_json(&app, accept, &json!({ "extensions": extensions })).await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({ "data": expected }));
    }
    // A hash that is not the query's is refused, and stores nothing.
    let wrong = json!({ "persistedQuery": { "version": 1, "sha256Hash": "0".repeat(64) } });
    let (status, _, body) = parts(
        post_json(
            &app,
            GRAPHQL_RESPONSE,
            &json!({ "query": "{ __typename }", "extensions": wrong }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (_, _, body) =
        parts(post_json(&app, GRAPHQL_RESPONSE, &json!({ "extensions": wrong })).await).await;
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    app.stop().await;
}

#[tokio::test]
async fn the_websocket_on_graphql_answers_the_clients_close_frame() {
    // RFC 6455 §5.5.1: a Close frame is answered with a Close frame; without
    // it, a browser or the ws package reports 1006 (abnormal closure).
    let app = spawn_app().await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut ws = app.websocket_with(protocol, json!({})).await;
        assert_eq!(ws.close_handshake().await, Some(1000), "{protocol}");
    }
    app.stop().await;
}
