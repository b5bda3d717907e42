//! The admin API over HTTP: routes, JSON bodies with a size limit, errors as
//! `{code, message}`, the Unix-socket listener (mode 0600; a stale socket is
//! replaced, a live one is never stolen) and the optional loopback TCP
//! listener that requires a bearer token compared in constant time.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use thiserror::Error;
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::api::{ApiError, Batch, Health, PutIdentifier, PutRrset};
use super::listener::ConnectionLimits;
use super::service::{AdminError, AdminService, ErrorKind};

#[derive(Debug, Error)]
pub enum AdminListenError {
    #[error(
        "admin socket {0} is in use by a running server; stop it first or choose another admin.socket"
    )]
    SocketInUse(PathBuf),
    #[error(
        "admin socket path {0} holds something that is not a socket; it is left alone: move it or choose another admin.socket"
    )]
    NotASocket(PathBuf),
    #[error("admin socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("admin TCP listener {address}: {source}")]
    Tcp {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("admin token file {path}: {message}")]
    Token { path: PathBuf, message: String },
    #[error("admin.socket-group = '{0}': no such group on this host")]
    UnknownGroup(String),
}

#[derive(Clone)]
struct AppState {
    service: Arc<AdminService>,
    max_body_bytes: usize,
    body_timeout: std::time::Duration,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if self.kind == ErrorKind::Internal {
            warn!(error = %self.message, "admin request failed");
        }
        (
            status,
            Json(ApiError {
                code: self.kind.code().into(),
                message: self.message,
            }),
        )
            .into_response()
    }
}

/// Replaces every quoted or backquoted token a JSON error quotes from the
/// request (a value, or the name of an unknown field) with `…`, so nothing
/// submitted is echoed back. What follows "expected" lists our own field
/// names and types, and stays.
fn redact_json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let (submitted, ours) = match text.find("expected") {
        Some(at) => text.split_at(at),
        None => (text.as_str(), ""),
    };
    let mut out = String::with_capacity(text.len());
    let mut open: Option<char> = None;
    for c in submitted.chars() {
        match (open, c) {
            (None, '"') | (None, '`') => {
                open = Some(c);
                out.push(c);
                out.push('…');
            }
            (Some(quote), c) if c == quote => {
                out.push(c);
                open = None;
            }
            (Some(_), _) => {}
            (None, c) => out.push(c),
        }
    }
    out.push_str(ours);
    out
}

async fn read_json<T: DeserializeOwned>(body: Body, state: &AppState) -> Result<T, AdminError> {
    let limit = state.max_body_bytes;
    let reading = axum::body::to_bytes(body, limit);
    let bytes: Bytes = tokio::time::timeout(state.body_timeout, reading)
        .await
        .map_err(|_| {
            AdminError::new(
                ErrorKind::Timeout,
                format!(
                    "the request body did not arrive within {} s",
                    state.body_timeout.as_secs()
                ),
            )
        })?
        .map_err(|_| {
            AdminError::new(
                ErrorKind::PayloadTooLarge,
                format!("request body is larger than {limit} bytes"),
            )
        })?;
    // Valid bodies decode once, untracked; only a bad one is decoded again
    // with the path tracking that names the field in the error (it costs
    // about as much as the decoding itself on a 5,000-operation batch).
    if let Ok(value) = serde_json::from_slice::<T>(&bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at {path}")
        };
        AdminError::new(
            ErrorKind::BadRequest,
            format!(
                "request body is not valid{at}: {}",
                redact_json_error(e.inner())
            ),
        )
    })?;
    deserializer.end().map_err(|e| {
        AdminError::new(
            ErrorKind::BadRequest,
            format!("request body is not valid: {}", redact_json_error(&e)),
        )
    })?;
    Ok(value)
}

fn path_parts<T>(path: Result<UrlPath<T>, PathRejection>) -> Result<T, AdminError> {
    path.map(|UrlPath(parts)| parts)
        .map_err(|_| AdminError::new(ErrorKind::BadRequest, "the request path does not decode"))
}

/// 200 with `status: ok` when the store is sound; 503 with `status:
/// degraded` and the store's problem otherwise, so a probe notices.
async fn health(State(state): State<AppState>) -> Response {
    use crate::store::StoreProblem;
    let store = state.service.catalog().store();
    let problem = store.problem();
    let health = Health {
        status: if problem.is_none() { "ok" } else { "degraded" }.into(),
        zones: state.service.catalog().zones().len(),
        memory_index_ready: store.index_ready(),
        store: match &problem {
            None => "ok".into(),
            Some(StoreProblem::Corrupt(message)) => format!("corrupt: {message}"),
            Some(StoreProblem::Failing(message)) => format!("failing: {message}"),
        },
    };
    let status = if problem.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

async fn zones(State(state): State<AppState>) -> Response {
    Json(state.service.zones()).into_response()
}

/// `GET /v1/metrics`: the Prometheus exposition, as on `metrics.listen`.
async fn metrics(State(state): State<AppState>) -> Response {
    match state.service.metrics() {
        Some(metrics) => metrics_response(metrics),
        None => {
            AdminError::new(ErrorKind::NotFound, "this server keeps no metrics").into_response()
        }
    }
}

fn metrics_response(metrics: &Arc<crate::metrics::Metrics>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        metrics.encode(),
    )
        .into_response()
}

/// `GET /v1/stats`: the same figures as JSON, for `admin stats`.
async fn stats(State(state): State<AppState>) -> Response {
    match state.service.metrics() {
        Some(metrics) => Json(metrics.stats()).into_response(),
        None => {
            AdminError::new(ErrorKind::NotFound, "this server keeps no metrics").into_response()
        }
    }
}

/// Serves `GET /metrics` on `metrics.listen` until `shutdown`: read-only
/// counters, no admin routes.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: CancellationToken,
) {
    let router = Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { metrics_response(&metrics) }
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "only /metrics is served here\n") });
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = served {
        warn!(error = %e, "metrics listener stopped");
    }
}

async fn reload(State(state): State<AppState>) -> Response {
    match state.service.reload().await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

type ZoneAndItem = Result<UrlPath<(String, String)>, PathRejection>;

async fn put_identifier(
    State(state): State<AppState>,
    path: ZoneAndItem,
    body: Body,
) -> Result<Response, AdminError> {
    let (zone, identifier) = path_parts(path)?;
    let request: PutIdentifier = read_json(body, &state).await?;
    let result = state
        .service
        .put_identifier(&zone, &identifier, &request.mappings)
        .await?;
    info!(zone = %zone, serial = result.serial, "identifier mappings replaced");
    Ok(Json(result).into_response())
}

async fn add_mappings(
    State(state): State<AppState>,
    path: ZoneAndItem,
    body: Body,
) -> Result<Response, AdminError> {
    let (zone, identifier) = path_parts(path)?;
    let request: PutIdentifier = read_json(body, &state).await?;
    let result = state
        .service
        .add_mappings(&zone, &identifier, &request.mappings)
        .await?;
    info!(zone = %zone, serial = result.serial, "identifier mappings added");
    Ok(Json(result).into_response())
}

async fn get_identifier(
    State(state): State<AppState>,
    path: ZoneAndItem,
) -> Result<Response, AdminError> {
    let (zone, identifier) = path_parts(path)?;
    Ok(Json(state.service.get_identifier(&zone, &identifier)?).into_response())
}

async fn delete_identifier(
    State(state): State<AppState>,
    path: ZoneAndItem,
) -> Result<Response, AdminError> {
    let (zone, identifier) = path_parts(path)?;
    let result = state.service.delete_identifier(&zone, &identifier).await?;
    info!(zone = %zone, serial = result.serial, "identifier deleted");
    Ok(Json(result).into_response())
}

async fn batch(
    State(state): State<AppState>,
    path: Result<UrlPath<String>, PathRejection>,
    body: Body,
) -> Result<Response, AdminError> {
    let zone = path_parts(path)?;
    let request: Batch = read_json(body, &state).await?;
    let result = state.service.batch(&zone, &request.operations).await?;
    info!(zone = %zone, serial = result.serial, operations = result.applied, "batch applied");
    Ok(Json(result).into_response())
}

/// `GET /v1/zones/{zone}/zone-file`: the zone's file as it is on disk now.
async fn zone_file(
    State(state): State<AppState>,
    path: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, AdminError> {
    let zone = path_parts(path)?;
    let text = state.service.zone_file(&zone).await?;
    Ok(([(header::CONTENT_TYPE, "text/dns")], text).into_response())
}

/// `?consistent=true` on an export: hold admin writes so the export is one serial.
#[derive(Debug, Default, serde::Deserialize)]
struct ExportQuery {
    #[serde(default)]
    consistent: bool,
}

/// Header carrying the serial an export began at.
pub const SERIAL_HEADER: &str = "x-mimidns-serial";

async fn export(
    State(state): State<AppState>,
    path: Result<UrlPath<String>, PathRejection>,
    query: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AdminError> {
    let zone = path_parts(path)?;
    let consistent = query
        .map_err(|_| {
            AdminError::new(
                ErrorKind::BadRequest,
                "the only query parameter is consistent=true|false",
            )
        })?
        .consistent;
    let (sender, receiver) = tokio::sync::mpsc::channel::<String>(8);
    let service = state.service.clone();
    let (ready, ready_rx) = tokio::sync::oneshot::channel::<Result<u32, AdminError>>();
    tokio::task::spawn_blocking(move || {
        let ready = std::cell::Cell::new(Some(ready));
        let result = service.export(
            &zone,
            consistent,
            |serial| {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(serial));
                }
            },
            |chunk| sender.blocking_send(chunk).is_ok(),
        );
        if let (Some(ready), Err(e)) = (ready.take(), result) {
            let _ = ready.send(Err(e));
        }
    });
    let serial = match ready_rx.await {
        Ok(Ok(serial)) => serial,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(AdminError::new(
                ErrorKind::Internal,
                "the export task ended early",
            ));
        }
    };
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|chunk| (Ok::<String, std::io::Error>(chunk), receiver))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (
                header::HeaderName::from_static(SERIAL_HEADER),
                serial.to_string(),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

type ZoneNameType = Result<UrlPath<(String, String, String)>, PathRejection>;

async fn list_rrsets(
    State(state): State<AppState>,
    path: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, AdminError> {
    let zone = path_parts(path)?;
    let service = state.service.clone();
    // Reads the store outside the discovery subtree; off the async workers.
    let records = tokio::task::spawn_blocking(move || service.list_rrsets(&zone))
        .await
        .map_err(|e| AdminError::new(ErrorKind::Internal, e.to_string()))??;
    Ok(Json(records).into_response())
}

async fn get_rrset(
    State(state): State<AppState>,
    path: ZoneNameType,
) -> Result<Response, AdminError> {
    let (zone, name, record_type) = path_parts(path)?;
    Ok(Json(state.service.get_rrset(&zone, &name, &record_type)?).into_response())
}

async fn put_rrset(
    State(state): State<AppState>,
    path: ZoneNameType,
    body: Body,
) -> Result<Response, AdminError> {
    let (zone, name, record_type) = path_parts(path)?;
    let request: PutRrset = read_json(body, &state).await?;
    let result = state
        .service
        .put_rrset(&zone, &name, &record_type, &request)
        .await?;
    info!(zone = %zone, serial = result.serial, "RRset replaced");
    Ok(Json(result).into_response())
}

async fn delete_rrset(
    State(state): State<AppState>,
    path: ZoneNameType,
) -> Result<Response, AdminError> {
    let (zone, name, record_type) = path_parts(path)?;
    let result = state
        .service
        .delete_rrset(&zone, &name, &record_type)
        .await?;
    info!(zone = %zone, serial = result.serial, "RRset deleted");
    Ok(Json(result).into_response())
}

/// A panic in a handler becomes a plain 500: the message (which may quote
/// the request) goes nowhere, and the connection's other requests go on.
async fn catch_panic(request: Request<Body>, next: Next) -> Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(_) => AdminError::new(
            ErrorKind::Internal,
            "internal error; the server log says where",
        )
        .into_response(),
    }
}

async fn no_route() -> AdminError {
    AdminError::new(
        ErrorKind::NotFound,
        "no such endpoint; see the admin API table in README.md",
    )
}

async fn no_method() -> Response {
    let mut response = AdminError::new(
        ErrorKind::BadRequest,
        "this endpoint does not take that method",
    )
    .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// The admin API's routes.
pub fn router(
    service: Arc<AdminService>,
    max_body_bytes: usize,
    body_timeout: std::time::Duration,
) -> Router {
    let state = AppState {
        service,
        max_body_bytes,
        body_timeout,
    };
    Router::new()
        .route("/health", get(health))
        .route("/v1/zones", get(zones))
        .route("/v1/reload", post(reload))
        .route("/v1/metrics", get(metrics))
        .route("/v1/stats", get(stats))
        .route(
            "/v1/zones/{zone}/identifiers/{identifier}",
            get(get_identifier)
                .put(put_identifier)
                .delete(delete_identifier),
        )
        .route(
            "/v1/zones/{zone}/identifiers/{identifier}/mappings",
            post(add_mappings),
        )
        .route("/v1/zones/{zone}/batch", post(batch))
        .route("/v1/zones/{zone}/export", get(export))
        .route("/v1/zones/{zone}/zone-file", get(zone_file))
        .route("/v1/zones/{zone}/rrsets", get(list_rrsets))
        .route(
            "/v1/zones/{zone}/rrsets/{name}/{rtype}",
            get(get_rrset).put(put_rrset).delete(delete_rrset),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(axum::middleware::from_fn(catch_panic))
        .with_state(state)
}

/// The numeric id of a group given by name or number.
pub fn group_id(group: &str) -> Result<u32, AdminListenError> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    let unknown = || AdminListenError::UnknownGroup(group.to_string());
    let name = std::ffi::CString::new(group).map_err(|_| unknown())?;
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: all-zero is a valid `group`; getgrnam_r writes into `entry`
    // and `buffer` (of the length given) and sets `found` to null or `&entry`.
    let mut entry: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    let status = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 || found.is_null() {
        return Err(unknown());
    }
    Ok(entry.gr_gid)
}

/// Binds the admin socket: replaces a stale socket file, refuses to take over
/// a live one, and restricts it to its owner (0600), or to its owner and
/// `group` (0660) when one is given.
pub async fn bind_unix(path: &Path, group: Option<&str>) -> Result<UnixListener, AdminListenError> {
    let gid = group.map(group_id).transpose()?;
    let socket_error = |source| AdminListenError::Socket {
        path: path.to_path_buf(),
        source,
    };
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        // Only a stale socket is ours to replace; anything else at the path
        // (a regular file, a link) is refused and left as it is.
        if !metadata.file_type().is_socket() {
            return Err(AdminListenError::NotASocket(path.to_path_buf()));
        }
        if UnixStream::connect(path).await.is_ok() {
            return Err(AdminListenError::SocketInUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(socket_error)?;
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(socket_error)?;
    }
    let listener = UnixListener::bind(path).map_err(socket_error)?;
    let mode = match gid {
        Some(gid) => {
            std::os::unix::fs::chown(path, None, Some(gid)).map_err(socket_error)?;
            0o660
        }
        None => 0o600,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(socket_error)?;
    Ok(listener)
}

/// Serves the admin API on a Unix socket until `shutdown`.
pub async fn serve_unix(
    listener: UnixListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    super::listener::serve(listener, router, limits, shutdown).await;
}

/// Reads the bearer token (surrounding white space ignored).
pub fn read_token(path: &Path) -> Result<Vec<u8>, AdminListenError> {
    let text = std::fs::read_to_string(path).map_err(|e| AdminListenError::Token {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let token = text.trim();
    if token.len() < 16 {
        return Err(AdminListenError::Token {
            path: path.to_path_buf(),
            message: "the token must be at least 16 characters".into(),
        });
    }
    Ok(token.as_bytes().to_vec())
}

async fn require_bearer(
    token: Arc<Vec<u8>>,
    headers: HeaderMap,
    request: Request<Body>,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::as_bytes)
        .unwrap_or_default();
    let matches: bool =
        presented.len() == token.len() && bool::from(presented.ct_eq(token.as_slice()));
    if !matches {
        return AdminError::new(
            ErrorKind::Unauthorized,
            "a valid 'Authorization: Bearer <token>' header is required",
        )
        .into_response();
    }
    next.run(request).await
}

/// Binds the admin TCP listener.
pub async fn bind_tcp(address: SocketAddr) -> Result<TcpListener, AdminListenError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| AdminListenError::Tcp { address, source })
}

/// Serves the admin API on TCP behind the bearer token until `shutdown`.
/// The token is checked on the headers, before any of the body is read.
pub async fn serve_tcp(
    listener: TcpListener,
    router: Router,
    token: Vec<u8>,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let token = Arc::new(token);
    let router = router.layer(axum::middleware::from_fn(
        move |headers: HeaderMap, request: Request<Body>, next: Next| {
            require_bearer(token.clone(), headers, request, next)
        },
    ));
    super::listener::serve(listener, router, limits, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_do_not_echo_values() {
        let error = serde_json::from_str::<PutIdentifier>(r#"{"mappings": "+14155550100"}"#)
            .expect_err("invalid");
        let message = redact_json_error(&error);
        assert!(!message.contains("4155550100"), "{message}");
        assert!(message.contains("line 1"), "{message}");
    }

    /// Regression: "unknown field `x`" echoed the submitted key.
    #[test]
    fn json_errors_do_not_echo_unknown_keys() {
        let error = serde_json::from_str::<PutIdentifier>(r#"{"alice@example.com": 1}"#)
            .expect_err("invalid");
        let message = redact_json_error(&error);
        assert!(!message.contains("alice"), "{message}");
        assert!(
            message.contains("`mappings`"),
            "our field names stay: {message}"
        );
    }
}
