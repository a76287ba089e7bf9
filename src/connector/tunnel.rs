//! Connections through a proxy: an HTTP `CONNECT` tunnel, or a SOCKS5 connection
//! (RFC 1928, with RFC 1929's user name and password). Each handshake is a few pure steps,
//! tested on their own, and one async function that does the I/O with them.
//!
//! Nothing here has a timer of its own: the client bounds every request and WebSocket open
//! with its request timeout, and the proxy's handshake is part of it.

use std::net::IpAddr;

use futures::{AsyncReadExt, AsyncWriteExt};

use super::proxy::{Proxy, ProxyError, ProxyErrorKind, ProxyScheme};
use super::ws_handshake::{HeadError, read_response_head};
use super::{ConnectorError, ConnectorErrorKind, Prefixed};
use crate::rt::{Dialer, Io};

/// A stream to `host:port` through `proxy`, ready for TLS or for the request.
pub(super) async fn tunnel(
    dialer: &dyn Dialer,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<Box<dyn Io>, ConnectorError> {
    let target = super::authority(host, port);
    let fail = |kind| ProxyError {
        proxy: proxy.to_string(),
        target: target.clone(),
        kind,
    };
    let io = dial(dialer, proxy, &target).await?;
    let result = match proxy.scheme() {
        ProxyScheme::Http => http_connect(io, proxy, &target).await,
        ProxyScheme::Socks5 => {
            // The client resolves the name; the proxy gets an address. Each address is
            // tried in turn while the proxy says it cannot reach it (`localhost` may be
            // ::1 first for a server on 127.0.0.1 only), or cannot take its kind of
            // address (reply 8: a proxy without IPv6).
            let ips = match host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => resolve(dialer, host, port).await.map_err(|why| {
                    ConnectorError::new(
                        ConnectorErrorKind::Connect,
                        format!("connecting to {target} through proxy {proxy}: {why}"),
                        None,
                    )
                })?,
            };
            let mut io = Some(io);
            let mut result = Err(ProxyErrorKind::SocksReply(4));
            for (i, ip) in ips.iter().enumerate() {
                let io = match io.take() {
                    Some(io) => io,
                    None => dial(dialer, proxy, &target).await?,
                };
                result = socks5(io, proxy, &SocksTarget::Ip(*ip), port).await;
                let unreachable = matches!(result, Err(ProxyErrorKind::SocksReply(3..=5 | 8)));
                if !unreachable || i + 1 == ips.len() {
                    break;
                }
            }
            result
        }
        ProxyScheme::Socks5h => {
            let target = match host.parse::<IpAddr>() {
                Ok(ip) => SocksTarget::Ip(ip),
                Err(_) => SocksTarget::Name(host),
            };
            socks5(io, proxy, &target, port).await
        }
    };
    result.map_err(|kind| fail(kind).into())
}

/// The addresses of `host`, or why there are none.
async fn resolve(dialer: &dyn Dialer, host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
    let addrs = dialer.resolve(host, port).await.map_err(|e| {
        format!("{host} did not resolve here (socks5h:// lets the proxy resolve it): {e}")
    })?;
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    Ok(addrs.iter().map(|a| a.ip()).collect())
}

/// Opens the TCP connection to the proxy itself; a proxy that cannot be reached is a
/// [`ProxyErrorKind::Unreachable`] that names it.
pub(super) async fn dial(
    dialer: &dyn Dialer,
    proxy: &Proxy,
    target: &str,
) -> Result<Box<dyn Io>, ConnectorError> {
    dialer.dial(proxy.host(), proxy.port()).await.map_err(|e| {
        ProxyError {
            proxy: proxy.to_string(),
            target: target.to_owned(),
            kind: ProxyErrorKind::Unreachable(e.to_string()),
        }
        .into()
    })
}

fn io_failure(e: std::io::Error) -> ProxyErrorKind {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            ProxyErrorKind::Io("the proxy closed the connection".to_owned())
        }
        _ => ProxyErrorKind::Io(e.to_string()),
    }
}

// ---------------------------------------------------------------- HTTP CONNECT

/// The `CONNECT` request for `target` (`host:port`), with the proxy's credentials if any.
fn connect_request(target: &str, proxy: &Proxy) -> Vec<u8> {
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
    if let Some(auth) = proxy.basic_auth() {
        head.extend_from_slice(b"Proxy-Authorization: ");
        head.extend_from_slice(auth.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// How many interim (1xx) answers a proxy may send before its answer to `CONNECT`.
const MAX_INTERIM_ANSWERS: usize = 8;

/// What an answer to `CONNECT` says.
#[derive(Debug, PartialEq, Eq)]
enum ConnectAnswer {
    /// A 2xx: the tunnel is open after the head.
    Open,
    /// An interim answer (1xx other than 101, such as `100 Continue`): the real one follows.
    Interim,
}

/// Checks the proxy's answer to `CONNECT`, `head` being its whole head: any 2xx opens the
/// tunnel; 1xx answers other than 101 are interim (HTTP clients must skip them); anything
/// else (101 included: CONNECT upgrades nothing) refuses the tunnel.
fn check_connect_response(head: &[u8]) -> Result<ConnectAnswer, ProxyErrorKind> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(ProxyErrorKind::Protocol(
                "its answer to CONNECT is not HTTP".to_owned(),
            ));
        }
    }
    match response.code {
        Some(200..=299) => Ok(ConnectAnswer::Open),
        Some(100 | 102..=199) => Ok(ConnectAnswer::Interim),
        code => Err(ProxyErrorKind::HttpStatus {
            status: code.unwrap_or(0),
            reason: response.reason.unwrap_or("").to_owned(),
        }),
    }
}

async fn http_connect(
    mut io: Box<dyn Io>,
    proxy: &Proxy,
    target: &str,
) -> Result<Box<dyn Io>, ProxyErrorKind> {
    io.write_all(&connect_request(target, proxy))
        .await
        .map_err(io_failure)?;
    io.flush().await.map_err(io_failure)?;
    let mut interim = 0;
    loop {
        let (mut buf, end) = read_response_head(&mut io).await.map_err(|e| match e {
            HeadError::Io(e) => io_failure(e),
            HeadError::Closed => io_failure(std::io::ErrorKind::UnexpectedEof.into()),
            HeadError::TooLong => {
                ProxyErrorKind::Protocol("its answer to CONNECT has an endless head".to_owned())
            }
        })?;
        let answer = check_connect_response(&buf[..end])?;
        // What came after the head: the next answer's start, or the tunnel's first bytes.
        buf.drain(..end);
        if !buf.is_empty() {
            io = Box::new(Prefixed::new(buf, io));
        }
        match answer {
            ConnectAnswer::Open => return Ok(io),
            ConnectAnswer::Interim if interim < MAX_INTERIM_ANSWERS => interim += 1,
            ConnectAnswer::Interim => {
                return Err(ProxyErrorKind::Protocol(format!(
                    "more than {MAX_INTERIM_ANSWERS} interim answers to CONNECT"
                )));
            }
        }
    }
}

// ---------------------------------------------------------------- SOCKS5

/// Where a SOCKS5 connection goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SocksTarget<'a> {
    Ip(IpAddr),
    /// A name the proxy resolves (`socks5h://`).
    Name(&'a str),
}

const SOCKS_VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASSWORD: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;

/// The client's greeting: the methods it offers (no authentication, and user name and
/// password when it has them).
fn socks_greeting(with_credentials: bool) -> Vec<u8> {
    if with_credentials {
        vec![SOCKS_VERSION, 2, NO_AUTH, USER_PASSWORD]
    } else {
        vec![SOCKS_VERSION, 1, NO_AUTH]
    }
}

/// The method the proxy chose, from its two-byte answer to the greeting.
fn socks_method(answer: [u8; 2], with_credentials: bool) -> Result<u8, ProxyErrorKind> {
    match answer {
        [SOCKS_VERSION, NO_ACCEPTABLE] => Err(ProxyErrorKind::SocksNoAcceptableMethod),
        [SOCKS_VERSION, NO_AUTH] => Ok(NO_AUTH),
        [SOCKS_VERSION, USER_PASSWORD] if with_credentials => Ok(USER_PASSWORD),
        [SOCKS_VERSION, other] => Err(ProxyErrorKind::Protocol(format!(
            "it chose authentication method {other}, which the client did not offer"
        ))),
        [version, _] => Err(ProxyErrorKind::Protocol(format!(
            "it answered as SOCKS version {version}, not 5"
        ))),
    }
}

/// The RFC 1929 request: version 1, then the user name and password, each at most 255
/// bytes.
fn socks_auth_request(user: &str, password: &str) -> Result<Vec<u8>, ProxyErrorKind> {
    let (Ok(user_len), Ok(password_len)) = (u8::try_from(user.len()), u8::try_from(password.len()))
    else {
        return Err(ProxyErrorKind::Protocol(
            "SOCKS5 user names and passwords are at most 255 bytes".to_owned(),
        ));
    };
    let mut out = Vec::with_capacity(3 + user.len() + password.len());
    out.extend_from_slice(&[1, user_len]);
    out.extend_from_slice(user.as_bytes());
    out.push(password_len);
    out.extend_from_slice(password.as_bytes());
    Ok(out)
}

/// The CONNECT request for `target:port`.
fn socks_connect_request(target: &SocksTarget<'_>, port: u16) -> Result<Vec<u8>, ProxyErrorKind> {
    let mut out = vec![SOCKS_VERSION, 1, 0];
    match target {
        SocksTarget::Ip(IpAddr::V4(ip)) => {
            out.push(1);
            out.extend_from_slice(&ip.octets());
        }
        SocksTarget::Ip(IpAddr::V6(ip)) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        SocksTarget::Name(name) => {
            let len = u8::try_from(name.len()).map_err(|_| {
                ProxyErrorKind::Protocol("host names in SOCKS5 are at most 255 bytes".to_owned())
            })?;
            out.extend_from_slice(&[3, len]);
            out.extend_from_slice(name.as_bytes());
        }
    }
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}

/// Checks the first four bytes of the proxy's reply; returns how many more bytes the
/// reply has (the bound address and port), or, for a domain name, `None`: one length
/// byte comes next.
fn socks_reply_head(head: [u8; 4]) -> Result<Option<usize>, ProxyErrorKind> {
    let [version, reply, _, address_type] = head;
    if version != SOCKS_VERSION {
        return Err(ProxyErrorKind::Protocol(format!(
            "it answered as SOCKS version {version}, not 5"
        )));
    }
    if reply != 0 {
        return Err(ProxyErrorKind::SocksReply(reply));
    }
    match address_type {
        1 => Ok(Some(4 + 2)),
        4 => Ok(Some(16 + 2)),
        3 => Ok(None),
        other => Err(ProxyErrorKind::Protocol(format!(
            "its reply has address type {other}"
        ))),
    }
}

async fn socks5(
    mut io: Box<dyn Io>,
    proxy: &Proxy,
    target: &SocksTarget<'_>,
    port: u16,
) -> Result<Box<dyn Io>, ProxyErrorKind> {
    let credentials = proxy.credentials();
    let request = socks_connect_request(target, port)?;
    io.write_all(&socks_greeting(credentials.is_some()))
        .await
        .map_err(io_failure)?;
    io.flush().await.map_err(io_failure)?;
    let mut answer = [0u8; 2];
    io.read_exact(&mut answer).await.map_err(io_failure)?;
    if socks_method(answer, credentials.is_some())? == USER_PASSWORD {
        let (user, password) = credentials.unwrap_or_default();
        io.write_all(&socks_auth_request(user, password)?)
            .await
            .map_err(io_failure)?;
        io.flush().await.map_err(io_failure)?;
        let mut status = [0u8; 2];
        io.read_exact(&mut status).await.map_err(io_failure)?;
        if status[1] != 0 {
            return Err(ProxyErrorKind::SocksAuthFailed);
        }
    }
    io.write_all(&request).await.map_err(io_failure)?;
    io.flush().await.map_err(io_failure)?;
    let mut head = [0u8; 4];
    io.read_exact(&mut head).await.map_err(io_failure)?;
    let rest = match socks_reply_head(head)? {
        Some(rest) => rest,
        None => {
            let mut len = [0u8; 1];
            io.read_exact(&mut len).await.map_err(io_failure)?;
            usize::from(len[0]) + 2
        }
    };
    let mut bound = [0u8; 255 + 2];
    io.read_exact(&mut bound[..rest])
        .await
        .map_err(io_failure)?;
    Ok(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(url: &str) -> Proxy {
        Proxy::parse(url).unwrap()
    }

    #[test]
    fn connect_request_names_the_target_and_carries_credentials() {
        let head = connect_request("127.0.0.1:5000", &proxy("http://p:1"));
        assert_eq!(
            head,
            b"CONNECT 127.0.0.1:5000 HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n"
        );
        let head = connect_request("[::1]:443", &proxy("http://aladdin:opensesame@p:1"));
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("CONNECT [::1]:443 HTTP/1.1\r\n"), "{head}");
        assert!(
            head.contains("\r\nProxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\n"),
            "{head}"
        );
        assert!(head.ends_with("\r\n\r\n"));
    }

    #[test]
    fn connect_response_opens_on_2xx_and_skips_interim_answers() {
        assert_eq!(
            check_connect_response(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Ok(ConnectAnswer::Open)
        );
        assert_eq!(
            check_connect_response(b"HTTP/1.0 200 OK\r\nProxy-agent: x\r\n\r\n"),
            Ok(ConnectAnswer::Open)
        );
        for interim in [
            &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
            b"HTTP/1.1 102 Processing\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
            b"HTTP/1.1 199 \r\n\r\n",
        ] {
            assert_eq!(
                check_connect_response(interim),
                Ok(ConnectAnswer::Interim),
                "{interim:?}"
            );
        }
        assert_eq!(
            check_connect_response(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            Err(ProxyErrorKind::HttpStatus {
                status: 101,
                reason: "Switching Protocols".into()
            })
        );
        assert_eq!(
            check_connect_response(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"
            ),
            Err(ProxyErrorKind::HttpStatus {
                status: 407,
                reason: "Proxy Authentication Required".into()
            })
        );
        assert_eq!(
            check_connect_response(b"HTTP/1.0 403 Access violation\r\n\r\n"),
            Err(ProxyErrorKind::HttpStatus {
                status: 403,
                reason: "Access violation".into()
            })
        );
        assert!(matches!(
            check_connect_response(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(ProxyErrorKind::Protocol(_))
        ));
    }

    #[test]
    fn socks_greeting_offers_password_only_with_credentials() {
        assert_eq!(socks_greeting(false), [5, 1, 0]);
        assert_eq!(socks_greeting(true), [5, 2, 0, 2]);
    }

    #[test]
    fn socks_method_answers() {
        assert_eq!(socks_method([5, 0], false), Ok(NO_AUTH));
        assert_eq!(socks_method([5, 2], true), Ok(USER_PASSWORD));
        assert_eq!(
            socks_method([5, 0xff], false),
            Err(ProxyErrorKind::SocksNoAcceptableMethod)
        );
        assert!(matches!(
            socks_method([5, 2], false),
            Err(ProxyErrorKind::Protocol(_))
        ));
        assert!(matches!(
            socks_method([4, 0], false),
            Err(ProxyErrorKind::Protocol(_))
        ));
    }

    #[test]
    fn socks_auth_request_is_rfc_1929() {
        assert_eq!(
            socks_auth_request("bob", "pw").unwrap(),
            [1, 3, b'b', b'o', b'b', 2, b'p', b'w']
        );
        assert_eq!(socks_auth_request("", "").unwrap(), [1, 0, 0]);
        assert!(socks_auth_request(&"u".repeat(256), "p").is_err());
        assert!(socks_auth_request("u", &"p".repeat(256)).is_err());
    }

    #[test]
    fn socks_connect_request_by_address_type() {
        let v4 = SocksTarget::Ip("127.0.0.1".parse().unwrap());
        assert_eq!(
            socks_connect_request(&v4, 5000).unwrap(),
            [5, 1, 0, 1, 127, 0, 0, 1, 0x13, 0x88]
        );
        let v6 = SocksTarget::Ip("::1".parse().unwrap());
        let req = socks_connect_request(&v6, 443).unwrap();
        assert_eq!(&req[..4], [5, 1, 0, 4]);
        assert_eq!(req.len(), 4 + 16 + 2);
        assert_eq!(req[19], 1);
        assert_eq!(
            socks_connect_request(&SocksTarget::Name("localhost"), 80).unwrap(),
            [
                5, 1, 0, 3, 9, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't', 0, 80
            ]
        );
        let long = "a".repeat(256);
        assert!(socks_connect_request(&SocksTarget::Name(&long), 80).is_err());
    }

    #[test]
    fn socks_reply_head_says_how_much_follows_or_why_not() {
        assert_eq!(socks_reply_head([5, 0, 0, 1]), Ok(Some(6)));
        assert_eq!(socks_reply_head([5, 0, 0, 4]), Ok(Some(18)));
        assert_eq!(socks_reply_head([5, 0, 0, 3]), Ok(None));
        assert_eq!(
            socks_reply_head([5, 2, 0, 1]),
            Err(ProxyErrorKind::SocksReply(2))
        );
        assert_eq!(
            socks_reply_head([5, 4, 0, 1]),
            Err(ProxyErrorKind::SocksReply(4))
        );
        assert!(matches!(
            socks_reply_head([5, 0, 0, 9]),
            Err(ProxyErrorKind::Protocol(_))
        ));
        assert!(matches!(
            socks_reply_head([0, 90, 0, 0]),
            Err(ProxyErrorKind::Protocol(_))
        ));
    }
}
