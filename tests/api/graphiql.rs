//! GraphiQL for a browser that GETs `/graphql`.

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_browser_getting_graphql_gets_the_graphiql_page() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let res = app
        .http
        .get(app.url("/graphql"))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = res.text().await.unwrap();
    assert!(page.contains("<title>GraphiQL IDE</title>"), "{page}");
    assert!(page.contains("url: createUrl('/graphql')"), "{page}");
    assert!(
        page.contains("subscriptionUrl: createUrl('/graphql', true)"),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_get_that_does_not_ask_for_html_is_a_graphql_request() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let res = app
        .http
        .get(app.url("/graphql"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();

    // Assert: not the page, but a GraphQL request error (it has no query).
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "errors": [{
            "message": "the `query` parameter is missing (persisted queries need POST)",
            "extensions": { "code": "BAD_REQUEST" },
        }]})
    );
    app.stop().await;
}
