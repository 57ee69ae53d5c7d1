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
//!   (`text/plain`); the body is streamed into the node block by block;
//! - `PUT /document/{insert-uri}` (`SSK-INSERT@…/name` or `KSK@name`,
//!   percent-encoded or not), the document as body → 200, the request URI
//!   (`SSK@…/name`, `KSK@name`); 409 if the key already holds a different
//!   document;
//! - `GET /document/{uri}` (`CHK@…`, `SSK@…/name` or `KSK@name`,
//!   percent-encoded or not) → 200, the verified bytes
//!   (`application/octet-stream`, chunked), streamed as they are fetched;
//! - `GET /status` → 200, a JSON [`StatusReport`].
//!
//! Failures carry a one-line `text/plain` message: 400 for a malformed key
//! (or one of the wrong type: a request URI to publish under, an insert URI
//! to fetch with), 401 for a wrong or missing token (no message), 404 for
//! data or a route not found, 405 for another method, 409 for a signed key
//! that already holds another document, 413 for a body over the limit, 503
//! for an overloaded or stopping node, 504 for a timeout. A failure after a
//! `GET` answer has started (a block lost midway) aborts the connection, so
//! the client sees a broken transfer rather than a short document.
//!
//! `docs/architecture.md` ("Client API") describes the design and
//! `docs/threat-model.md` ("The client API") what the token protects.

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as HttpBody, Frame, Incoming};
use hyper::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, TE, TRAILER,
    WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::{Mode, NodeError, NodeHandle};
use crate::client::signed::{SignedInsert, SignedKey};
use crate::key::Key;
use crate::key::hash::sha256;

/// The file in the data directory that holds the API's address.
pub const API_FILE: &str = "api";

/// The file in the data directory that holds the API token (hex).
pub const TOKEN_FILE: &str = "token";

/// How long [`ApiClient::status`] waits for the node's answer.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request body the API accepts by default: 1 GiB. The body is
/// streamed into the node as it arrives (never held whole); a body that goes
/// over the limit is refused with 413 when it does.
pub const MAX_BODY: u64 = 1 << 30;

/// Bytes buffered between the node and a `GET` answer (and the size of the
/// chunks either side moves): memory per transfer stays about this.
pub const STREAM_CHUNK: usize = 64 * 1024;

/// The largest error message a client reads from a failed answer.
const MAX_MESSAGE: usize = 64 * 1024;

/// The body of every API answer and streamed request.
type ApiBody = UnsyncBoxBody<Bytes, io::Error>;

fn full(bytes: impl Into<Bytes>) -> ApiBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

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
            *byte = hex_byte(pair)?;
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

/// What `GET /status` answers, as JSON: the node's
/// [`NodeStats`](super::NodeStats), with its reference and its location as
/// a fraction. The counters count from the node's start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The node's reference, `fog:<key>@<host>:<port>`.
    pub node: String,
    /// The protocol the node runs: `"freenet"` or `"chord"`.
    pub mode: Mode,
    /// Seeds the node was started with.
    pub seeds: usize,
    /// Whether a join through a seed has succeeded (never, without seeds).
    pub joined: bool,
    /// Join attempts so far, one per seed tried.
    pub join_attempts: u64,
    /// Whether it took its place from its last run instead of joining
    /// (absent from the status of older nodes).
    #[serde(default)]
    pub restored: bool,
    /// The last seed a link could not be opened to, and why.
    #[serde(default)]
    pub seed_error: Option<String>,
    /// Peers with an open link.
    pub peers: usize,
    /// Peers the node knows of, linked or not.
    pub known: usize,
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
    /// Outgoing connections attempted.
    pub connects: u64,
    /// Links closed as dead (nothing received for too long).
    pub dead_links: u64,
    /// Links the other end closed or broke.
    #[serde(default)]
    pub lost_links: u64,
    /// Incoming links refused (the peer limit, or a peer banned).
    pub refused: u64,
    /// Peers dropped for exceeding the request rate.
    pub flooders_dropped: u64,
    /// Keepalive pings sent.
    pub pings_sent: u64,
    /// Padding frames (cover traffic) sent.
    pub cover_sent: u64,
    /// Padding frames received.
    pub cover_received: u64,
    /// Splitfile blocks that fetches rebuilt and inserted again (healing).
    #[serde(default)]
    pub healed: u64,
    /// Healing inserts that failed.
    #[serde(default)]
    pub heal_failed: u64,
    /// Blocks to heal let go because the healing queue was full.
    #[serde(default)]
    pub heal_dropped: u64,
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

fn text(status: StatusCode, body: impl Into<String>) -> Response<ApiBody> {
    let mut body: String = body.into();
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn unauthorized() -> Response<ApiBody> {
    let mut response = Response::new(full(Bytes::new()));
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
fn node_failure(error: &NodeError) -> Response<ApiBody> {
    text(failure_status(error), error.to_string())
}

/// The status code of a failed node operation: 404 when the network did
/// not have it (or no route to it), 504 when it gave no answer in time.
fn failure_status(error: &NodeError) -> StatusCode {
    if error.is_not_found() {
        return StatusCode::NOT_FOUND;
    }
    if error.is_timed_out() {
        return StatusCode::GATEWAY_TIMEOUT;
    }
    match error.kind() {
        NodeError::Overloaded | NodeError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        NodeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        NodeError::Collision { .. } => StatusCode::CONFLICT,
        NodeError::Rejected
        | NodeError::Block(_)
        | NodeError::Splitfile(_)
        | NodeError::BadSigned { .. }
        | NodeError::BadRedirect { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<ApiBody> {
    if !authorized(&req, &shared.token) {
        return unauthorized();
    }
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::PUT, "/document") => put_document(shared, req, None).await,
        (&Method::PUT, p) if p.starts_with("/document/") => {
            let raw = p["/document/".len()..].to_owned();
            put_document(shared, req, Some(&raw)).await
        }
        (&Method::GET, "/status") => status(shared).await,
        (&Method::GET, p) if p.starts_with("/document/") => {
            let trailers = req
                .headers()
                .get_all(TE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| {
                    v.split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
                });
            get_document(shared, &p["/document/".len()..], trailers).await
        }
        (_, "/document" | "/status") => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        (_, p) if p.starts_with("/document/") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => text(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

/// Why reading a request body stopped, as [`IncomingReader`] records it.
#[derive(Debug)]
enum BodyFault {
    /// More bytes than the limit.
    TooLarge,
    /// The body broke off (connection lost, bad chunk encoding).
    Broken(String),
}

/// A request body as an [`AsyncRead`], refusing more than `limit` bytes:
/// frames are passed on as they arrive, one at a time.
struct IncomingReader {
    body: Incoming,
    pending: Bytes,
    seen: u64,
    limit: u64,
    done: bool,
    fault: Option<BodyFault>,
}

impl IncomingReader {
    fn new(body: Incoming, limit: u64) -> IncomingReader {
        IncomingReader {
            body,
            pending: Bytes::new(),
            seen: 0,
            limit,
            done: false,
            fault: None,
        }
    }
}

impl AsyncRead for IncomingReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.pending.is_empty() {
                let n = buf.remaining().min(this.pending.len());
                buf.put_slice(&this.pending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.done {
                return Poll::Ready(Ok(()));
            }
            if this.fault.is_some() {
                return Poll::Ready(Err(io::Error::other("the request body failed")));
            }
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                None => this.done = true,
                Some(Err(e)) => {
                    this.fault = Some(BodyFault::Broken(e.to_string()));
                    return Poll::Ready(Err(io::Error::other(e)));
                }
                Some(Ok(frame)) => {
                    // Trailers, if any, are ignored.
                    if let Ok(data) = frame.into_data() {
                        this.seen += data.len() as u64;
                        if this.seen > this.limit {
                            this.fault = Some(BodyFault::TooLarge);
                            return Poll::Ready(Err(io::Error::other("the body is too large")));
                        }
                        this.pending = data;
                    }
                }
            }
        }
    }
}

/// The insert key of `PUT /document/{uri}`: an `SSK-INSERT@…` or `KSK@…`
/// URI, percent-encoded or not; or the 400 answer saying why not.
fn insert_key(raw: &str) -> Result<SignedInsert, Box<Response<ApiBody>>> {
    let bad = |message: String| Box::new(text(StatusCode::BAD_REQUEST, message));
    let uri =
        percent_decode(raw).ok_or_else(|| bad("malformed percent-encoding in the key".into()))?;
    let key = uri
        .parse::<Key>()
        .map_err(|e| bad(format!("malformed key: {e}")))?;
    match key {
        Key::Ssk(_) => Err(bad(
            "SSK@… is the request URI, which reads; publishing needs the insert URI \
             SSK-INSERT@… (from `fog key --ssk-new`)"
                .into(),
        )),
        Key::Chk(_) => Err(bad(
            "a CHK is the hash of its document: PUT /document without a key".into(),
        )),
        key => Ok(SignedInsert::from_key(key).expect("SSK-INSERT or KSK")),
    }
}

async fn put_document(
    shared: &Shared,
    req: Request<Incoming>,
    key: Option<&str>,
) -> Response<ApiBody> {
    let key = match key.map(insert_key) {
        None => None,
        Some(Ok(key)) => Some(key),
        Some(Err(answer)) => return *answer,
    };
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
    let mut reader = IncomingReader::new(req.into_body(), shared.max_body);
    let result = match &key {
        None => shared.node.put_reader(&mut reader).await.map(Key::Chk),
        Some(key) => shared
            .node
            .put_signed_reader(key, &mut reader)
            .await
            .map(|k| k.to_key()),
    };
    match (result, reader.fault) {
        (_, Some(BodyFault::TooLarge)) => too_large(),
        (_, Some(BodyFault::Broken(e))) => {
            text(StatusCode::BAD_REQUEST, format!("reading the body: {e}"))
        }
        (Ok(key), None) => {
            tracing::debug!(bytes = reader.seen, "published through the client API");
            text(StatusCode::OK, key.to_string())
        }
        (Err(e), None) => node_failure(&e),
    }
}

/// A task that is aborted when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The trailer that carries a failure met after a `GET`'s first byte: its
/// status code, a space, and the one-line message.
pub const ERROR_TRAILER: &str = "fog-error";

/// The answer body of a `GET`: what the fetch task writes into the pipe,
/// chunk by chunk; when the pipe ends, the task's result decides between a
/// clean end and a failure. A failure goes in the [`ERROR_TRAILER`] when the
/// client accepts trailers (`TE: trailers`, as [`ApiClient`] sends);
/// otherwise it aborts the connection, so that no client takes a cut-off
/// document for a whole one.
struct FetchBody {
    first: Option<Bytes>,
    reader: DuplexStream,
    buf: Vec<u8>,
    task: AbortOnDrop<Result<u64, NodeError>>,
    trailers: bool,
}

impl HttpBody for FetchBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        let mut buf = ReadBuf::new(&mut this.buf);
        ready!(Pin::new(&mut this.reader).poll_read(cx, &mut buf))?;
        if !buf.filled().is_empty() {
            let data = Bytes::copy_from_slice(buf.filled());
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        let (status, message) = match ready!(Pin::new(&mut this.task.0).poll(cx)) {
            Ok(Ok(_)) => return Poll::Ready(None),
            Ok(Err(e)) => (failure_status(&e), e.to_string()),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
        tracing::debug!(%message, "client API transfer failed midway");
        if !this.trailers {
            return Poll::Ready(Some(Err(io::Error::other(message))));
        }
        let mut trailers = HeaderMap::new();
        trailers.insert(
            ERROR_TRAILER,
            header_text(&format!("{} {message}", status.as_u16())),
        );
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

/// `text` as a header value: characters a header cannot carry become `?`.
fn header_text(text: &str) -> HeaderValue {
    let safe: String = text
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    HeaderValue::from_str(&safe).unwrap_or_else(|_| HeaderValue::from_static("500 failed"))
}

async fn get_document(shared: &Shared, raw: &str, trailers: bool) -> Response<ApiBody> {
    let Some(uri) = percent_decode(raw) else {
        return text(
            StatusCode::BAD_REQUEST,
            "malformed percent-encoding in the key",
        );
    };
    let key = match uri.parse::<Key>() {
        Ok(Key::SskInsert(_)) => {
            return text(
                StatusCode::BAD_REQUEST,
                "SSK-INSERT@… is the secret insert URI; fetch with the request URI SSK@… \
                 (`fog key --inspect` prints it)",
            );
        }
        Ok(key) => key,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("malformed key: {e}")),
    };
    // The fetch writes into a pipe as blocks arrive; the answer starts with
    // its first bytes, so a failure before any (not found, timed out) still
    // gets its status code.
    let (mut reader, mut writer) = tokio::io::duplex(STREAM_CHUNK);
    let node = shared.node.clone();
    let mut task = AbortOnDrop(tokio::spawn(async move {
        let length = match key {
            Key::Chk(key) => node.get_writer(&key, &mut writer).await?,
            key => {
                let key = SignedKey::from_key(key).expect("SSK or KSK");
                node.get_signed_writer(&key, &mut writer).await?
            }
        };
        writer.shutdown().await?;
        Ok(length)
    }));
    let mut buf = vec![0u8; STREAM_CHUNK];
    let n = reader.read(&mut buf).await.unwrap_or(0);
    let body = if n == 0 {
        // The pipe ended before any byte: the fetch is over.
        match (&mut task.0).await {
            Ok(Ok(_)) => full(Bytes::new()),
            Ok(Err(e)) => return node_failure(&e),
            Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    } else {
        FetchBody {
            first: Some(Bytes::copy_from_slice(&buf[..n])),
            reader,
            buf,
            task,
            trailers,
        }
        .boxed_unsync()
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if trailers {
        response
            .headers_mut()
            .insert(TRAILER, HeaderValue::from_static(ERROR_TRAILER));
    }
    response
}

async fn status(shared: &Shared) -> Response<ApiBody> {
    let stats = match shared.node.stats().await {
        Ok(stats) => stats,
        Err(e) => return node_failure(&e),
    };
    let report = StatusReport {
        node: shared.node.node_ref().to_string(),
        mode: stats.mode,
        seeds: stats.seeds,
        joined: stats.joined,
        join_attempts: stats.join_attempts,
        restored: stats.restored,
        seed_error: stats.seed_error,
        peers: stats.peers,
        known: stats.known,
        references: stats.references,
        store_blocks: stats.store_blocks,
        store_bytes: stats.store_bytes,
        in_flight: stats.in_flight,
        location: stats.location.as_fraction(),
        connects: stats.connects,
        dead_links: stats.dead_links,
        lost_links: stats.lost_links,
        refused: stats.refused,
        flooders_dropped: stats.flooders_dropped,
        pings_sent: stats.pings_sent,
        cover_sent: stats.cover_sent,
        cover_received: stats.cover_received,
        healed: stats.heal.healed,
        heal_failed: stats.heal.failed,
        heal_dropped: stats.heal.dropped,
    };
    match serde_json::to_vec(&report) {
        Ok(json) => {
            let mut response = Response::new(full(json));
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
            out.push(hex_byte(bytes.get(i + 1..i + 3)?)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The byte two hex digits (either case) spell, and nothing else: not
/// `u8::from_str_radix`, which also takes a sign (`"+f"` would be 0x0f).
fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |b: &u8| char::from(*b).to_digit(16);
    match pair {
        [high, low] => Some((digit(high)? * 16 + digit(low)?) as u8),
        _ => None,
    }
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
    /// The node accepted the connection but did not answer in time.
    #[error("the node at {addr} did not answer within {after:?}")]
    NoAnswer {
        /// The API address.
        addr: SocketAddr,
        /// How long the client waited.
        after: Duration,
    },
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
    /// A streamed document could not be read (`put`) or written (`get`)
    /// locally.
    #[error("{0}")]
    Local(io::Error),
}

/// A request body fed by a channel (the thread reading a `put`'s input).
struct ChannelBody(mpsc::Receiver<io::Result<Bytes>>);

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match ready!(self.0.poll_recv(cx)) {
            Some(Ok(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Some(Err(e)) => Poll::Ready(Some(Err(e))),
            None => Poll::Ready(None),
        }
    }
}

/// The failure an [`ERROR_TRAILER`] reports: `<code> <message>`.
fn trailer_failure(value: &str) -> ClientError {
    let (code, message) = value.split_once(' ').unwrap_or((value, ""));
    ClientError::Status {
        code: code.parse().unwrap_or(500),
        message: message.to_owned(),
    }
}

/// `error` and its sources, `: `-separated, leaving out a source whose
/// text the line already holds (an error that prints its source too).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text
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
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| {
                if source.kind() == io::ErrorKind::NotFound {
                    ClientError::NoNode {
                        dir: dir.display().to_string(),
                        file: name.to_owned(),
                        source,
                    }
                } else {
                    // There, but unreadable (permissions, say): a node may
                    // well be running; say what is wrong instead.
                    ClientError::BadFile(format!("cannot read {}: {source}", path.display()))
                }
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
        let (response, _driver) = self.request(Method::PUT, "/document", full(doc)).await?;
        let body = Self::small_body(response).await?;
        Self::key_text(&body)
    }

    /// Publishes what `reader` yields, streamed to the node in chunks of
    /// [`STREAM_CHUNK`] bytes as it is read (on a thread of its own, as
    /// `reader` blocks): memory stays bounded whatever the size. A read
    /// error ends the transfer with [`ClientError::Local`].
    pub async fn put_reader<R>(&self, reader: R) -> Result<String, ClientError>
    where
        R: std::io::Read + Send + 'static,
    {
        self.put_stream("/document".to_owned(), reader).await
    }

    /// Publishes `doc` under the signed key `insert_uri` (`SSK-INSERT@…` or
    /// `KSK@…`); returns the request URI the node answered (`SSK@…`,
    /// `KSK@…`). A key that already holds a different document gives
    /// [`ClientError::Status`] with code 409.
    pub async fn put_with_key(
        &self,
        insert_uri: &str,
        doc: Vec<u8>,
    ) -> Result<String, ClientError> {
        let path = format!("/document/{}", percent_encode(insert_uri));
        let (response, _driver) = self.request(Method::PUT, &path, full(doc)).await?;
        let body = Self::small_body(response).await?;
        Self::key_text(&body)
    }

    /// As [`ApiClient::put_reader`], under the signed key `insert_uri`, as
    /// [`ApiClient::put_with_key`].
    pub async fn put_reader_with_key<R>(
        &self,
        insert_uri: &str,
        reader: R,
    ) -> Result<String, ClientError>
    where
        R: std::io::Read + Send + 'static,
    {
        let path = format!("/document/{}", percent_encode(insert_uri));
        self.put_stream(path, reader).await
    }

    async fn put_stream<R>(&self, path: String, mut reader: R) -> Result<String, ClientError>
    where
        R: std::io::Read + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(2);
        let (failed_tx, mut failed_rx) = mpsc::channel::<io::Error>(1);
        std::thread::spawn(move || {
            loop {
                let mut chunk = vec![0u8; STREAM_CHUNK];
                match reader.read(&mut chunk) {
                    Ok(0) => return,
                    Ok(n) => {
                        chunk.truncate(n);
                        if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = failed_tx.blocking_send(io::Error::new(e.kind(), e.to_string()));
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        let result = self
            .request(Method::PUT, &path, ChannelBody(rx).boxed_unsync())
            .await;
        if let Ok(e) = failed_rx.try_recv() {
            return Err(ClientError::Local(e));
        }
        let (response, _driver) = result?;
        let body = Self::small_body(response).await;
        if let Ok(e) = failed_rx.try_recv() {
            return Err(ClientError::Local(e));
        }
        Self::key_text(&body?)
    }

    /// Fetches the document under `uri` (a `CHK@…`, `SSK@…` or `KSK@…`
    /// URI).
    pub async fn get(&self, uri: &str) -> Result<Vec<u8>, ClientError> {
        let mut doc = Vec::new();
        self.get_writer(uri, &mut doc).await?;
        Ok(doc)
    }

    /// Fetches the document under `uri`, writing it to `sink` as it
    /// arrives; returns its length. If the transfer breaks off midway
    /// ([`ClientError::Protocol`]) or `sink` fails ([`ClientError::Local`]),
    /// `sink` holds a prefix of the document.
    pub async fn get_writer<W>(&self, uri: &str, sink: &mut W) -> Result<u64, ClientError>
    where
        W: std::io::Write + ?Sized,
    {
        let path = format!("/document/{}", percent_encode(uri));
        let (response, _driver) = self.request(Method::GET, &path, full(Bytes::new())).await?;
        if response.status() != StatusCode::OK {
            Self::small_body(response).await?;
            unreachable!("a failed answer is an error");
        }
        let mut body = response.into_body();
        let mut length = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                tracing::debug!(error = %chain(&e), "the document's transfer broke off");
                ClientError::Protocol(format!(
                    "the node stopped sending the document after {length} bytes"
                ))
            })?;
            match frame.into_data() {
                Ok(data) => {
                    sink.write_all(&data).map_err(ClientError::Local)?;
                    length += data.len() as u64;
                }
                Err(frame) => {
                    if let Some(error) = frame
                        .trailers_ref()
                        .and_then(|t| t.get(ERROR_TRAILER))
                        .and_then(|v| v.to_str().ok())
                    {
                        return Err(trailer_failure(error));
                    }
                }
            }
        }
        sink.flush().map_err(ClientError::Local)?;
        Ok(length)
    }

    /// The node's state; [`ClientError::NoAnswer`] if it does not come
    /// within [`STATUS_TIMEOUT`] (a node that accepts connections but is
    /// frozen).
    pub async fn status(&self) -> Result<StatusReport, ClientError> {
        let ask = async {
            let (response, _driver) = self
                .request(Method::GET, "/status", full(Bytes::new()))
                .await?;
            let body = Self::small_body(response).await?;
            serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))
        };
        tokio::time::timeout(STATUS_TIMEOUT, ask)
            .await
            .map_err(|_| ClientError::NoAnswer {
                addr: self.addr,
                after: STATUS_TIMEOUT,
            })?
    }

    fn key_text(body: &[u8]) -> Result<String, ClientError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| ClientError::Protocol("the key is not text".into()))?;
        Ok(text.trim().to_owned())
    }

    /// Sends one request on a fresh connection; the answer, and the task
    /// driving the connection (aborted when dropped).
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: ApiBody,
    ) -> Result<(Response<Incoming>, AbortOnDrop<()>), ClientError> {
        let stream =
            TcpStream::connect(self.addr)
                .await
                .map_err(|source| ClientError::Unreachable {
                    addr: self.addr,
                    source,
                })?;
        let protocol = |e: hyper::Error| ClientError::Protocol(chain(&e));
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(protocol)?;
        let driver = AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "client API connection ended");
            }
        }));
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.to_string())
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            // A failure after the first byte of a document comes in a
            // trailer, not as a cut connection.
            .header(TE, "trailers")
            .body(body)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(protocol)?;
        Ok((response, driver))
    }

    /// The body of a small answer: of a 200, the bytes; of a failure,
    /// [`ClientError::Status`] with the node's message.
    async fn small_body(response: Response<Incoming>) -> Result<Bytes, ClientError> {
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_MESSAGE)
            .collect()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .to_bytes();
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
        assert_eq!(Token::from_hex(&hex.to_uppercase()), Some(token.clone()));
        // 64 characters, but signs are not hex digits.
        assert_eq!(Token::from_hex(&"+f".repeat(32)), None);
    }

    #[test]
    fn percent_coding_round_trips() {
        let uri = "CHK@ab-_c,d/e f%";
        let encoded = percent_encode(uri);
        assert_eq!(encoded, "CHK@ab-_c,d%2Fe%20f%25");
        assert_eq!(percent_decode(&encoded).as_deref(), Some(uri));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%+f"), None);
        assert_eq!(percent_decode("%2f").as_deref(), Some("/"));
    }
}
