//! GraphiQL for a browser that GETs `/graphql`: a pinned build served from
//! the binary under a strict Content-Security-Policy, loading nothing from
//! another origin, off with `GRAPHIQL=false`.

use sha2::{Digest, Sha256};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

/// What a browser's address bar sends.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// GETs `path` as a browser would; returns the response.
async fn browse(app: &TestApp, path: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .unwrap()
}

/// The values of every `src="…"` and `href="…"` attribute of `html`.
fn linked(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| {
            html.match_indices(attribute).filter_map(move |(at, _)| {
                let rest = &html[at + attribute.len()..];
                rest.find('"').map(|end| rest[..end].to_owned())
            })
        })
        .collect()
}

/// Every place in `text` that names a host: `//` directly followed by one.
fn hosts_named(text: &str) -> Vec<String> {
    text.match_indices("//")
        .filter(|(at, _)| {
            text[at + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '[')
        })
        .map(|(at, _)| text[at.saturating_sub(10)..(at + 40).min(text.len())].to_owned())
        .collect()
}

#[tokio::test]
async fn a_browser_getting_graphql_gets_the_pinned_graphiql_page_under_a_strict_csp() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let res = browse(&app, "/graphql").await;

    // Assert
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self' 'nonce-",
        "connect-src 'self';",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let page = res.text().await.unwrap();
    assert!(
        page.contains("<title>GraphiQL · activity-feed</title>"),
        "{page}"
    );
    // The style nonce of the policy is the one the page hands GraphiQL.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap();
    assert!(
        page.contains(&format!(r#"<meta name="style-nonce" content="{nonce}">"#)),
        "{page}"
    );
    let links = linked(&page);
    for needed in [
        "/graphiql/vendor/react.production.min.js",
        "/graphiql/vendor/react-dom.production.min.js",
        "/graphiql/vendor/graphiql.min.js",
        "/graphiql/vendor/graphiql.min.css",
        "/graphiql/init.js",
    ] {
        assert!(
            links.iter().any(|l| l == needed),
            "{needed} not in {links:?}"
        );
    }
    assert!(!page.contains("<script>"), "an inline script: {page}");
    app.stop().await;
}

#[tokio::test]
async fn every_file_the_page_loads_is_served_with_its_content_type() {
    // Arrange
    let app = spawn_app().await;
    let page = browse(&app, "/graphql").await.text().await.unwrap();
    // Files, not the link to the dashboard; init.js shares its token code.
    let mut files: Vec<String> = linked(&page)
        .into_iter()
        .filter(|l| l.rsplit('/').next().is_some_and(|name| name.contains('.')))
        .collect();
    files.push("/dashboard/js/auth.js".into());

    // Act + Assert
    for file in files.iter().filter(|f| f.starts_with('/')) {
        let res = app.http.get(app.url(file)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{file}");
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        let expected = match file.rsplit_once('.').map(|(_, ext)| ext) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("{file}: an unexpected kind of file {other:?}"),
        };
        assert_eq!(content_type, expected, "{file}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{file}");
        // Revalidated as the dashboard's files are (tests/api/dashboard.rs).
        assert_eq!(res.headers()["cache-control"], "no-cache", "{file}");
        assert!(res.headers().contains_key("etag"), "{file}");
        assert!(!res.bytes().await.unwrap().is_empty(), "{file}");
    }
    let missing = app.http.get(app.url("/graphiql/nope.js")).send().await;
    assert_eq!(missing.unwrap().status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn nothing_in_the_page_or_its_own_files_names_another_origin() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let mut texts = vec![(
        "/graphql".to_owned(),
        browse(&app, "/graphql").await.text().await.unwrap(),
    )];
    for own in ["/graphiql/init.js", "/graphiql/page.css"] {
        let text = app
            .http
            .get(app.url(own))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        texts.push((own.to_owned(), text));
    }

    // Assert
    for (file, text) in &texts {
        assert!(!text.contains("://"), "{file} names a URL with a scheme");
        assert_eq!(
            hosts_named(text),
            Vec::<String>::new(),
            "{file} names a host"
        );
    }
    // The check finds what it looks for.
    assert_eq!(hosts_named("<script src=\"//unpkg.com/x\">").len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_vendored_files_served_are_the_bytes_recorded_with_their_packages() {
    // Arrange
    let app = spawn_app().await;
    let sums = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/graphiql/vendor/SHA256SUMS"
    ))
    .unwrap();
    let recorded: Vec<(&str, &str)> = sums.lines().filter_map(|l| l.split_once("  ")).collect();
    assert_eq!(recorded.len(), 4, "{sums}");

    // Act + Assert
    for (sum, file) in recorded {
        let res = app
            .http
            .get(app.url(&format!("/graphiql/vendor/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{file}");
        let body = res.bytes().await.unwrap();
        assert_eq!(format!("{:x}", Sha256::digest(&body)), sum, "{file}");
    }
    app.stop().await;
}

#[tokio::test]
async fn graphiql_false_serves_none_of_its_files() {
    // Arrange (security::limits checks that the page is off too)
    let app = spawn_app_with(|config| config.limits.graphiql = false).await;

    // Act
    let script = app.http.get(app.url("/graphiql/init.js")).send().await;
    let bundle = app
        .http
        .get(app.url("/graphiql/vendor/graphiql.min.js"))
        .send()
        .await;

    // Assert
    assert_eq!(script.unwrap().status(), 404);
    assert_eq!(bundle.unwrap().status(), 404);
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
