//! The voter UI from `web/`, embedded at compile time.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use super::error::ApiError;

#[derive(Embed)]
#[folder = "web/"]
struct WebAssets;

/// Unknown `/api/` paths are JSON 404s; other GETs get the asset, or `index.html` for
/// extension-less paths so deep links into the single-page UI work.
pub async fn static_or_not_found(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let is_api = path == "/api" || path.starts_with("/api/");
    if is_api || !(method == Method::GET || method == Method::HEAD) {
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
