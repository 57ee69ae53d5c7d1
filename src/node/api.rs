//! The local client API: HTTP/1.1 on 127.0.0.1, every request guarded by a
//! bearer token that only the node's data directory holds.
//!
//! A node serving the API writes two files into its data directory:
//! [`API_FILE`] (the address, e.g. `127.0.0.1:45123`) and [`TOKEN_FILE`] (32
//! random bytes in hex, owner-only, new at each start). A client
//! ([`ApiClient::from_data_dir`]) reads both and sends
//! `Authorization: Bearer <token>` with every request.
//!
//! Endpoints:
//!
//! - `PUT /document`, the document as body → 200, the `CHK@…` URI
//!   (`text/plain`);
//! - `GET /document/{uri}` (percent-encoded or not) → 200, the verified bytes
//!   (`application/octet-stream`);
//! - `GET /status` → 200, a JSON [`StatusReport`].
//!
//! Failures carry a one-line `text/plain` message: 400 for a malformed key,
//! 401 for a wrong or missing token (no message), 404 for data or a route
//! not found, 405 for another method, 413 for a body over the limit, 503 for
//! an overloaded or stopping node, 504 for a timeout.
//!
//! `docs/architecture.md` ("Client API") describes the design and
//! `docs/threat-model.md` ("The client API") what the token protects.

use std::convert::Infallible;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::{NodeError, NodeHandle};
use crate::key::Key;
use crate::key::hash::sha256;

/// The file in the data directory that holds the API's address.
pub const API_FILE: &str = "api";

/// The file in the data directory that holds the API token (hex).
pub const TOKEN_FILE: &str = "token";

/// The largest request body the API accepts by default: 1 GiB. The body is
/// read into memory (bounded by this limit) before it is published.
pub const MAX_BODY: u64 = 1 << 30;

/// Most connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The secret a client must present: 32 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Token([u8; 32]);

impl Token {
    /// A new token from the operating system's random source.
    pub fn generate() -> Token {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Token(bytes)
    }

    /// The token as 64 lowercase hex digits, as the token file and the
    /// `Authorization` header carry it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Option<Token> {
        let text = text.trim().as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks(2)) {
            let digits = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(digits, 16).ok()?;
        }
        Some(Token(bytes))
    }

    /// Whether `presented` (the header's text after `Bearer `) is this
    /// token, in time independent of where they differ: both sides are
    /// hashed, and the hashes compared by a fold with no early exit.
    fn matches(&self, presented: &[u8]) -> bool {
        let expected = sha256(self.to_hex().as_bytes());
        let got = sha256(presented);
        expected
            .iter()
            .zip(got.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

/// Writes `token` to `dir/token`, replacing any old file, readable and
/// writable by the owner only (mode 0600 on Unix, set at creation).
pub fn write_token_file(dir: &Path, token: &Token) -> io::Result<()> {
    let path = dir.join(TOKEN_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    writeln!(file, "{}", token.to_hex())?;
    file.sync_all()
}

/// Writes `addr` to `dir/api` (through a temporary file and a rename, so a
/// client never reads half of it).
pub fn write_api_file(dir: &Path, addr: SocketAddr) -> io::Result<()> {
    let tmp = dir.join(format!("{API_FILE}.tmp"));
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, dir.join(API_FILE))
}

/// Removes `dir/api` and `dir/token`, as a node does when it stops; files
/// already gone are fine.
pub fn remove_api_files(dir: &Path) -> io::Result<()> {
    for name in [API_FILE, TOKEN_FILE] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What `GET /status` answers, as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The node's reference, `fog:<key>@<host>:<port>`.
    pub node: String,
    /// Peers with an open link.
    pub peers: usize,
    /// References in the routing table.
    pub references: usize,
    /// Blocks in the store.
    pub store_blocks: usize,
    /// Bytes of blocks in the store.
    pub store_bytes: u64,
    /// Requests and inserts in flight.
    pub in_flight: usize,
    /// The node's location as a fraction of the ring, in `[0, 1)`.
    pub location: f64,
}

/// Why the API server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The API serves loopback only; another address was asked for.
    #[error("the client API binds to 127.0.0.1 only, not {0}")]
    NotLoopback(SocketAddr),
    /// The socket could not be bound.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
}

/// A running API server. Stops when [`ApiServer::shutdown`] is called or it
/// is dropped.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

struct Shared {
    node: NodeHandle,
    token: Token,
    max_body: u64,
}

impl ApiServer {
    /// Binds `addr` (which must be a loopback address; port 0 picks a free
    /// port) and serves `node` to clients presenting `token`, refusing
    /// bodies over `max_body` bytes with 413.
    pub async fn start(
        node: NodeHandle,
        addr: SocketAddr,
        token: Token,
        max_body: u64,
    ) -> Result<ApiServer, ApiError> {
        if !addr.ip().is_loopback() {
            return Err(ApiError::NotLoopback(addr));
        }
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            node,
            token,
            max_body,
        });
        let task = tokio::spawn(serve(listener, shared, stopped));
        tracing::info!(%addr, "client API listening");
        Ok(ApiServer {
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, ends every open connection, and returns when done.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = stopped.changed() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "client API accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let shared = shared.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "client API connection ended");
            }
        });
    }
    connections.shutdown().await;
    tracing::info!("client API stopped");
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut body: String = body.into();
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn unauthorized() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn authorized(req: &Request<Incoming>, token: &Token) -> bool {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return false;
    };
    match value.as_bytes().strip_prefix(b"Bearer ") {
        Some(presented) => token.matches(presented),
        None => false,
    }
}

/// The status code and message for a failed node operation.
fn node_failure(error: &NodeError) -> Response<Full<Bytes>> {
    let status = match error {
        NodeError::NotFound | NodeError::RouteNotFound => StatusCode::NOT_FOUND,
        NodeError::TimedOut => StatusCode::GATEWAY_TIMEOUT,
        NodeError::Overloaded | NodeError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        NodeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        NodeError::Rejected | NodeError::Block(_) => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    text(status, error.to_string())
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if !authorized(&req, &shared.token) {
        return unauthorized();
    }
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::PUT, "/document") => put_document(shared, req).await,
        (&Method::GET, "/status") => status(shared).await,
        (&Method::GET, p) if p.starts_with("/document/") => {
            get_document(shared, &p["/document/".len()..]).await
        }
        (_, "/document" | "/status") => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        (_, p) if p.starts_with("/document/") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => text(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

async fn put_document(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("document larger than {} bytes", shared.max_body),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.max_body) {
        return too_large();
    }
    let limit = usize::try_from(shared.max_body).unwrap_or(usize::MAX);
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("reading the body: {e}")),
    };
    match shared.node.put(&body).await {
        Ok(key) => {
            tracing::debug!(bytes = body.len(), "published through the client API");
            text(StatusCode::OK, Key::Chk(key).to_string())
        }
        Err(e) => node_failure(&e),
    }
}

async fn get_document(shared: &Shared, raw: &str) -> Response<Full<Bytes>> {
    let Some(uri) = percent_decode(raw) else {
        return text(
            StatusCode::BAD_REQUEST,
            "malformed percent-encoding in the key",
        );
    };
    let key = match uri.parse::<Key>() {
        Ok(Key::Chk(key)) => key,
        Ok(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "only CHK keys can be fetched through the API yet",
            );
        }
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("malformed key: {e}")),
    };
    match shared.node.get(&key).await {
        Ok(bytes) => {
            let mut response = Response::new(Full::new(Bytes::from(bytes)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            response
        }
        Err(e) => node_failure(&e),
    }
}

async fn status(shared: &Shared) -> Response<Full<Bytes>> {
    let stats = match shared.node.stats().await {
        Ok(stats) => stats,
        Err(e) => return node_failure(&e),
    };
    let report = StatusReport {
        node: shared.node.node_ref().to_string(),
        peers: stats.peers,
        references: stats.references,
        store_blocks: stats.store_blocks,
        store_bytes: stats.store_bytes,
        in_flight: stats.in_flight,
        location: stats.location.as_fraction(),
    };
    match serde_json::to_vec(&report) {
        Ok(json) => {
            let mut response = Response::new(Full::new(Bytes::from(json)));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Decodes `%XX` escapes; `None` for a broken escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes every byte of `text` outside `A-Z a-z 0-9 - _ . ~ @ ,` as `%XX`,
/// so that a key URI is one path segment.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~@,".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a client request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The data directory has no readable API address or token file: no
    /// node is running there.
    #[error("no node is running with data directory {dir} (cannot read {file}: {source})")]
    NoNode {
        /// The data directory.
        dir: String,
        /// The file that could not be read.
        file: String,
        /// Why.
        source: io::Error,
    },
    /// The API or token file holds something unusable.
    #[error("{0}")]
    BadFile(String),
    /// The node could not be reached (connection refused, reset).
    #[error("cannot reach the node at {addr}: {source}")]
    Unreachable {
        /// The API address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The node answered with a failure status.
    #[error("{message}")]
    Status {
        /// The HTTP status code.
        code: u16,
        /// The node's one-line message.
        message: String,
    },
    /// The HTTP exchange failed midway, or the answer was unreadable.
    #[error("talking to the node: {0}")]
    Protocol(String),
}

/// A client of a local node's API.
#[derive(Clone, Debug)]
pub struct ApiClient {
    addr: SocketAddr,
    token: String,
}

impl ApiClient {
    /// A client for the node whose address and token are in `dir`'s
    /// [`API_FILE`] and [`TOKEN_FILE`].
    pub fn from_data_dir(dir: &Path) -> Result<ApiClient, ClientError> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|source| ClientError::NoNode {
                dir: dir.display().to_string(),
                file: name.to_owned(),
                source,
            })
        };
        let addr_text = read(API_FILE)?;
        let addr: SocketAddr = addr_text.trim().parse().map_err(|_| {
            ClientError::BadFile(format!(
                "{} does not hold an address: {:?}",
                dir.join(API_FILE).display(),
                addr_text.trim()
            ))
        })?;
        let token_text = read(TOKEN_FILE)?;
        let token = Token::from_hex(&token_text).ok_or_else(|| {
            ClientError::BadFile(format!(
                "{} does not hold a token",
                dir.join(TOKEN_FILE).display()
            ))
        })?;
        Ok(ApiClient::new(addr, &token))
    }

    /// A client for the API at `addr`, presenting `token`.
    pub fn new(addr: SocketAddr, token: &Token) -> ApiClient {
        ApiClient {
            addr,
            token: token.to_hex(),
        }
    }

    /// The API address this client talks to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Publishes `doc`; returns the `CHK@…` URI the node answered.
    pub async fn put(&self, doc: Vec<u8>) -> Result<String, ClientError> {
        let body = self
            .send(Method::PUT, "/document", Bytes::from(doc))
            .await?;
        let text = String::from_utf8(body.to_vec())
            .map_err(|_| ClientError::Protocol("the key is not text".into()))?;
        Ok(text.trim().to_owned())
    }

    /// Fetches the document under `uri` (a `CHK@…` URI).
    pub async fn get(&self, uri: &str) -> Result<Vec<u8>, ClientError> {
        let path = format!("/document/{}", percent_encode(uri));
        Ok(self.send(Method::GET, &path, Bytes::new()).await?.to_vec())
    }

    /// The node's state.
    pub async fn status(&self) -> Result<StatusReport, ClientError> {
        let body = self.send(Method::GET, "/status", Bytes::new()).await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// One request on a fresh connection; the body of a 200 answer, or
    /// [`ClientError::Status`] with the node's message.
    async fn send(&self, method: Method, path: &str, body: Bytes) -> Result<Bytes, ClientError> {
        let stream =
            TcpStream::connect(self.addr)
                .await
                .map_err(|source| ClientError::Unreachable {
                    addr: self.addr,
                    source,
                })?;
        let protocol = |e: hyper::Error| ClientError::Protocol(e.to_string());
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(protocol)?;
        let driver = tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.to_string())
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Full::new(body))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(protocol)?;
        let status = response.status();
        let limit = usize::try_from(MAX_BODY).unwrap_or(usize::MAX);
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .to_bytes();
        driver.abort();
        if status == StatusCode::OK {
            return Ok(body);
        }
        let mut message = String::from_utf8_lossy(&body).trim().to_owned();
        if message.is_empty() {
            message = match status {
                StatusCode::UNAUTHORIZED => "the node refused the token (is the token file \
                                             from another start of the node?)"
                    .to_owned(),
                other => format!("the node answered {other}"),
            };
        }
        Err(ClientError::Status {
            code: status.as_u16(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_and_compares() {
        let token = Token::generate();
        let hex = token.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(Token::from_hex(&format!("{hex}\n")), Some(token.clone()));
        assert!(token.matches(hex.as_bytes()));
        assert!(!token.matches(b""));
        assert!(!token.matches(&hex.as_bytes()[..63]));
        assert!(!token.matches(Token::generate().to_hex().as_bytes()));
        assert_eq!(Token::from_hex("xyz"), None);
    }

    #[test]
    fn percent_coding_round_trips() {
        let uri = "CHK@ab-_c,d/e f%";
        let encoded = percent_encode(uri);
        assert_eq!(encoded, "CHK@ab-_c,d%2Fe%20f%25");
        assert_eq!(percent_decode(&encoded).as_deref(), Some(uri));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
    }
}
