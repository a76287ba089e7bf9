//! [`SurfConnector`]: an opt-in [`HttpConnector`] over [surf](https://docs.rs/surf) 2
//! (feature `surf`).
//!
//! surf speaks `http-types` 2, not the `http` 1 types of the [`HttpConnector`] trait: the
//! request is converted once on the way in ([`to_surf`]) and the response once on the way
//! out ([`response_head`], [`read_body`]).

use std::io;
use std::str::FromStr;

use ::surf::http as ht;
use async_trait::async_trait;
use bytes::Bytes;
use futures::io::AsyncReadExt;
use http::header::ACCEPT_ENCODING;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use log::debug;

use crate::connector::{ConnectorError, ConnectorErrorKind, HttpConnector};

/// An [`HttpConnector`] over [surf](https://docs.rs/surf) 2.3 (its `h1-client-rustls`
/// backend: async-h1 on async-std sockets, rustls 0.18). Opt-in, behind the `surf` feature.
///
/// ```no_run
/// # fn f() -> Result<(), engineio::Error> {
/// use engineio::connector::SurfConnector;
///
/// let eio = engineio::AsyncClient::builder()
///     .http_connector(SurfConnector::new())
///     .build()?;
/// # let _ = eio; Ok(()) }
/// ```
///
/// # Why it is opt-in
///
/// The default [`HyperConnector`](crate::connector::HyperConnector) is better on every
/// count, and this connector is not part of the default build because:
///
/// - surf is unmaintained: its last release, 2.3.2, is from 2021, and so are those of the
///   crates under it (http-client 6, async-h1 2, http-types 2).
/// - Its TLS stack is old: rustls 0.18, webpki 0.21 and ring 0.16, which have RustSec
///   advisories against them and will not be fixed in those versions.
/// - It cannot share a TLS configuration with the WebSocket connector: surf has its own
///   rustls 0.18 `ClientConfig` (webpki-roots 0.20), unrelated to the rustls 0.23 one of
///   [`TlsConfig`](crate::connector::TlsConfig). The builder's `ssl_verify` and
///   `add_root_certificate` do not reach it; configure TLS on a surf client and pass it to
///   [`from_client`](Self::from_client).
/// - It roughly doubles the dependency tree (a second HTTP stack, a second TLS stack,
///   async-std, and a connection pool that brings tokio's `sync` module).
///
/// It exists to show that [`HttpConnector`] is pluggable, and for applications that are
/// already on surf and want the client to use the same HTTP client (the Rust form of
/// python-engineio's `http_session`).
///
/// # Behaviour
///
/// - No middleware: with `default-features = false` surf installs none (its logger is a
///   default feature), so no redirect is followed (a 3xx reaches the client, which treats
///   it as the error it is for Engine.IO) and nothing asks for or undoes compression. An
///   `Accept-Encoding` header in the request is removed, so bodies arrive as sent.
/// - [`new`](Self::new) turns http-client's keep-alive pool off: every request gets a new
///   connection, closed after its response. The pool (http-client 6.5's `H1Client`) puts a
///   connection back when its request is dropped midway or its body is not read to the
///   end, and its recycle check does not notice the unread bytes, so the next request on
///   it would read a stale response; that breaks the [`HttpConnector`] contract. It also
///   turns off http-client's 60 s request timeout: the Engine.IO client keeps its own
///   time, and a long-polling GET legitimately waits a whole ping interval.
/// - The body is read into memory up to `max_body` bytes; past that the request fails
///   with [`TooLarge`](ConnectorErrorKind::TooLarge), as it does when `Content-Length`
///   announces more. A body that ends before its `Content-Length` is an
///   [`Io`](ConnectorErrorKind::Io) error.
/// - Request header values surf cannot carry (http-types wants ASCII) are left out, and so
///   are response header values `http` rejects (such as the `Date` async-h1 makes up when
///   the server sent none). Every `Set-Cookie` value is kept.
/// - Errors: a connection that cannot be made is [`Connect`](ConnectorErrorKind::Connect)
///   with the origin in the context; a failure on an `https://` URL that the TLS layer
///   reports as invalid data is [`Tls`](ConnectorErrorKind::Tls); other I/O failures are
///   [`Io`](ConnectorErrorKind::Io); anything else surf reports (a malformed response,
///   your middleware) is [`Other`](ConnectorErrorKind::Other) with surf's message.
/// - async-h1's own limits apply: a response head must be under 8 KiB, header values must
///   be UTF-8, and the status must be one `http-types` knows.
///
/// The sockets are async-std's, driven by the async-io reactor thread, so the connector
/// works under any executor.
#[derive(Clone, Debug)]
pub struct SurfConnector {
    client: ::surf::Client,
}

impl Default for SurfConnector {
    fn default() -> SurfConnector {
        SurfConnector::new()
    }
}

impl SurfConnector {
    /// A connector on a new surf client: no keep-alive pool, no timeout of its own,
    /// `TCP_NODELAY` set, no middleware (see [Behaviour](SurfConnector#behaviour)).
    pub fn new() -> SurfConnector {
        let config = ::surf::Config::new()
            .set_http_keep_alive(false)
            .set_tcp_no_delay(true)
            .set_timeout(None);
        let client = match ::surf::Client::try_from(config) {
            Ok(client) => client,
            Err(never) => match never {},
        };
        SurfConnector { client }
    }

    /// A connector on your own surf client, with whatever TLS configuration, middleware
    /// and default headers you gave it (the headers of its `Config` are added to requests
    /// that lack them, as surf's own request builder does).
    ///
    /// Build it with `set_http_keep_alive(false)`: http-client's keep-alive pool can hand
    /// a later request a connection on which an abandoned response is still arriving (see
    /// [Behaviour](SurfConnector#behaviour)). Do not add surf's `Redirect` middleware:
    /// Engine.IO does not redirect, and the client should see the 3xx.
    ///
    /// ```no_run
    /// use std::convert::TryFrom;
    /// use engineio::connector::SurfConnector;
    ///
    /// let client = surf::Client::try_from(
    ///     surf::Config::new()
    ///         .set_http_keep_alive(false)
    ///         .add_header("x-api-key", "secret")
    ///         .unwrap(),
    /// )
    /// .unwrap();
    /// let http = SurfConnector::from_client(client);
    /// ```
    pub fn from_client(client: ::surf::Client) -> SurfConnector {
        SurfConnector { client }
    }

    /// The surf client.
    pub fn client(&self) -> &::surf::Client {
        &self.client
    }
}

#[async_trait]
impl HttpConnector for SurfConnector {
    async fn request(
        &self,
        request: Request<Bytes>,
        max_body: usize,
    ) -> Result<Response<Bytes>, ConnectorError> {
        let what = format!("{} {}", request.method(), request.uri());
        let origin = origin(request.uri());
        let tls = request
            .uri()
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("https"));
        let mut req = to_surf(request)?;
        for (name, values) in self.client.config().headers.iter() {
            if req.header(name).is_none() {
                req.append_header(name, values);
            }
        }
        let mut response = self
            .client
            .send(req)
            .await
            .map_err(|e| send_error(e, &origin, &what, tls))?;
        let head = response_head(&response, &what)?;
        let body = read_body(response.take_body(), max_body, &what).await?;
        Ok(head.map(|()| body))
    }
}

/// `scheme://host:port` of `uri`, the port filled in: what a connect error names.
fn origin(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = super::bare_host(uri.host().unwrap_or(""));
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    format!(
        "{scheme}://{}",
        super::authority(host, uri.port_u16().unwrap_or(default_port))
    )
}

/// The `http` request as an `http-types` one: method, URL, headers (values http-types
/// cannot hold and `Accept-Encoding` left out) and body.
fn to_surf(request: Request<Bytes>) -> Result<ht::Request, ConnectorError> {
    let (parts, body) = request.into_parts();
    let uri = &parts.uri;
    let invalid = |why: &str, source: Option<ht::Error>| {
        ConnectorError::new(
            ConnectorErrorKind::Other,
            format!("requesting {uri}: {why}"),
            source.map(Into::into),
        )
    };
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        _ => return Err(invalid("the URL must start with http:// or https://", None)),
    }
    let url = ::surf::Url::parse(&uri.to_string()).map_err(|e| {
        ConnectorError::new(
            ConnectorErrorKind::Other,
            format!("requesting {uri}: invalid URL"),
            Some(Box::new(e)),
        )
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host", None));
    }
    let method = ht::Method::from_str(parts.method.as_str())
        .map_err(|e| invalid("surf does not know this method", Some(e)))?;
    let mut req = ht::Request::new(method, url);
    for (name, value) in &parts.headers {
        if name == ACCEPT_ENCODING {
            debug!(
                "requesting {uri}: removed Accept-Encoding (compressed bodies are not supported)"
            );
            continue;
        }
        let converted = value.to_str().ok().and_then(|v| {
            Some((
                ht::headers::HeaderName::from_str(name.as_str()).ok()?,
                ht::headers::HeaderValue::from_str(v).ok()?,
            ))
        });
        match converted {
            Some((name, value)) => req.append_header(name, value),
            None => debug!("requesting {uri}: header {name} left out (surf needs ASCII values)"),
        }
    }
    if !body.is_empty() {
        // `set_body` adds `Content-Type: application/octet-stream` when there is none;
        // send only the headers the request has.
        let had_content_type = req.header(ht::headers::CONTENT_TYPE).is_some();
        req.set_body(ht::Body::from_bytes(Vec::from(body)));
        if !had_content_type {
            req.remove_header(ht::headers::CONTENT_TYPE);
        }
    }
    Ok(req)
}

/// Status and headers of the surf response as an `http` response with no body yet.
fn response_head(response: &::surf::Response, what: &str) -> Result<Response<()>, ConnectorError> {
    let code = u16::from(response.status());
    let status = StatusCode::from_u16(code).map_err(|e| {
        ConnectorError::new(
            ConnectorErrorKind::Protocol,
            format!("{what}: invalid status {code}"),
            Some(Box::new(e)),
        )
    })?;
    let mut head = Response::new(());
    *head.status_mut() = status;
    let headers = head.headers_mut();
    for (name, values) in response.iter() {
        let Ok(name) = HeaderName::from_bytes(name.as_str().as_bytes()) else {
            debug!("{what}: response header {name} left out (invalid name)");
            continue;
        };
        for value in values.iter() {
            match HeaderValue::from_str(value.as_str()) {
                Ok(value) => {
                    headers.append(name.clone(), value);
                }
                Err(_) => debug!("{what}: a value of response header {name} left out"),
            }
        }
    }
    Ok(head)
}

fn too_large(what: &str, max_body: usize) -> ConnectorError {
    ConnectorError::new(
        ConnectorErrorKind::TooLarge,
        format!("{what} (limit {max_body} bytes)"),
        None,
    )
}

/// Reads the whole body, never more than `max + 1` bytes: an announced length over `max`
/// fails at once, a body that grows past it fails when it does, and one shorter than its
/// `Content-Length` is an I/O error.
async fn read_body(mut body: ht::Body, max: usize, what: &str) -> Result<Bytes, ConnectorError> {
    let expected = body.len();
    if expected.is_some_and(|len| len > max) {
        return Err(too_large(what, max));
    }
    let mut buf = Vec::with_capacity(expected.unwrap_or(0));
    (&mut body)
        .take(max as u64 + 1)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| {
            ConnectorError::new(
                ConnectorErrorKind::Io,
                format!("{what}: reading the response: {e}"),
                Some(Box::new(e)),
            )
        })?;
    if buf.len() > max {
        return Err(too_large(what, max));
    }
    if let Some(len) = expected.filter(|&len| buf.len() < len) {
        return Err(ConnectorError::new(
            ConnectorErrorKind::Io,
            format!(
                "{what}: the response ended after {} of its {len} bytes",
                buf.len()
            ),
            None,
        ));
    }
    Ok(Bytes::from(buf))
}

/// What http-client 6.5's pool says when it could not open a connection (it keeps only
/// the message of the I/O error).
const POOL_CONNECT_FAILED: &str = "An error occured while creating a new object";

/// Classifies an error from `Client::send`.
fn send_error(e: ::surf::Error, origin: &str, what: &str, tls: bool) -> ConnectorError {
    match e.downcast::<io::Error>() {
        Ok(e) => {
            let kind = match e.kind() {
                io::ErrorKind::ConnectionRefused
                | io::ErrorKind::AddrNotAvailable
                | io::ErrorKind::NotFound
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable => ConnectorErrorKind::Connect,
                io::ErrorKind::InvalidData if tls => ConnectorErrorKind::Tls,
                _ => ConnectorErrorKind::Io,
            };
            let context = match kind {
                ConnectorErrorKind::Connect | ConnectorErrorKind::Tls => {
                    format!("connecting to {origin}")
                }
                _ => format!("{what}: {e}"),
            };
            ConnectorError::new(kind, context, Some(Box::new(e)))
        }
        Err(e) => {
            let message = e.to_string();
            let (kind, context) = if message.starts_with(POOL_CONNECT_FAILED) {
                (
                    ConnectorErrorKind::Connect,
                    format!("connecting to {origin}: {message}"),
                )
            } else {
                (ConnectorErrorKind::Other, format!("{what}: {message}"))
            };
            ConnectorError::new(kind, context, Some(e.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_surf_converts_method_url_headers_and_body() {
        let req = Request::post("http://127.0.0.1:5000/engine.io/?EIO=4&sid=x")
            .header("content-type", "text/plain;charset=UTF-8")
            .header("cookie", "a=1")
            .header("x-multi", "1")
            .header("x-multi", "2")
            .header(ACCEPT_ENCODING, "gzip")
            .header("x-latin1", HeaderValue::from_bytes(b"caf\xe9").unwrap())
            .body(Bytes::from_static(b"4h\xc3\xa9llo"))
            .unwrap();
        let mut req = to_surf(req).unwrap();
        assert_eq!(req.method(), ht::Method::Post);
        assert_eq!(
            req.url().as_str(),
            "http://127.0.0.1:5000/engine.io/?EIO=4&sid=x"
        );
        assert_eq!(req["content-type"], "text/plain;charset=UTF-8");
        assert_eq!(req["cookie"], "a=1");
        let multi: Vec<&str> = req["x-multi"].iter().map(|v| v.as_str()).collect();
        assert_eq!(multi, ["1", "2"]);
        assert!(req.header("accept-encoding").is_none());
        assert!(req.header("x-latin1").is_none());
        assert_eq!(req.len(), Some(7));
        let body = futures::executor::block_on(req.body_bytes()).unwrap();
        assert_eq!(body, "4héllo".as_bytes());
    }

    #[test]
    fn to_surf_adds_no_content_type_and_no_body_to_a_get() {
        let req = Request::get("http://h/engine.io/?EIO=4")
            .body(Bytes::new())
            .unwrap();
        let req = to_surf(req).unwrap();
        assert_eq!(req.method(), ht::Method::Get);
        assert!(req.header("content-type").is_none());
        assert_eq!(req.iter().count(), 0);

        let req = Request::post("http://h/")
            .body(Bytes::from_static(b"x"))
            .unwrap();
        assert!(to_surf(req).unwrap().header("content-type").is_none());
    }

    #[test]
    fn to_surf_rejects_other_schemes_naming_the_url() {
        let req = Request::get("ws://h/engine.io/")
            .body(Bytes::new())
            .unwrap();
        let err = to_surf(req).unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::Other);
        assert!(err.to_string().contains("ws://h/engine.io/"), "{err}");
    }

    #[test]
    fn response_head_keeps_status_and_every_set_cookie() {
        let mut res = ht::Response::new(ht::StatusCode::BadRequest);
        res.append_header("set-cookie", "a=1; Path=/");
        res.append_header("set-cookie", "b=2");
        res.insert_header("content-type", "text/plain");
        // What async-h1 makes up when the server sends no Date.
        res.insert_header("date", "date: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
        let res = ::surf::Response::from(res);
        let head = response_head(&res, "GET http://h/").unwrap();
        assert_eq!(head.status(), StatusCode::BAD_REQUEST);
        let cookies: Vec<&str> = head
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
        assert_eq!(head.headers()["content-type"], "text/plain");
        assert!(!head.headers().contains_key("date"));
    }

    fn streamed(chunks: &[&'static [u8]], len: Option<usize>) -> ht::Body {
        let data: Vec<u8> = chunks.concat();
        ht::Body::from_reader(futures::io::Cursor::new(data), len)
    }

    #[test]
    fn read_body_within_the_limit() {
        let body =
            futures::executor::block_on(read_body(streamed(&[b"ab", b"cd"], None), 4, "GET u"));
        assert_eq!(body.unwrap(), Bytes::from_static(b"abcd"));
        let body =
            futures::executor::block_on(read_body(streamed(&[b"abcd"], Some(4)), 4, "GET u"));
        assert_eq!(body.unwrap(), Bytes::from_static(b"abcd"));
    }

    #[test]
    fn read_body_past_the_limit_is_too_large() {
        for len in [None, Some(5)] {
            let err = futures::executor::block_on(read_body(
                streamed(&[b"abcde"], len),
                4,
                "GET http://h/",
            ))
            .unwrap_err();
            assert_eq!(err.kind(), ConnectorErrorKind::TooLarge);
            assert!(err.to_string().contains("GET http://h/"), "{err}");
        }
    }

    #[test]
    fn read_body_shorter_than_its_length_is_an_io_error() {
        let err = futures::executor::block_on(read_body(streamed(&[b"ab"], Some(4)), 10, "GET u"))
            .unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::Io);
    }

    #[test]
    fn send_errors_are_classified() {
        let refused = ht::Error::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        let err = send_error(refused, "http://h:1", "GET http://h:1/x", false);
        assert!(err.is_connect());
        assert_eq!(
            err.to_string(),
            "connecting to http://h:1: connection failed"
        );

        let bad = ht::Error::from(io::Error::from(io::ErrorKind::InvalidData));
        assert!(send_error(bad, "https://h:443", "GET https://h/", true).is_tls());

        let reset = ht::Error::from(io::Error::from(io::ErrorKind::ConnectionReset));
        let err = send_error(reset, "http://h:80", "GET http://h/", false);
        assert_eq!(err.kind(), ConnectorErrorKind::Io);

        let pool = ht::Error::from_str(
            400,
            format!("{POOL_CONNECT_FAILED}: Connection refused (os error 111)"),
        );
        assert!(send_error(pool, "http://h:1", "GET http://h:1/", false).is_connect());

        let other = ht::Error::from_str(500, "Unexpected Content-Length header");
        let err = send_error(other, "http://h:80", "GET http://h/", false);
        assert_eq!(err.kind(), ConnectorErrorKind::Other);
        assert!(
            err.to_string().contains("Unexpected Content-Length"),
            "{err}"
        );
    }

    #[test]
    fn origin_fills_in_the_port() {
        assert_eq!(origin(&"http://h/x".parse().unwrap()), "http://h:80");
        assert_eq!(
            origin(&"https://[::1]/x".parse().unwrap()),
            "https://[::1]:443"
        );
        assert_eq!(origin(&"http://h:5/x".parse().unwrap()), "http://h:5");
    }
}
