//! Files compiled into the binary and served as they are: the dashboard's
//! and GraphiQL's. The server needs nothing beside it, and the pages fetch
//! nothing from elsewhere.
//!
//! File names carry no content hash (there is no build step), so responses
//! say `Cache-Control: no-cache` with a strong `ETag`: a browser keeps its
//! copy and revalidates it, getting `304 Not Modified` until a new binary
//! ships different bytes.

use std::sync::LazyLock;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    /// Its path under its directory, which is also its URL under the page's prefix.
    pub path: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// A strong validator, derived from the bytes on first use (at compile
    /// time it would exceed const evaluation's budget for GraphiQL's bundle).
    pub etag: LazyLock<u64>,
}

/// Embeds `<dir>/<path>` of the crate as an [`Asset`] named `path`.
macro_rules! asset {
    ($dir:literal, $path:literal) => {{
        const BODY: &[u8] =
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, "/", $path));
        $crate::http::embedded::Asset {
            path: $path,
            body: BODY,
            etag: std::sync::LazyLock::new(|| $crate::http::embedded::fnv1a(BODY)),
        }
    }};
}
pub(crate) use asset;

/// 64-bit FNV-1a: cheap, stable, and enough to tell two versions of a file apart.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The asset with its content type and validators, or `304` when the
/// browser's copy is current.
pub fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", *asset.etag);
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

/// The media type of an embedded file, from its extension.
pub fn content_type(path: &str) -> &'static str {
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

/// Every file under `dir`, relative to `base`, with `/` separators.
#[cfg(test)]
pub fn files_on_disk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("the directory is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_on_disk(&path, base, out);
        } else {
            let relative = path.strip_prefix(base).expect("under the base");
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_when_bytes_differ() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
