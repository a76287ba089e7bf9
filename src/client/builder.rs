//! [`ClientBuilder`]: every option of python-engineio's client constructor, and more.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use crate::connector::{HttpConnector, Proxy, ProxyRules, WebSocketConnector};
use crate::logging::{Logger, record};
use crate::proto::SessionConfig;
use crate::rt::Runtime;
use crate::{AsyncClient, Error, Protocol, Reconnect, Transports};

/// The default receive limit: the largest poll response or WebSocket message accepted.
pub(crate) const DEFAULT_RECEIVE_LIMIT: usize = 64 * 1024 * 1024;

/// How much received data may wait for the application by default, in bytes.
pub(crate) const DEFAULT_RECEIVE_BUFFER: usize = 16 * 1024 * 1024;

/// Builds an [`AsyncClient`] (and, with the `blocking` feature, a `Client`) with options.
///
/// | python-engineio | here |
/// |---|---|
/// | `logger=True/False` | [`logger`](Self::logger) |
/// | `logger=<a logger object>` | [`log_target`](Self::log_target) |
/// | `request_timeout=5` | [`request_timeout`](Self::request_timeout) |
/// | `ssl_verify=False` | `ssl_verify` (feature `rustls`) |
/// | `http_session=…` | [`http_connector`](Self::http_connector) |
/// | `websocket_extra_options=…` | [`websocket_connector`](Self::websocket_connector) |
/// | `timestamp_requests=True` | [`timestamp_requests`](Self::timestamp_requests) |
/// | `connect(headers=…)` | [`header`](Self::header) |
/// | `connect(transports=…)` | [`transports`](Self::transports) |
/// | `connect(engineio_path=…)` | [`engineio_path`](Self::engineio_path) |
///
/// ```
/// use std::time::Duration;
/// use engineio::{AsyncClient, Transports};
///
/// let eio = AsyncClient::builder()
///     .header("Authorization", "Bearer abc")
///     .query("room", "lobby")
///     .transports(Transports::WebSocket)
///     .engineio_path("socket.io")
///     .request_timeout(Duration::from_secs(10))
///     .logger(false)
///     .build()?;
/// # let _ = eio;
/// # Ok::<(), engineio::Error>(())
/// ```
#[must_use]
pub struct ClientBuilder {
    runtime: Option<Runtime>,
    http: Option<Arc<dyn HttpConnector>>,
    ws: Option<Arc<dyn WebSocketConnector>>,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    path: String,
    session: SessionConfig,
    logger: bool,
    log_target: String,
    max_receive: usize,
    receive_buffer: usize,
    #[cfg(feature = "rustls")]
    tls: crate::connector::TlsConfig,
    proxy: ProxyChoice,
    try_all_transports: bool,
    remember_upgrade: bool,
    reconnect: Option<Reconnect>,
    error: Option<Error>,
}

/// Where the built-in connectors' proxy comes from.
enum ProxyChoice {
    /// The environment (`http_proxy` and friends), read at `build`.
    Environment,
    /// None: every connection is direct.
    Direct,
    /// This one, for every connection.
    Explicit(Proxy),
}

/// What a client is made of, once built.
pub(crate) struct ClientConfig {
    pub(crate) runtime: Runtime,
    pub(crate) http: Arc<dyn HttpConnector>,
    pub(crate) ws: Arc<dyn WebSocketConnector>,
    pub(crate) headers: HeaderMap,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) path: String,
    pub(crate) session: SessionConfig,
    pub(crate) logger: Logger,
    pub(crate) max_receive: usize,
    pub(crate) receive_buffer: usize,
    pub(crate) try_all_transports: bool,
    pub(crate) remember_upgrade: bool,
    pub(crate) reconnect: Option<Reconnect>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl ClientBuilder {
    /// A builder with every option at its default.
    pub fn new() -> ClientBuilder {
        ClientBuilder {
            runtime: None,
            http: None,
            ws: None,
            headers: HeaderMap::new(),
            query: Vec::new(),
            path: "engine.io".to_owned(),
            session: SessionConfig::default(),
            logger: true,
            log_target: crate::logging::DEFAULT_TARGET.to_owned(),
            max_receive: DEFAULT_RECEIVE_LIMIT,
            receive_buffer: DEFAULT_RECEIVE_BUFFER,
            #[cfg(feature = "rustls")]
            tls: crate::connector::TlsConfig::new(),
            proxy: ProxyChoice::Environment,
            try_all_transports: false,
            remember_upgrade: false,
            reconnect: None,
            error: None,
        }
    }

    #[cfg(feature = "blocking")]
    pub(crate) fn has_runtime(&self) -> bool {
        self.runtime.is_some()
    }

    /// The runtime to run on, instead of the one chosen by Cargo feature.
    ///
    /// ```
    /// use engineio::AsyncClient;
    ///
    /// let rt = tokio::runtime::Runtime::new()?;
    /// let eio = AsyncClient::builder()
    ///     .runtime(engineio::adapters::tokio::runtime(rt.handle().clone()))
    ///     .build()?;
    /// # let _ = eio;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Sends HTTP requests with `connector` instead of the built-in one (python's
    /// `http_session`).
    ///
    /// Any [`HttpConnector`] will do; here, the built-in one without connection reuse:
    ///
    /// ```
    /// use std::time::Duration;
    /// use engineio::{AsyncClient, connector::HyperConnector};
    /// use engineio::rt::Runtime;
    ///
    /// let rt = Runtime::from_features();
    /// let http = HyperConnector::new(rt.dialer().clone(), rt.spawner().clone())
    ///     .pool_idle_timeout(Duration::ZERO);
    /// let eio = AsyncClient::builder().runtime(rt).http_connector(http).build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn http_connector(mut self, connector: impl HttpConnector) -> Self {
        self.http = Some(Arc::new(connector));
        self
    }

    /// Opens WebSockets with `connector` instead of the built-in one.
    ///
    /// Any [`WebSocketConnector`] will do; here, the built-in one on a dialer of the
    /// runtime's:
    ///
    /// ```
    /// use engineio::{AsyncClient, connector::TungsteniteConnector};
    /// use engineio::rt::Runtime;
    ///
    /// let rt = Runtime::from_features();
    /// let ws = TungsteniteConnector::new(rt.dialer().clone());
    /// let eio = AsyncClient::builder().runtime(rt).websocket_connector(ws).build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn websocket_connector(mut self, connector: impl WebSocketConnector) -> Self {
        self.ws = Some(Arc::new(connector));
        self
    }

    /// Adds a header to every request and to the WebSocket handshake. Invalid names and
    /// values (including any with CR or LF) make [`build`](Self::build) fail.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => {
                self.error
                    .get_or_insert(Error::InvalidHeader(format!("{name:?}: {value:?}")));
            }
        }
        self
    }

    /// Adds a query parameter to every request, ahead of `EIO`, `transport` and `sid`.
    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Which transports to use: polling then upgrade (the default), polling only, or
    /// WebSocket only.
    pub fn transports(mut self, transports: Transports) -> Self {
        self.session.transports = transports;
        self
    }

    /// Which Engine.IO protocol version to speak: [`Protocol::Auto`] (the default) speaks
    /// the server's, [`Protocol::V4`] and [`Protocol::V3`] pin one.
    ///
    /// How `Auto` chooses, per connection:
    /// - The handshake asks `EIO=4`. A v4 server answers in v4: v4 it is.
    /// - node's engine.io 3.x (socket.io 2.x) ignores `EIO` and answers in v3: the client
    ///   goes on in v3 with that very session, no second round trip.
    /// - python-engineio 3.x refuses `EIO=4` (HTTP 400, "unsupported version"): the client
    ///   asks again with `EIO=3`, once.
    /// - WebSocket-only ([`Transports::WebSocket`]), where an open packet looks the same in
    ///   both versions: a handshake without `maxPayload` (which every v4 server of today
    ///   sends: node's engine.io since 6.2, python-engineio 4, engineioxide) is asked again
    ///   in v3 on a new WebSocket; if `EIO=3` is refused, the server is an older v4 one,
    ///   asked a third time in v4.
    ///
    /// With `V4` pinned, a v3 server fails `connect` with
    /// [`DecodeError::ProtocolV3`](crate::DecodeError::ProtocolV3) over polling and the
    /// upgrade; over WebSocket only, its open packet looks like an older v4 server's, and
    /// the connection ends at the first ping deadline. A server that does not speak the
    /// pinned version otherwise refuses it: `HTTP 400`, with the server's message.
    /// [`AsyncClient::protocol`](crate::AsyncClient::protocol) says which is spoken.
    ///
    /// ```
    /// use engineio::{AsyncClient, Protocol};
    ///
    /// // A socket.io 2.x server: v3 only, no detection.
    /// let eio = AsyncClient::builder().protocol(Protocol::V3).engineio_path("socket.io").build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.session.protocol = protocol;
        self
    }

    /// The Engine.IO path on the server: `engine.io` by default; socket.io servers use
    /// `socket.io`.
    pub fn engineio_path(mut self, path: &str) -> Self {
        self.path = path.to_owned();
        self
    }

    /// How long the handshake, each POST and each WebSocket open may take (default 5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.session.request_timeout = timeout;
        self
    }

    /// How long an upgrade to WebSocket may take before the client stays on polling
    /// (default 10 s).
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.session.upgrade_timeout = timeout;
        self
    }

    /// The most messages (packets) one long-polling POST carries (default 16).
    ///
    /// python-engineio servers accept at most 16 packets in a POST: they log "Too many
    /// packets in payload", answer `ok`, and drop the whole POST, so the default keeps to
    /// that. node's engine.io and engineioxide have no such limit (only the byte limit,
    /// `maxPayload`, which the client always keeps to): against them, a higher figure
    /// saves POST round trips and raises polling throughput several times over when
    /// messages are sent faster than one round trip each. Values below 1 count as 1.
    ///
    /// ```
    /// // A node engine.io server: up to 256 messages per POST.
    /// let eio = engineio::AsyncClient::builder().max_packets_per_post(256).build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn max_packets_per_post(mut self, packets: usize) -> Self {
        self.session.max_packets_per_post = packets.max(1);
        self
    }

    /// Adds a `t` cache-busting parameter to polling requests (default off).
    pub fn timestamp_requests(mut self, on: bool) -> Self {
        self.session.timestamp_requests = on;
        self
    }

    /// Whether this client emits log records (through the `log` crate; install a logger
    /// such as `env_logger` to see them). On by default; off silences every record of this
    /// client, those of the connectors the builder makes included. The warning that TLS
    /// verification is off ([`ssl_verify`](Self::ssl_verify)) still goes out.
    ///
    /// Each record of a connection starts with its session id (or, before the handshake,
    /// the server's URL).
    pub fn logger(mut self, on: bool) -> Self {
        self.logger = on;
        self
    }

    /// The `log` target of this client's records (default `"engineio"`): the counterpart
    /// of python-engineio's `logger` object. Give each client a target of its own to
    /// route or filter its records apart from the others', with any logger.
    ///
    /// ```
    /// let eio = engineio::AsyncClient::builder()
    ///     .log_target("chat::engineio")
    ///     .build()?;
    /// // With env_logger: RUST_LOG=chat::engineio=debug shows this client's records only.
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn log_target(mut self, target: &str) -> Self {
        self.log_target = target.to_owned();
        self
    }

    /// The largest poll response or WebSocket message accepted (default 64 MiB). A larger
    /// one ends the connection with a transport error instead of exhausting memory.
    ///
    /// ```
    /// let eio = engineio::AsyncClient::builder()
    ///     .receive_limit(1024 * 1024) // 1 MiB
    ///     .build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn receive_limit(mut self, bytes: usize) -> Self {
        self.max_receive = bytes;
        self
    }

    /// How many messages `send` may queue ahead of the transport (default 1024). When they
    /// are all waiting, `send` waits (`Client::send` blocks) until the transport has taken
    /// some: a producer faster than the network slows down instead of growing memory
    /// without bound. Besides the queue, the transport holds what it is writing: the POST
    /// in flight (at most [`max_packets_per_post`](Self::max_packets_per_post) messages)
    /// or one WebSocket frame.
    ///
    /// ```
    /// let eio = engineio::AsyncClient::builder().send_buffer(256).build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn send_buffer(mut self, messages: usize) -> Self {
        self.session.send_buffer = messages.max(1);
        self
    }

    /// How much received data may wait for the application (default 16 MiB): messages
    /// whose message handler has not finished yet, or that an [`events`] stream has not
    /// yielded yet. Each message counts its length plus 64 bytes. While the handler's queue
    /// or any one stream holds more, the client stops reading from the transport, so a
    /// server that sends faster than the application consumes meets TCP backpressure
    /// instead of growing the client's memory without bound. At least one message always
    /// gets through, so the most that can wait is this plus one message of up to
    /// [`receive_limit`](Self::receive_limit).
    ///
    /// Heartbeats travel on the same transport: an application that leaves messages
    /// waiting longer than the server's `pingInterval + pingTimeout` loses the connection
    /// (a ping timeout), as it would with any reader that stops reading.
    ///
    /// [`events`]: crate::AsyncClient::events
    ///
    /// ```
    /// let eio = engineio::AsyncClient::builder()
    ///     .receive_buffer(1024 * 1024) // 1 MiB
    ///     .build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn receive_buffer(mut self, bytes: usize) -> Self {
        self.receive_buffer = bytes.max(1);
        self
    }

    /// Whether to verify the server's TLS certificate (default: yes). Turning it off is
    /// logged at warn level each time a connection is made.
    ///
    /// ```
    /// // For a test server with a self-signed certificate; never in production.
    /// let eio = engineio::AsyncClient::builder().ssl_verify(false).build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    #[cfg(feature = "rustls")]
    pub fn ssl_verify(mut self, verify: bool) -> Self {
        self.tls = self.tls.verify(verify);
        self
    }

    /// Trusts an extra root certificate, in PEM or DER form. A certificate that cannot be
    /// read makes [`build`](Self::build) fail with [`Error::Certificate`].
    ///
    /// ```
    /// use engineio::{AsyncClient, Error};
    ///
    /// # let ca_pem = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?.cert.pem();
    /// // `ca_pem`: a private CA's certificate, e.g. from `std::fs::read("ca.pem")?`.
    /// let eio = AsyncClient::builder().add_root_certificate(ca_pem.as_bytes()).build()?;
    /// # let _ = eio;
    ///
    /// let bad = AsyncClient::builder().add_root_certificate(b"-----BEGIN CERTIFICATE-----\n!");
    /// assert!(matches!(bad.build(), Err(Error::Certificate(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "rustls")]
    pub fn add_root_certificate(mut self, cert: &[u8]) -> Self {
        let tls = if cert.trim_ascii_start().starts_with(b"-----BEGIN") {
            self.tls.clone().root_certificates_pem(cert)
        } else {
            self.tls.clone().root_certificate_der(cert.to_vec())
        };
        match tls.build() {
            Ok(_) => self.tls = tls,
            Err(e) => {
                self.error
                    .get_or_insert(Error::Certificate(crate::error::chain(&e)));
            }
        }
        self
    }

    /// Connects through this proxy, whatever the environment says:
    /// `http://[user:password@]host:port`, `socks5://…` (the client resolves the server's
    /// name) or `socks5h://…` (the proxy resolves it). A URL that cannot be used makes
    /// [`build`](Self::build) fail with [`Error::InvalidProxy`], which names it (without its
    /// password).
    ///
    /// Every request of a session goes through it: the handshake, the polls and POSTs, the
    /// upgrade's WebSocket, a WebSocket-only connect. Through an HTTP proxy, plain-HTTP
    /// polling is forwarded (`Proxy-Authorization: Basic` when the URL has credentials),
    /// and `https://`, `ws://` and `wss://` go through a `CONNECT` tunnel, TLS running to
    /// the server inside it with this client's TLS settings. A proxy that cannot be
    /// reached or refuses fails `connect` with [`TransportFailure::Proxy`], which says which
    /// proxy and what it answered; the request timeout bounds the proxy's handshake too.
    ///
    /// Without this, the client follows the environment, as curl and reqwest do
    /// (`http_proxy`, `https_proxy`, `all_proxy`, `no_proxy`, in either case; see
    /// [`ProxyRules`](crate::connector::ProxyRules)); [`no_proxy`](Self::no_proxy) turns
    /// that off. Proxies apply to the built-in connectors: a connector given to
    /// [`http_connector`](Self::http_connector) or
    /// [`websocket_connector`](Self::websocket_connector) connects its own way.
    ///
    /// [`TransportFailure::Proxy`]: crate::TransportFailure::Proxy
    ///
    /// ```
    /// use engineio::{AsyncClient, Error};
    ///
    /// let eio = AsyncClient::builder().proxy("socks5h://user:p%40ss@127.0.0.1:1080").build()?;
    /// # let _ = eio;
    ///
    /// let bad = AsyncClient::builder().proxy("ftp://user:secret@proxy:21").build();
    /// let Err(Error::InvalidProxy(e)) = bad else { panic!() };
    /// assert!(e.to_string().contains("ftp://user:***@proxy:21"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn proxy(mut self, url: &str) -> Self {
        match Proxy::parse(url) {
            Ok(proxy) => self.proxy = ProxyChoice::Explicit(proxy),
            Err(e) => {
                self.error.get_or_insert(Error::InvalidProxy(e));
            }
        }
        self
    }

    /// Connects directly, ignoring the proxy environment variables (and any earlier
    /// [`proxy`](Self::proxy)).
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyChoice::Direct;
        self
    }

    /// When the first transport cannot connect, try the other (engine.io-client's
    /// `tryAllTransports`). Off by default: a connect that fails, fails.
    ///
    /// - With [`Transports::WebSocket`]: when the WebSocket cannot be opened (refused,
    ///   blocked by a proxy or firewall, timed out), connect over long-polling instead, and
    ///   upgrade to WebSocket later if the server offers it.
    /// - With the default [`Transports::Upgrade`]: when the long-polling handshake fails,
    ///   connect over WebSocket only. If that fails too, `connect` returns the polling
    ///   attempt's error.
    ///
    /// A failure that is the Engine.IO server's own answer (a 4xx with an Engine.IO error
    /// message: its connect handler refused, say) is not tried again on the other
    /// transport, nor is a connect that `disconnect` ended. Each attempt has its own
    /// request timeout.
    ///
    /// ```
    /// use engineio::{AsyncClient, Transports};
    ///
    /// let eio = AsyncClient::builder()
    ///     .transports(Transports::WebSocket)
    ///     .try_all_transports(true)
    ///     .build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn try_all_transports(mut self, on: bool) -> Self {
        self.try_all_transports = on;
        self
    }

    /// Once a session of this client has run on WebSocket (upgraded to it, or opened on
    /// it), the next [`connect`](crate::AsyncClient::connect) opens directly on WebSocket,
    /// skipping the polling handshake and the upgrade; if that fails, it connects over
    /// long-polling, and WebSocket is not tried directly again until a session upgrades
    /// anew (engine.io-client's `rememberUpgrade`). Only with the default transports
    /// ([`Transports::Upgrade`]). Off by default.
    pub fn remember_upgrade(mut self, on: bool) -> Self {
        self.remember_upgrade = on;
        self
    }

    /// Reconnects after a lost connection, as `policy` says (off by default). See
    /// [`Reconnect`] for what is retried and when.
    ///
    /// What the application sees: the `disconnect` handler runs for the connection that
    /// ended, with its reason, as without reconnection; the event stream yields
    /// [`ClientEvent::Reconnecting`](crate::ClientEvent::Reconnecting) before each wait;
    /// when an attempt connects, the `connect` handler runs again and `sid()` is the new
    /// session's; when the attempts run out, the stream yields
    /// [`ClientEvent::ReconnectFailed`](crate::ClientEvent::ReconnectFailed) and the client
    /// stops. `wait()` returns only once the client has stopped for good; `disconnect()`
    /// stops it at once, during a wait or an attempt. Between connections, `send` fails
    /// and hands the message back, as it always does with no connection open.
    ///
    /// The first `connect` does not give up at its first failure either (socket.io-client's
    /// Manager does not): it tries again on the same schedule, with the same events, and
    /// returns once an attempt connects, or with the last failure when the attempts run out
    /// or `disconnect()` stops it. Errors that no attempt can mend (a bad URL) come back at
    /// once.
    ///
    /// ```
    /// use engineio::{AsyncClient, Reconnect};
    ///
    /// let eio = AsyncClient::builder().reconnect(Reconnect::new().attempts(10)).build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// Builds the client.
    ///
    /// Fails when an option was invalid, or when no runtime was given and no runtime
    /// feature is enabled.
    ///
    /// ```
    /// use engineio::{AsyncClient, Error};
    ///
    /// let eio = AsyncClient::builder().query("token", "abc").build()?;
    /// # let _ = eio;
    ///
    /// let bad = AsyncClient::builder().header("X-Evil", "a\r\nInjected: 1");
    /// assert!(matches!(bad.build(), Err(Error::InvalidHeader(_))));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn build(self) -> Result<AsyncClient, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(AsyncClient::from_config(self.try_into_config()?))
    }

    pub(crate) fn try_into_config(mut self) -> Result<ClientConfig, Error> {
        let runtime = match self.runtime.take() {
            Some(rt) => rt,
            None => default_runtime()?,
        };
        Ok(self.into_config_with(runtime))
    }

    /// The configuration on `runtime` (a runtime given to [`runtime`](Self::runtime) wins).
    pub(crate) fn into_config_with(self, runtime: Runtime) -> ClientConfig {
        let runtime = self.runtime.unwrap_or(runtime);
        let logger = Logger::new(self.logger, &self.log_target);
        // The connectors start with the default configuration, built once per process;
        // only a client with TLS options of its own builds one (a root store is not free).
        // Certificates were checked when they were added, so this only fails if the TLS
        // library itself cannot start; the connectors then keep their default config.
        #[cfg(feature = "rustls")]
        let tls = if self.tls.is_default() {
            None
        } else {
            self.tls
                .build()
                .map_err(|e| record!(logger, error, "TLS configuration failed: {e}"))
                .ok()
        };
        let proxies = match self.proxy {
            ProxyChoice::Direct => ProxyRules::none(),
            ProxyChoice::Explicit(proxy) => ProxyRules::all(proxy),
            ProxyChoice::Environment => {
                let (rules, warnings) = ProxyRules::from_vars(|name| std::env::var(name).ok());
                for warning in warnings {
                    record!(logger, warn, "proxy environment: {warning}");
                }
                rules
            }
        };
        let http = self.http.unwrap_or_else(|| {
            let c = crate::connector::HyperConnector::new(
                runtime.dialer.clone(),
                runtime.spawner.clone(),
            )
            .with_proxy(proxies.clone())
            .with_logger(logger.clone());
            #[cfg(feature = "rustls")]
            let c = match &tls {
                Some(tls) => c.with_tls(tls.clone()),
                None => c,
            };
            Arc::new(c)
        });
        let ws = self.ws.unwrap_or_else(|| {
            let c = crate::connector::TungsteniteConnector::new(runtime.dialer.clone())
                .with_proxy(proxies)
                .with_logger(logger.clone());
            #[cfg(feature = "rustls")]
            let c = match &tls {
                Some(tls) => c.with_tls(tls.clone()),
                None => c,
            };
            Arc::new(c)
        });
        ClientConfig {
            runtime,
            http,
            ws,
            headers: self.headers,
            query: self.query,
            path: self.path,
            session: self.session,
            logger,
            max_receive: self.max_receive,
            receive_buffer: self.receive_buffer,
            try_all_transports: self.try_all_transports,
            remember_upgrade: self.remember_upgrade,
            reconnect: self.reconnect,
        }
    }
}

fn default_runtime() -> Result<Runtime, Error> {
    #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
    return Ok(Runtime::from_features());
    #[cfg(not(any(feature = "tokio", feature = "smol", feature = "async-std")))]
    return Err(Error::NoRuntime);
}
