//! [`HyperConnector`]: the default [`HttpConnector`], HTTP/1.1 on hyper over [`Dialer`]
//! streams, with a small per-origin connection pool.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use crate::logging::{Logger, record};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use futures::io::{AsyncRead, AsyncWrite};
use http::header::{
    ACCEPT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION,
    WWW_AUTHENTICATE,
};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::client::conn::http1::{self, SendRequest};

use crate::connector::{
    ConnectorError, ConnectorErrorKind, HttpConnector, Proxy, ProxyError, ProxyErrorKind,
    ProxyRules, ProxyScheme,
};
use crate::rt::{Dialer, Io, Spawner};

/// Idle connections kept per origin; more are closed.
const MAX_IDLE_PER_ORIGIN: usize = 8;

/// The default idle timeout of pooled connections: under the 5 s keep-alive timeout of
/// node's http server and of uvicorn, so the client never reuses a connection the server
/// may be closing at that very moment (a POST written into it would be lost).
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// The default [`HttpConnector`]: HTTP/1.1 on [hyper](https://hyper.rs), over connections
/// from a [`Dialer`], with TLS for `https://` URLs (feature `rustls`).
///
/// Connections are pooled per origin (scheme, host, port). A request takes an idle
/// connection or dials a new one, and the connection goes back to the pool only once the
/// whole response body has been read; a request that fails, or whose future is dropped
/// midway, closes its connection. Since the client sends at most one GET and one POST at a
/// time per session, the long-polling GET and the POSTs travel on separate connections.
///
/// The connector reads the whole body into memory and fails with
/// [`TooLarge`](crate::connector::ConnectorErrorKind::TooLarge) as soon as it exceeds
/// `max_body`. It never asks for compression: an `Accept-Encoding` header in the request is
/// removed, so the body always arrives as sent. It sets `Host` when the request has none.
///
/// hyper's per-connection tasks are started on the [`Spawner`].
///
/// ```no_run
/// # use std::sync::Arc;
/// # use engineio::rt::{Dialer, Spawner};
/// use engineio::connector::HyperConnector;
///
/// # fn f(dialer: Arc<dyn Dialer>, spawner: Arc<dyn Spawner>) {
/// let http = HyperConnector::new(dialer, spawner);
/// # }
/// ```
#[derive(Clone)]
pub struct HyperConnector {
    dialer: Arc<dyn Dialer>,
    spawner: Arc<dyn Spawner>,
    #[cfg(feature = "rustls")]
    tls: Arc<rustls::ClientConfig>,
    pool: Arc<Pool>,
    proxies: ProxyRules,
    logger: Logger,
}

impl fmt::Debug for HyperConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperConnector")
            .field("idle_timeout", &self.pool.idle_timeout)
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

impl HyperConnector {
    /// A connector that dials with `dialer` and runs hyper's connection tasks on
    /// `spawner`.
    ///
    /// With the `rustls` feature, `https://` URLs use the default `TlsConfig`
    /// (certificates checked against the `webpki-roots` store); change it with
    /// `with_tls`. Without the feature, `https://` URLs fail.
    ///
    /// It can also be used on its own:
    ///
    /// ```
    /// use bytes::Bytes;
    /// use engineio::connector::{HttpConnector, HyperConnector};
    /// use engineio::rt::Runtime;
    ///
    /// let rt = Runtime::from_features();
    /// let connector = HyperConnector::new(rt.dialer().clone(), rt.spawner().clone());
    ///
    /// // A port that was just free: the request cannot connect.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let request = http::Request::get(format!("http://127.0.0.1:{port}/")).body(Bytes::new())?;
    /// let err = futures::executor::block_on(connector.request(request, 1 << 20)).unwrap_err();
    /// assert!(err.is_connect());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(dialer: Arc<dyn Dialer>, spawner: Arc<dyn Spawner>) -> HyperConnector {
        HyperConnector {
            dialer,
            spawner,
            #[cfg(feature = "rustls")]
            tls: super::tls::default_config(),
            pool: Arc::new(Pool::new(DEFAULT_IDLE_TIMEOUT)),
            proxies: ProxyRules::none(),
            logger: Logger::default(),
        }
    }

    /// Sends requests through the proxies `rules` choose (none by default: every
    /// connection is direct).
    ///
    /// Through an HTTP proxy, `http://` requests are forwarded (the request line carries
    /// the whole URL, with `Proxy-Authorization` when the proxy URL has credentials), and
    /// `https://` requests go through a `CONNECT` tunnel, TLS running to the server inside
    /// it. Through SOCKS5, every request goes through a tunnel. Tunnels are pooled like
    /// direct connections; forwarded requests each take a new connection to the proxy, since
    /// some proxies (tinyproxy) close it after each answer without saying so.
    ///
    /// ```
    /// use engineio::connector::{HyperConnector, Proxy, ProxyRules};
    /// use engineio::rt::Runtime;
    ///
    /// let rt = Runtime::from_features();
    /// let proxy: Proxy = "http://127.0.0.1:3128".parse()?;
    /// let http = HyperConnector::new(rt.dialer().clone(), rt.spawner().clone())
    ///     .with_proxy(ProxyRules::all(proxy).no_proxy("localhost"));
    /// # let _ = http;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_proxy(mut self, rules: ProxyRules) -> HyperConnector {
        self.proxies = rules;
        self
    }

    /// Logs through the client's logger (`ClientBuilder::logger`, `log_target`).
    pub(crate) fn with_logger(mut self, logger: Logger) -> HyperConnector {
        self.logger = logger;
        self
    }

    /// Uses `config` for `https://` URLs; build it with
    /// [`TlsConfig`](crate::connector::TlsConfig), and pass the same one to the WebSocket
    /// connector.
    ///
    /// ```
    /// use engineio::connector::{HyperConnector, TlsConfig, TungsteniteConnector};
    /// use engineio::AsyncClient;
    /// use engineio::rt::Runtime;
    ///
    /// let rt = Runtime::from_features();
    /// let tls = TlsConfig::new().verify(false).build()?; // a test server's certificate
    /// let http = HyperConnector::new(rt.dialer().clone(), rt.spawner().clone())
    ///     .with_tls(tls.clone());
    /// let ws = TungsteniteConnector::new(rt.dialer().clone()).with_tls(tls);
    /// let builder = AsyncClient::builder().runtime(rt);
    /// let eio = builder.http_connector(http).websocket_connector(ws).build()?;
    /// # let _ = eio;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "rustls")]
    pub fn with_tls(mut self, config: Arc<rustls::ClientConfig>) -> HyperConnector {
        self.tls = config;
        self
    }

    /// How long an idle pooled connection may be reused; 4 seconds by default. Older
    /// ones are closed instead. Zero turns pooling off.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> HyperConnector {
        self.pool = Arc::new(Pool::new(timeout));
        self
    }

    /// Sends `request` on a pooled connection, or on a new one if there is none or the
    /// pooled one turns out closed before the request could be written.
    async fn send(
        &self,
        key: &PoolKey,
        mut request: Request<Full<Bytes>>,
        what: &str,
    ) -> Result<(SendRequest<Full<Bytes>>, Response<hyper::body::Incoming>), ConnectorError> {
        if let Some(mut sender) = self.pool.take(key) {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((sender, response)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => {
                        record!(
                            self.logger,
                            debug,
                            "{what}: pooled connection failed before the request was sent ({}); \
                             retrying on a new connection",
                            e.error()
                        );
                        request = unsent;
                    }
                    None => return Err(hyper_error(what, e.into_error())),
                },
            }
        }
        let mut sender = self.connect(key).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| hyper_error(what, e))?;
        Ok((sender, response))
    }

    /// Dials `key`'s origin, runs TLS if needed and the HTTP/1.1 handshake, and spawns
    /// hyper's connection task.
    async fn connect(&self, key: &PoolKey) -> Result<SendRequest<Full<Bytes>>, ConnectorError> {
        let origin = key.to_string();
        let proxy = self.proxies.proxy_for_origin(key.tls, &key.host, key.port);
        let io = match proxy {
            None => self
                .dialer
                .dial(&key.host, key.port)
                .await
                .map_err(|e| super::dial_error(&origin, e))?,
            // Forward mode: the connection is to the proxy, the requests name the server.
            Some(proxy) if forwards(proxy, key) => {
                let target = super::authority(&key.host, key.port);
                super::tunnel::dial(&*self.dialer, proxy, &target).await?
            }
            Some(proxy) => super::tunnel::tunnel(&*self.dialer, proxy, &key.host, key.port).await?,
        };
        let io = if key.tls {
            self.tls(key, io).await?
        } else {
            io
        };
        let (sender, connection) = http1::Builder::new()
            .handshake::<_, Full<Bytes>>(HyperIo(io))
            .await
            .map_err(|e| hyper_error(&format!("connecting to {origin}"), e))?;
        match proxy {
            Some(proxy) => record!(
                self.logger,
                debug,
                "new HTTP connection to {origin} through proxy {proxy}"
            ),
            None => record!(self.logger, debug, "new HTTP connection to {origin}"),
        }
        let logger = self.logger.clone();
        self.spawner.spawn(Box::pin(async move {
            match connection.await {
                Ok(()) => record!(logger, debug, "HTTP connection to {origin} closed"),
                Err(e) => record!(logger, debug, "HTTP connection to {origin} failed: {e}"),
            }
        }));
        Ok(sender)
    }

    #[cfg(feature = "rustls")]
    async fn tls(&self, key: &PoolKey, io: Box<dyn Io>) -> Result<Box<dyn Io>, ConnectorError> {
        super::tls::connect_tls(&self.tls, &key.host, io).await
    }

    #[cfg(not(feature = "rustls"))]
    async fn tls(&self, key: &PoolKey, _io: Box<dyn Io>) -> Result<Box<dyn Io>, ConnectorError> {
        Err(no_tls_error(key))
    }

    /// Gives the connection back to the pool once hyper is ready for the next request on
    /// it (at once if it already is, else from a small task).
    fn release(&self, key: PoolKey, mut sender: SendRequest<Full<Bytes>>) {
        if self.pool.idle_timeout.is_zero() {
            return;
        }
        match sender.ready().now_or_never() {
            Some(Ok(())) => self.pool.put(key, sender),
            Some(Err(_)) => {}
            None => {
                let pool = self.pool.clone();
                self.spawner.spawn(Box::pin(async move {
                    if sender.ready().await.is_ok() {
                        pool.put(key, sender);
                    }
                }));
            }
        }
    }
}

#[cfg(not(feature = "rustls"))]
fn no_tls_error(key: &PoolKey) -> ConnectorError {
    ConnectorError::new(
        ConnectorErrorKind::Other,
        format!(
            "connecting to {key}: https:// needs TLS support, which needs the `rustls` \
             feature of engineio"
        ),
        None,
    )
}

#[async_trait]
impl HttpConnector for HyperConnector {
    async fn request(
        &self,
        request: Request<Bytes>,
        max_body: usize,
    ) -> Result<Response<Bytes>, ConnectorError> {
        let what = format!("{} {}", request.method(), request.uri());
        let key = PoolKey::from_uri(request.uri())?;
        #[cfg(not(feature = "rustls"))]
        if key.tls {
            return Err(no_tls_error(&key));
        }
        let forward = self
            .proxies
            .proxy_for_origin(key.tls, &key.host, key.port)
            .filter(|proxy| forwards(proxy, &key));
        let request = prepare(request, forward, &self.logger)?;
        let (sender, response) = match (self.send(&key, request, &what).await, forward) {
            // What answered the forwarded request is the proxy: an answer that is not
            // HTTP at all is its failure (a SOCKS proxy named as an HTTP one, say). A head
            // too large may be the server's, relayed: that stays the server's.
            (Err(e), Some(proxy)) if not_http(&e) => {
                return Err(ProxyError {
                    proxy: proxy.to_string(),
                    target: super::authority(&key.host, key.port),
                    kind: ProxyErrorKind::Protocol(format!(
                        "its answer to a forwarded request is not HTTP ({e})"
                    )),
                }
                .into());
            }
            (sent, _) => sent?,
        };
        let (parts, body) = response.into_parts();
        if let Some(proxy) = forward {
            if let Some(refusal) = proxy_refusal(&parts, proxy) {
                return Err(ProxyError {
                    proxy: proxy.to_string(),
                    target: super::authority(&key.host, key.port),
                    kind: refusal,
                }
                .into());
            }
        }
        if content_length(&parts.headers).is_some_and(|len| len > max_body as u64) {
            return Err(too_large(&what, max_body));
        }
        let body = read_body(body, max_body, &what).await?;
        // A connection to a forwarding proxy is not reused: tinyproxy, for one, closes it
        // after each answer without saying so (no `Connection: close`), and a request
        // written into it then is lost. Tunnels (CONNECT, SOCKS5) are pooled.
        if forward.is_none() {
            self.release(key, sender);
        }
        Ok(Response::from_parts(parts, body))
    }
}

/// Where a connection goes: what the pool is keyed by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PoolKey {
    tls: bool,
    /// Lower-case, IPv6 without brackets: what the dialer is given.
    host: String,
    port: u16,
}

impl PoolKey {
    fn from_uri(uri: &Uri) -> Result<PoolKey, ConnectorError> {
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            _ => {
                return Err(ConnectorError::new(
                    ConnectorErrorKind::Other,
                    format!("requesting {uri}: the URL must start with http:// or https://"),
                    None,
                ));
            }
        };
        let host = match uri.host() {
            Some(h) if !h.is_empty() => super::bare_host(h).to_ascii_lowercase(),
            _ => {
                return Err(ConnectorError::new(
                    ConnectorErrorKind::Other,
                    format!("requesting {uri}: the URL has no host"),
                    None,
                ));
            }
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(PoolKey { tls, host, port })
    }
}

impl fmt::Display for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}", super::authority(&self.host, self.port))
    }
}

/// Idle connections, per origin.
struct Pool {
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
    idle_timeout: Duration,
}

struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

impl Pool {
    fn new(idle_timeout: Duration) -> Pool {
        Pool {
            idle: Mutex::new(HashMap::new()),
            idle_timeout,
        }
    }

    /// The most recently used idle connection to `key` that is still open and ready.
    fn take(&self, key: &PoolKey) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        let now = Instant::now();
        let mut found = None;
        while let Some(entry) = list.pop() {
            if entry.sender.is_ready() && now.duration_since(entry.since) < self.idle_timeout {
                found = Some(entry.sender);
                break;
            }
        }
        if list.is_empty() {
            idle.remove(key);
        }
        found
    }

    fn put(&self, key: PoolKey, sender: SendRequest<Full<Bytes>>) {
        if !sender.is_ready() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key).or_default();
        list.retain(|entry| !entry.sender.is_closed());
        if list.len() >= MAX_IDLE_PER_ORIGIN {
            list.remove(0);
        }
        list.push(Idle {
            sender,
            since: Instant::now(),
        });
    }
}

/// Whether requests to `key` through `proxy` are forwarded (plain HTTP through an HTTP
/// proxy) rather than tunnelled.
fn forwards(proxy: &Proxy, key: &PoolKey) -> bool {
    proxy.scheme() == ProxyScheme::Http && !key.tls
}

/// In forward mode, whether the answer is the proxy's own refusal rather than the server's:
///
/// - a 407, or any answer that asks for proxy credentials (`Proxy-Authenticate`);
/// - when the request carried proxy credentials, a 401 that asks for credentials
///   (`WWW-Authenticate`): tinyproxy's answer to wrong ones;
/// - an error status with an HTML page: Engine.IO servers answer errors in JSON or plain
///   text, proxies (tinyproxy's "500 Unable to connect", squid's 403 and 503) in HTML.
///
/// Other answers pass through as the server's.
fn proxy_refusal(parts: &http::response::Parts, proxy: &Proxy) -> Option<ProxyErrorKind> {
    let status = parts.status;
    let html = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let refused = status == http::StatusCode::PROXY_AUTHENTICATION_REQUIRED
        || parts.headers.contains_key(PROXY_AUTHENTICATE)
        || (status == http::StatusCode::UNAUTHORIZED
            && proxy.credentials().is_some()
            && parts.headers.contains_key(WWW_AUTHENTICATE))
        || (html && (status.is_client_error() || status.is_server_error()));
    let reason = match parts.extensions.get::<hyper::ext::ReasonPhrase>() {
        Some(phrase) => String::from_utf8_lossy(phrase.as_bytes()).into_owned(),
        None => status.canonical_reason().unwrap_or("").to_owned(),
    };
    refused.then_some(ProxyErrorKind::HttpStatus {
        status: status.as_u16(),
        reason,
    })
}

/// Makes the request ready for hyper's HTTP/1.1 client: `Host` set, no `Accept-Encoding`,
/// and the target in origin form, or, for a request `forward`ed by an HTTP proxy, in
/// absolute form (without any user info) with the proxy's credentials.
fn prepare(
    request: Request<Bytes>,
    forward: Option<&Proxy>,
    logger: &Logger,
) -> Result<Request<Full<Bytes>>, ConnectorError> {
    let (mut parts, body) = request.into_parts();
    if !parts.headers.contains_key(HOST) {
        let authority = parts.uri.authority().map_or("", |a| a.as_str());
        // Drop any `user:password@`.
        let host = authority.rsplit('@').next().unwrap_or(authority);
        let value = HeaderValue::from_str(host).map_err(|e| {
            ConnectorError::new(
                ConnectorErrorKind::Other,
                format!("requesting {}: invalid host", parts.uri),
                Some(Box::new(e)),
            )
        })?;
        parts.headers.insert(HOST, value);
    }
    if parts.headers.remove(ACCEPT_ENCODING).is_some() {
        record!(
            logger,
            debug,
            "requesting {}: removed Accept-Encoding (compressed bodies are not supported)",
            parts.uri
        );
    }
    let target = match parts.uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() => pq.clone(),
        _ => PathAndQuery::from_static("/"),
    };
    parts.uri = match forward {
        None => Uri::from(target),
        Some(proxy) => {
            let authority = parts
                .uri
                .authority()
                .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or(""));
            if let Some(auth) = proxy.basic_auth() {
                parts.headers.insert(PROXY_AUTHORIZATION, auth);
            }
            Uri::builder()
                .scheme("http")
                .authority(authority)
                .path_and_query(target)
                .build()
                .map_err(|e| {
                    ConnectorError::new(
                        ConnectorErrorKind::Other,
                        format!("requesting {}: invalid URL", parts.uri),
                        Some(Box::new(e)),
                    )
                })?
        }
    };
    Ok(Request::from_parts(parts, Full::new(body)))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large(what: &str, max_body: usize) -> ConnectorError {
    ConnectorError::new(
        ConnectorErrorKind::TooLarge,
        format!("{what} (limit {max_body} bytes)"),
        None,
    )
}

/// Reads the whole body, failing as soon as it grows past `max`: at most `max` bytes plus
/// the frame in hand are ever buffered. A body that arrives in one frame is not copied.
async fn read_body<B>(mut body: B, max: usize, what: &str) -> Result<Bytes, ConnectorError>
where
    B: Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| hyper_error(what, e))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if data.is_empty() {
            continue;
        }
        len = len.saturating_add(data.len());
        if len > max {
            return Err(too_large(what, max));
        }
        chunks.push(data);
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut buf = BytesMut::with_capacity(len);
            for chunk in chunks {
                buf.extend_from_slice(&chunk);
            }
            buf.freeze()
        }
    })
}

/// Whether `e` says the answer was not HTTP at all (rather than too large an HTTP head).
/// (hyper's `is_parse_too_large` needs its `server` feature: its message tells instead.)
fn not_http(e: &ConnectorError) -> bool {
    let too_large = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<hyper::Error>())
        .is_some_and(|h| h.to_string().contains("too large"));
    e.kind() == ConnectorErrorKind::Protocol && !too_large
}

/// Classifies a hyper error; the context names the request and what hyper says.
fn hyper_error(what: &str, e: hyper::Error) -> ConnectorError {
    let kind = if e.is_parse() || e.is_parse_status() {
        ConnectorErrorKind::Protocol
    } else if e.is_user() {
        ConnectorErrorKind::Other
    } else {
        ConnectorErrorKind::Io
    };
    let detail = match std::error::Error::source(&e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    };
    ConnectorError::new(kind, format!("{what}: {detail}"), Some(Box::new(e)))
}

/// A futures-io stream as hyper's `rt::Read` + `rt::Write`.
struct HyperIo(Box<dyn Io>);

impl hyper::rt::Read for HyperIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let n = {
            let dst = buf.initialize_unfilled();
            let len = dst.len();
            ready!(Pin::new(&mut self.0).poll_read(cx, dst))?.min(len)
        };
        // SAFETY: `initialize_unfilled` initialized the whole unfilled part of the buffer,
        // and `n` is at most its length.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for HyperIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uri: &str) -> PoolKey {
        PoolKey::from_uri(&uri.parse().unwrap()).unwrap()
    }

    #[test]
    fn pool_key_fills_in_default_ports_and_ignores_case_and_path() {
        assert_eq!(
            key("http://Example.COM/engine.io/?EIO=4"),
            PoolKey {
                tls: false,
                host: "example.com".into(),
                port: 80
            }
        );
        assert_eq!(key("https://example.com/").port, 443);
        assert!(key("https://example.com/").tls);
        assert_eq!(
            key("http://example.com:80/a"),
            key("http://example.com/b?c")
        );
        assert_ne!(key("http://example.com/"), key("https://example.com:80/"));
        assert_ne!(key("http://h:1/"), key("http://h:2/"));
    }

    #[test]
    fn pool_key_display_is_the_origin() {
        assert_eq!(
            key("http://127.0.0.1:5000/x").to_string(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(key("https://[::1]/x").host, "::1");
        assert_eq!(key("https://[::1]/x").to_string(), "https://[::1]:443");
    }

    #[test]
    fn pool_key_rejects_other_schemes() {
        let err = PoolKey::from_uri(&"ws://h/".parse().unwrap()).unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::Other);
        assert!(err.context().contains("ws://h/"), "{err}");
        assert!(PoolKey::from_uri(&"/relative".parse().unwrap()).is_err());
    }

    #[test]
    fn prepare_sets_host_origin_form_and_drops_accept_encoding() {
        let req = Request::post("http://user:pw@127.0.0.1:5000/engine.io/?EIO=4&sid=x")
            .header(ACCEPT_ENCODING, "gzip")
            .header("x-custom", "1")
            .body(Bytes::from_static(b"4hello"))
            .unwrap();
        let req = prepare(req, None, &Logger::default()).unwrap();
        assert_eq!(req.uri().to_string(), "/engine.io/?EIO=4&sid=x");
        assert_eq!(req.headers()[HOST], "127.0.0.1:5000");
        assert_eq!(req.headers()["x-custom"], "1");
        assert!(!req.headers().contains_key(ACCEPT_ENCODING));
    }

    #[test]
    fn prepare_keeps_an_explicit_host_and_defaults_the_path() {
        let req = Request::get("http://example.com")
            .header(HOST, "other.example")
            .body(Bytes::new())
            .unwrap();
        let req = prepare(req, None, &Logger::default()).unwrap();
        assert_eq!(req.uri().to_string(), "/");
        assert_eq!(req.headers()[HOST], "other.example");
    }

    fn answer(
        status: u16,
        headers: &[(&str, &str)],
        reason: Option<&'static str>,
    ) -> http::response::Parts {
        let mut builder = Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        if let Some(reason) = reason {
            parts
                .extensions
                .insert(hyper::ext::ReasonPhrase::from_static(reason.as_bytes()));
        }
        parts
    }

    #[test]
    fn forwarded_answers_are_the_proxys_only_when_they_say_so() {
        let with_credentials = Proxy::parse("http://u:p@proxy:3128").unwrap();
        let without = Proxy::parse("http://proxy:3128").unwrap();
        let refusal = |parts: &http::response::Parts, proxy: &Proxy| {
            proxy_refusal(parts, proxy).map(|kind| match kind {
                ProxyErrorKind::HttpStatus { status, reason } => (status, reason),
                other => panic!("{other:?}"),
            })
        };
        let auth_required = answer(407, &[("proxy-authenticate", "Basic")], None);
        assert_eq!(
            refusal(&auth_required, &without),
            Some((407, "Proxy Authentication Required".into()))
        );
        // tinyproxy's answer to wrong credentials.
        let tiny_401 = answer(
            401,
            &[("www-authenticate", "Basic realm=\"Tinyproxy\"")],
            None,
        );
        assert_eq!(
            refusal(&tiny_401, &with_credentials),
            Some((401, "Unauthorized".into()))
        );
        assert_eq!(refusal(&tiny_401, &without), None);
        // python-engineio refusing a connection: the server's, not the proxy's.
        let server_401 = answer(401, &[("content-type", "application/json")], None);
        assert_eq!(refusal(&server_401, &with_credentials), None);
        let node_400 = answer(400, &[("content-type", "application/json")], None);
        assert_eq!(refusal(&node_400, &without), None);
        // An HTML error page: the proxy's, with its own reason phrase.
        let down = answer(
            500,
            &[("content-type", "text/html; charset=utf-8")],
            Some("Unable to connect"),
        );
        assert_eq!(
            refusal(&down, &without),
            Some((500, "Unable to connect".into()))
        );
        let ok_html = answer(200, &[("content-type", "text/html")], None);
        assert_eq!(refusal(&ok_html, &without), None);
    }

    #[test]
    fn prepare_forwards_in_absolute_form_with_the_proxys_credentials() {
        let proxy = Proxy::parse("http://aladdin:opensesame@proxy:3128").unwrap();
        let req = Request::get("http://user:pw@127.0.0.1:5000/engine.io/?EIO=4&transport=polling")
            .body(Bytes::new())
            .unwrap();
        let req = prepare(req, Some(&proxy), &Logger::default()).unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:5000/engine.io/?EIO=4&transport=polling"
        );
        assert_eq!(req.headers()[HOST], "127.0.0.1:5000");
        assert_eq!(
            req.headers()[PROXY_AUTHORIZATION],
            "Basic YWxhZGRpbjpvcGVuc2VzYW1l"
        );
        let req = Request::get("http://h/").body(Bytes::new()).unwrap();
        let plain = Proxy::parse("http://proxy:3128").unwrap();
        let req = prepare(req, Some(&plain), &Logger::default()).unwrap();
        assert_eq!(req.uri().to_string(), "http://h/");
        assert!(!req.headers().contains_key(PROXY_AUTHORIZATION));
    }

    #[test]
    fn content_length_parses() {
        let mut h = HeaderMap::new();
        assert_eq!(content_length(&h), None);
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("42"));
        assert_eq!(content_length(&h), Some(42));
    }

    fn chunked_body(
        chunks: &[&'static [u8]],
    ) -> impl Body<Data = Bytes, Error = hyper::Error> + Unpin {
        let frames: Vec<Result<hyper::body::Frame<Bytes>, hyper::Error>> = chunks
            .iter()
            .map(|c| Ok(hyper::body::Frame::data(Bytes::from_static(c))))
            .collect();
        http_body_util::StreamBody::new(futures::stream::iter(frames))
    }

    #[test]
    fn read_body_joins_chunks_within_the_limit() {
        let body = futures::executor::block_on(read_body(
            chunked_body(&[b"ab", b"", b"cd"]),
            4,
            "GET http://h/",
        ))
        .unwrap();
        assert_eq!(body, Bytes::from_static(b"abcd"));
    }

    #[test]
    fn read_body_fails_with_too_large_past_the_limit() {
        let err = futures::executor::block_on(read_body(
            chunked_body(&[b"ab", b"cd", b"e"]),
            4,
            "GET http://h/",
        ))
        .unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::TooLarge);
        assert!(err.to_string().contains("GET http://h/"), "{err}");
    }

    #[cfg(not(feature = "rustls"))]
    #[test]
    fn https_without_rustls_names_the_feature() {
        let err = no_tls_error(&key("https://example.com/"));
        assert!(err.to_string().contains("`rustls` feature"), "{err}");
        assert!(err.to_string().contains("https://example.com:443"), "{err}");
    }
}
