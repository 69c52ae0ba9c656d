//! The live dashboard: `GET /` serves the page, `GET /dashboard/…` its
//! stylesheet, scripts and icon, all compiled into the binary (`embedded`).

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::embedded::{self, Asset};

/// What the page may load and connect to: its own origin only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Embeds `dashboard/<path>`.
macro_rules! asset {
    ($path:literal) => {
        embedded::asset!("dashboard", $path)
    };
}

/// The page itself, served at `/`.
static INDEX: Asset = asset!("index.html");

/// Every other file of `dashboard/`; a test checks none is missing.
static ASSETS: [Asset; 19] = [
    asset!("app.css"),
    asset!("favicon.svg"),
    asset!("js/auth.js"),
    asset!("js/badges.js"),
    asset!("js/chart.js"),
    asset!("js/detail.js"),
    asset!("js/dom.js"),
    asset!("js/feed.js"),
    asset!("js/filter-form.js"),
    asset!("js/filters.js"),
    asset!("js/format.js"),
    asset!("js/graphql.js"),
    asset!("js/live.js"),
    asset!("js/main.js"),
    asset!("js/metadata.js"),
    asset!("js/queries.js"),
    asset!("js/table.js"),
    asset!("js/top-actions.js"),
    // The dashboard's documents as a trusted-documents manifest; the server
    // trusts it (graphql::trusted), and it is no secret: queries.js holds them.
    asset!("trusted-documents.json"),
];

/// The dashboard's routes; they need no state, so any router can merge them.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/{*path}", get(asset))
}

/// `GET /`: the page.
async fn index(headers: HeaderMap) -> Response {
    let mut response = embedded::serve(&INDEX, &headers);
    let security = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    response.headers_mut().extend(security);
    response
}

/// `GET /dashboard/<path>`: one asset, or 404.
async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(asset) => embedded::serve(asset, &headers),
        None => (StatusCode::NOT_FOUND, "no such dashboard file\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dashboard_file_is_embedded() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
        let mut on_disk = Vec::new();
        embedded::files_on_disk(&base, &base, &mut on_disk);
        on_disk.sort();

        let mut served: Vec<String> = std::iter::once(&INDEX)
            .chain(&ASSETS)
            .map(|a| a.path.to_owned())
            .collect();
        served.sort();

        assert_eq!(served, on_disk, "ASSETS must list every file in dashboard/");
    }

    #[test]
    fn every_embedded_file_has_a_known_content_type() {
        for asset in std::iter::once(&INDEX).chain(&ASSETS) {
            assert_ne!(
                embedded::content_type(asset.path),
                "application/octet-stream",
                "{}",
                asset.path
            );
        }
    }
}
