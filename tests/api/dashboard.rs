//! The dashboard page: `GET /` serves it, and everything it loads is served
//! too, with the right content type and revalidation headers.

use std::collections::{BTreeSet, VecDeque};

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::{StatusCode, Url};

use crate::helpers::spawn_app;

/// The values of `attr="…"` attributes in an HTML document.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// The specifiers of a module's static imports (`from '…'`, `import '…'`).
fn import_specifiers(js: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for keyword in ["from ", "import "] {
        for (at, _) in js.match_indices(keyword) {
            let rest = &js[at + keyword.len()..];
            let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                out.push(&rest[1..1 + end]);
            }
        }
    }
    out.into_iter().filter(|s| s.starts_with('.')).collect()
}

/// `url(…)` references in a stylesheet, other than inline data.
fn css_urls(css: &str) -> Vec<&str> {
    css.match_indices("url(")
        .filter_map(|(at, _)| {
            let rest = &css[at + 4..];
            rest.find(')')
                .map(|end| rest[..end].trim_matches(|c| c == '"' || c == '\''))
        })
        .filter(|u| !u.starts_with("data:"))
        .collect()
}

fn expected_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        other => panic!("unexpected asset type {other:?} for {path}"),
    }
}

#[tokio::test]
async fn root_serves_the_dashboard_page() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let res = app.http.get(app.url("/")).send().await.unwrap();

    // Assert
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    assert!(res.headers().contains_key(ETAG));
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<table id=\"feed\""));
    assert!(html.contains("<title>Activity feed</title>"));
    app.stop().await;
}

#[tokio::test]
async fn every_asset_the_page_references_is_served() {
    // Arrange
    let app = spawn_app().await;
    let root = Url::parse(&app.url("/")).unwrap();
    let html = app
        .http
        .get(root.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut queue: VecDeque<Url> = attribute_values(&html, "src")
        .into_iter()
        .chain(attribute_values(&html, "href"))
        .filter(|v| !v.starts_with('#'))
        .map(|v| root.join(v).unwrap())
        .collect();
    let mut served = BTreeSet::new();

    // Act: follow every reference, the modules' imports included.
    while let Some(url) = queue.pop_front() {
        if !served.insert(url.path().to_owned()) {
            continue;
        }
        assert_eq!(url.origin(), root.origin(), "{url} is not on the server");
        let res = app.http.get(url.clone()).send().await.unwrap();

        // Assert
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        assert_eq!(
            res.headers()[CONTENT_TYPE],
            expected_type(url.path()),
            "{url}"
        );
        assert_eq!(res.headers()[CACHE_CONTROL], "no-cache", "{url}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{url}");
        let body = res.text().await.unwrap();
        assert!(!body.is_empty(), "{url} is empty");
        let references = match url.path().rsplit_once('.').map(|(_, e)| e) {
            Some("js") => import_specifiers(&body),
            Some("css") => css_urls(&body),
            _ => Vec::new(),
        };
        queue.extend(references.into_iter().map(|r| url.join(r).unwrap()));
    }

    assert!(served.contains("/dashboard/js/main.js"), "{served:?}");
    assert!(served.contains("/dashboard/js/live.js"), "{served:?}");
    assert!(served.contains("/dashboard/app.css"), "{served:?}");
    assert!(served.len() >= 15, "only {served:?}");
    app.stop().await;
}

#[tokio::test]
async fn assets_revalidate_with_their_etag() {
    // Arrange
    let app = spawn_app().await;
    let url = app.url("/dashboard/js/main.js");
    let first = app.http.get(&url).send().await.unwrap();
    let etag = first.headers()[ETAG].clone();

    // Act
    let again = app
        .http
        .get(&url)
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    let changed = app
        .http
        .get(&url)
        .header(IF_NONE_MATCH, "\"0000000000000000\"")
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG], etag);
    assert!(again.text().await.unwrap().is_empty());
    assert_eq!(changed.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn unknown_dashboard_paths_are_not_found() {
    let app = spawn_app().await;

    for path in [
        "/dashboard/nope.js",
        "/dashboard/../Cargo.toml",
        "/dashboard/js/",
    ] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    app.stop().await;
}

#[test]
fn the_reference_scanners_read_what_the_page_uses() {
    assert_eq!(
        attribute_values(r#"<a href="x.css"><img src="a.svg" alt="">"#, "src"),
        ["a.svg"]
    );
    assert_eq!(
        import_specifiers("import { a } from './a.js';\nimport './b.js';\nconst from = 1;"),
        ["./a.js", "./b.js"]
    );
    assert_eq!(
        css_urls("a { background: url('i.svg') } b { background: url(data:,x) }"),
        ["i.svg"]
    );
}
