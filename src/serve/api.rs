//! What every route shares: the JSON error, reading a capped body, and the guards against
//! other web pages (DNS rebinding, cross-site requests).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The largest request body read.
pub const MAX_BODY: usize = 4 << 20;

/// A request refused or failed: a status and one line, sent as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.status, &self.message)
    }
}

/// `{"error": message}` with `status`.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": nndl::shorten(message, 1000) }))).into_response()
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Runs CPU work (a forward pass, an evaluation) off the async threads; a panic in it is a 500.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("the work failed: {e}"))))
}

/// Work small enough to run on the async thread that took the request (well under a
/// millisecond: handing it to the blocking pool and waking the task again costs about as much,
/// and under load the extra threads only queue for the same cores); larger work goes to
/// [`blocking`]. A panic in it is still a 500 (the router's catch-panic layer).
pub async fn inline_or_blocking<T: Send + 'static>(
    small: bool,
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    if small { work() } else { blocking(work).await }
}

/// The body, refused past [`MAX_BODY`] (413): at once when its `Content-Length` says so,
/// else once that much has come.
pub async fn read_body(headers: &HeaderMap, body: Body) -> ApiResult<Bytes> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} MiB; send a smaller image", MAX_BODY >> 20),
        )
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| too_large())
}

/// What a POST body is, by its Content-Type.
#[derive(Debug, PartialEq)]
pub enum BodyKind {
    Json,
    Image,
}

/// JSON (also when no type is given, as curl's `-d` sends form-encoded by default) or an image;
/// anything else is a 415.
pub fn body_kind(headers: &HeaderMap) -> ApiResult<BodyKind> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(BodyKind::Json) };
    let mime = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" | "" | "application/x-www-form-urlencoded" | "text/plain" => Ok(BodyKind::Json),
        m if m.starts_with("image/") || m == "application/octet-stream" => Ok(BodyKind::Image),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "a body of type {other}: send JSON (application/json) or an image (image/png, image/jpeg)"
            ),
        )),
    }
}

/// Parses a JSON body into `T`, a 400 naming what is wrong.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(b"{}").map_err(|e| ApiError::bad(format!("the body is empty: {e}")));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad(format!("the body is not the JSON expected: {e}")))
}

/// Whether a `Host` header names this machine by a loopback name (with any port).
fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name == "::1"
        || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The guards, before any route: while bound to loopback, a request whose `Host` is not a
/// loopback name is refused (421: another site's name resolving to 127.0.0.1, DNS rebinding);
/// a request that changes something (`POST`) from another origin is refused (403: CSRF).
pub async fn guard(State(app): State<Arc<super::App>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if app.loopback && !loopback_host(host) {
        return error_response(
            StatusCode::MISDIRECTED_REQUEST,
            &format!(
                "this server answers requests for localhost only, not for '{}'; open http://127.0.0.1:{}/",
                nndl::shorten(host, 100),
                app.port
            ),
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let origin = headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("?"));
        let cross_site =
            headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        let same_origin = origin
            .is_none_or(|o| o.strip_prefix("http://").is_some_and(|rest| rest.eq_ignore_ascii_case(host)));
        if cross_site || !same_origin {
            return error_response(
                StatusCode::FORBIDDEN,
                &format!(
                    "a {} from another origin ({}) is refused; use the page this server serves",
                    request.method(),
                    nndl::shorten(origin.unwrap_or("cross-site"), 100)
                ),
            );
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allow = response.headers().get(header::ALLOW).cloned();
        let mut replaced =
            error_response(StatusCode::METHOD_NOT_ALLOWED, "this route does not take that method");
        if let Some(allow) = allow {
            replaced.headers_mut().insert(header::ALLOW, allow);
        }
        return replaced;
    }
    response
}

/// Unknown routes: a JSON 404.
pub async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}; see docs/serve-api.md",
        request.method(),
        request.uri().path()
    ))
}

/// A panic in a handler: a JSON 500, and the server goes on.
pub fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the server hit a bug answering this request; it is still running",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_pass_the_host_check() {
        for ok in ["localhost", "localhost:8080", "127.0.0.1:1", "127.8.0.1", "[::1]:80", "a.localhost:3"] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in ["", "evil.com", "evil.com:8080", "localhost.evil.com", "10.0.0.1:80", "[::2]:80"] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }
}
