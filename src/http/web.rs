//! The voter UI from `web/`, embedded at compile time.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use super::error::ApiError;

#[derive(Embed)]
#[folder = "web/"]
struct WebAssets;

/// Unknown API paths and other paths that are not the UI's are JSON 404s; other GETs get the
/// asset, or `index.html` for extension-less paths so deep links into the single-page UI work.
pub(super) async fn static_or_not_found(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if !is_ui_path(path) || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::NotFound.into_response();
    }
    let wanted = path.trim_start_matches('/');
    let wanted = if wanted.is_empty() {
        "index.html"
    } else {
        wanted
    };
    let looks_like_file = wanted
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'));
    let asset = match WebAssets::get(wanted) {
        Some(asset) => asset,
        None if looks_like_file => return ApiError::NotFound.into_response(),
        None => match WebAssets::get("index.html") {
            Some(index) => index,
            None => return ApiError::NotFound.into_response(),
        },
    };
    let etag = format!("\"{}\"", hex(&asset.metadata.sha256_hash()[..16]));
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(asset.data.into_owned()))
    };
    let headers = response.headers_mut();
    let mime = asset.metadata.mimetype();
    let textual =
        mime.starts_with("text/") || mime == "application/javascript" || mime.ends_with("+xml");
    let content_type = if textual {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    // File names carry no content hash, so browsers revalidate (cheap, thanks to the ETag).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Paths the single-page UI may own. Not: any case of `/api` (the router matches it exactly,
/// so `/API/...` would otherwise fall through to the index page), `/metrics` (served on the
/// private listener only), and dot-files or dot-directories anywhere (`/.git/config`, `/.env`):
/// an index page with 200 there tells scanners the path exists and hides real mistakes.
fn is_ui_path(path: &str) -> bool {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let first = segments.next().unwrap_or("");
    if first.eq_ignore_ascii_case("api") || first.eq_ignore_ascii_case("metrics") {
        return false;
    }
    !path.split('/').any(|segment| segment.starts_with('.'))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::is_ui_path;

    #[test]
    fn api_metrics_and_dot_files_are_not_ui_paths() {
        for path in [
            "/api",
            "/API/x",
            "/Api/",
            "/metrics",
            "/Metrics/x",
            "/.git/config",
            "/a/.env",
            "/.well-known/x",
        ] {
            assert!(!is_ui_path(path), "{path}");
        }
        for path in [
            "/",
            "/index.html",
            "/vote",
            "/admin/elections",
            "/crypto/a.js",
            "/apis",
            "/metricsboard",
        ] {
            assert!(is_ui_path(path), "{path}");
        }
    }
}
