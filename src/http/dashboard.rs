//! The live dashboard: `GET /` serves the page, `GET /dashboard/…` its
//! stylesheet, scripts and icon. Every file is compiled into the binary, so
//! the server needs nothing beside it and the page fetches nothing from
//! elsewhere.
//!
//! File names carry no content hash (there is no build step), so responses
//! say `Cache-Control: no-cache` with a strong `ETag`: a browser keeps its
//! copy and revalidates it, getting `304 Not Modified` until a new binary
//! ships different bytes.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// What the page may load and connect to: its own origin only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Its path under `dashboard/`, which is also its URL under `/dashboard/`.
    path: &'static str,
    /// Its bytes.
    body: &'static [u8],
    /// A strong validator, derived from the bytes at compile time.
    etag: u64,
}

/// Embeds `dashboard/<path>`.
macro_rules! asset {
    ($path:literal) => {{
        const BODY: &[u8] =
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboard/", $path));
        Asset {
            path: $path,
            body: BODY,
            etag: fnv1a(BODY),
        }
    }};
}

/// The page itself, served at `/`.
static INDEX: Asset = asset!("index.html");

/// Every other file of `dashboard/`; a test checks none is missing.
static ASSETS: &[Asset] = &[
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

/// 64-bit FNV-1a: cheap, stable, and enough to tell two versions of a file apart.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The dashboard's routes; they need no state, so any router can merge them.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/{*path}", get(asset))
}

/// `GET /`: the page.
async fn index(headers: HeaderMap) -> Response {
    let mut response = serve(&INDEX, &headers);
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
        Some(asset) => serve(asset, &headers),
        None => (StatusCode::NOT_FOUND, "no such dashboard file\n").into_response(),
    }
}

/// The asset with its content type and validators, or `304` when the
/// browser's copy is current.
fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.etag);
    let headers = [
        (header::CONTENT_TYPE, content_type(asset.path)),
        (header::CACHE_CONTROL, "no-cache"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers, [(header::ETAG, etag)]).into_response();
    }
    (headers, [(header::ETAG, etag)], asset.body).into_response()
}

/// The media type of a dashboard file, from its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `dashboard/`, relative to it, with `/` separators.
    fn files_on_disk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("dashboard/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                files_on_disk(&path, base, out);
            } else {
                let relative = path.strip_prefix(base).expect("under dashboard/");
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_dashboard_file_is_embedded() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
        let mut on_disk = Vec::new();
        files_on_disk(&base, &base, &mut on_disk);
        on_disk.sort();

        let mut embedded: Vec<String> = std::iter::once(&INDEX)
            .chain(ASSETS)
            .map(|a| a.path.to_owned())
            .collect();
        embedded.sort();

        assert_eq!(
            embedded, on_disk,
            "ASSETS must list every file in dashboard/"
        );
    }

    #[test]
    fn every_embedded_file_has_a_known_content_type() {
        for asset in std::iter::once(&INDEX).chain(ASSETS) {
            assert_ne!(
                content_type(asset.path),
                "application/octet-stream",
                "{}",
                asset.path
            );
        }
    }

    #[test]
    fn etags_differ_when_bytes_differ() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
