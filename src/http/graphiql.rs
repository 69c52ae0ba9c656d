//! GraphiQL for a browser that GETs `/graphql`: a pinned build vendored in
//! `graphiql/vendor/` (see `graphiql/README.md` for its packages and how to
//! rebuild it) and our page around it, all compiled into the binary and
//! served under `/graphiql/…` while `GRAPHIQL` is on.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::embedded::{self, Asset};
use super::AppState;

/// What the page may load and connect to: its own origin only, as the
/// dashboard's (whose token it shares), with two exceptions GraphiQL needs.
/// `data:` fonts and images: its stylesheet carries its fonts as `data:`
/// URLs, and nothing runs from them. A style nonce: its dialogs (Radix)
/// lock the page's scrolling by adding a `<style>` element, which takes
/// the nonce from `window.__webpack_nonce__` (set by init.js from the page).
/// `connect-src 'self'` covers the `/graphql` websocket (CSP 3 matches
/// `ws:`/`wss:` to the page's own host).
fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; \
         font-src data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// Where the page holds the response's style nonce.
const NONCE_PLACEHOLDER: &str = "{{STYLE_NONCE}}";

/// Embeds `graphiql/<path>`.
macro_rules! asset {
    ($path:literal) => {
        embedded::asset!("graphiql", $path)
    };
}

/// The page, served at `GET /graphql` to a browser, with a fresh nonce in
/// place of [`NONCE_PLACEHOLDER`] each time.
const INDEX: &str = include_str!("../../graphiql/index.html");

/// What the page loads, under `/graphiql/`; a test checks the vendored files
/// against their recorded sha256.
static ASSETS: [Asset; 6] = [
    asset!("init.js"),
    asset!("page.css"),
    asset!("vendor/graphiql.min.css"),
    asset!("vendor/graphiql.min.js"),
    asset!("vendor/react-dom.production.min.js"),
    asset!("vendor/react.production.min.js"),
];

/// GraphiQL's assets; the page itself is served by `/graphql`'s GET.
pub fn router() -> Router<AppState> {
    Router::new().route("/graphiql/{*path}", get(asset))
}

/// The GraphiQL page with a style nonce of its own, under its
/// Content-Security-Policy; never cached, as no two responses are alike.
pub fn page() -> Response {
    let nonce = STANDARD.encode(rand::random::<[u8; 16]>());
    let policy = content_security_policy(&nonce);
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        INDEX.replace(NONCE_PLACEHOLDER, &nonce),
    )
        .into_response();
    // Base64 and ASCII text only: always a header value.
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// `GET /graphiql/<path>`: one asset, or 404 (always, with `GRAPHIQL=false`).
async fn asset(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(asset) if state.limits.graphiql => embedded::serve(asset, &headers),
        _ => (StatusCode::NOT_FOUND, "no such GraphiQL file\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// `graphiql/vendor/SHA256SUMS`: `<sha256>  <file>` lines, as `sha256sum` writes.
    const SUMS: &str = include_str!("../../graphiql/vendor/SHA256SUMS");

    #[test]
    fn vendored_files_are_the_recorded_bytes() {
        let recorded: Vec<(&str, &str)> = SUMS
            .lines()
            .filter_map(|line| line.split_once("  "))
            .collect();
        let vendored: Vec<&Asset> = ASSETS
            .iter()
            .filter(|a| a.path.starts_with("vendor/"))
            .collect();
        assert_eq!(recorded.len(), vendored.len(), "{SUMS}");
        for asset in vendored {
            let name = &asset.path["vendor/".len()..];
            let (sum, _) = recorded
                .iter()
                .find(|(_, file)| *file == name)
                .unwrap_or_else(|| panic!("{name} is not in SHA256SUMS"));
            assert_eq!(
                format!("{:x}", Sha256::digest(asset.body)),
                *sum,
                "{name} differs from what graphiql/build.sh fetches"
            );
        }
    }

    #[test]
    fn each_page_has_its_own_nonce_in_its_policy_and_its_page() {
        let nonce_of = |response: &Response| {
            let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .to_owned();
            let start = policy.find("'nonce-").unwrap() + "'nonce-".len();
            let end = start + policy[start..].find('\'').unwrap();
            policy[start..end].to_owned()
        };
        let (first, second) = (page(), page());
        assert_ne!(nonce_of(&first), nonce_of(&second));
        assert_eq!(STANDARD.decode(nonce_of(&first)).unwrap().len(), 16);
        assert!(INDEX.contains(NONCE_PLACEHOLDER));
    }

    #[test]
    fn every_served_file_of_graphiql_is_embedded() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("graphiql");
        let mut on_disk = Vec::new();
        embedded::files_on_disk(&base, &base, &mut on_disk);
        // The build script, its records and the licenses are not served.
        on_disk.retain(|f| f.ends_with(".js") || f.ends_with(".css") || f.ends_with(".html"));
        on_disk.sort();
        let mut served: Vec<String> = std::iter::once("index.html")
            .chain(ASSETS.iter().map(|a| a.path))
            .map(str::to_owned)
            .collect();
        served.sort();
        assert_eq!(
            served, on_disk,
            "ASSETS must list every page file of graphiql/"
        );
    }
}
