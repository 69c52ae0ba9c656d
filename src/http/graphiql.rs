//! GraphiQL for a browser that GETs `/graphql`: a pinned build vendored in
//! `graphiql/vendor/` (see `graphiql/README.md` for its packages and how to
//! rebuild it) and our page around it, all compiled into the binary and
//! served under `/graphiql/…` while `GRAPHIQL` is on.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::embedded::{self, Asset};
use super::AppState;

/// What the page may load and connect to: its own origin only, as the
/// dashboard's (whose token it shares). Two sources beyond `'self'`, both
/// `data:`, because GraphiQL's stylesheet carries its fonts (and icons) as
/// `data:` URLs; nothing runs from them. `connect-src 'self'` covers the
/// `/graphql` websocket (CSP 3 matches `ws:`/`wss:` to the page's own host).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; font-src data:; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Embeds `graphiql/<path>`.
macro_rules! asset {
    ($path:literal) => {
        embedded::asset!("graphiql", $path)
    };
}

/// The page, served at `GET /graphql` to a browser.
static INDEX: Asset = asset!("index.html");

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

/// The GraphiQL page, with its Content-Security-Policy.
pub fn page(headers: &HeaderMap) -> Response {
    embedded::page(&INDEX, headers, CONTENT_SECURITY_POLICY)
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
    fn every_served_file_of_graphiql_is_embedded() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("graphiql");
        let mut on_disk = Vec::new();
        embedded::files_on_disk(&base, &base, &mut on_disk);
        // The build script, its records and the licenses are not served.
        on_disk.retain(|f| f.ends_with(".js") || f.ends_with(".css") || f.ends_with(".html"));
        on_disk.sort();
        let mut served: Vec<String> = std::iter::once(&INDEX)
            .chain(&ASSETS)
            .map(|a| a.path.to_owned())
            .collect();
        served.sort();
        assert_eq!(
            served, on_disk,
            "ASSETS must list every page file of graphiql/"
        );
    }
}
