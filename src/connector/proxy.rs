//! Proxies: which one a connection goes through ([`ProxyRules`]), what one is ([`Proxy`]),
//! and how one refuses ([`ProxyError`]). The handshakes themselves are in `tunnel.rs`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use http::{HeaderValue, Uri};

/// The protocol a [`Proxy`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyScheme {
    /// An HTTP proxy (`http://`): plain-HTTP requests are forwarded (absolute-form request
    /// line), everything else goes through a `CONNECT` tunnel.
    Http,
    /// SOCKS5 (`socks5://`), the client resolving the server's name itself.
    Socks5,
    /// SOCKS5 (`socks5h://`), the proxy resolving the server's name.
    Socks5h,
}

impl ProxyScheme {
    fn as_str(self) -> &'static str {
        match self {
            ProxyScheme::Http => "http",
            ProxyScheme::Socks5 => "socks5",
            ProxyScheme::Socks5h => "socks5h",
        }
    }
}

/// One proxy server: `http://[user:password@]host[:port]`,
/// `socks5://[user:password@]host[:port]` or `socks5h://…`.
///
/// The user name and password are percent-decoded (`p%40ss` is `p@ss`). The port defaults
/// to 80 for `http://` and 1080 for SOCKS5. `Display` and `Debug` never show the password.
///
/// ```
/// use engineio::connector::{Proxy, ProxyScheme};
///
/// let proxy: Proxy = "socks5h://alice:s%3Acret@127.0.0.1:1080".parse()?;
/// assert_eq!(proxy.scheme(), ProxyScheme::Socks5h);
/// assert_eq!(proxy.username(), Some("alice"));
/// assert_eq!(proxy.to_string(), "socks5h://alice@127.0.0.1:1080");
///
/// assert!("ftp://127.0.0.1:21".parse::<Proxy>().is_err());
/// # Ok::<(), engineio::connector::ProxyUrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    scheme: ProxyScheme,
    /// Without IPv6 brackets.
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

/// A proxy URL that cannot be used; `Display` says which and why, without its password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyUrlError {
    url: String,
    why: &'static str,
}

impl fmt::Display for ProxyUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid proxy URL {:?}: {}", self.url, self.why)
    }
}

impl std::error::Error for ProxyUrlError {}

impl std::str::FromStr for Proxy {
    type Err = ProxyUrlError;

    fn from_str(url: &str) -> Result<Proxy, ProxyUrlError> {
        Proxy::parse(url)
    }
}

impl Proxy {
    /// Parses a proxy URL; see [`Proxy`] for the forms accepted. A URL without a scheme is
    /// taken as `http://`, as curl does.
    pub fn parse(url: &str) -> Result<Proxy, ProxyUrlError> {
        let fail = |why| ProxyUrlError {
            url: hide_password(url),
            why,
        };
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_owned(), url),
        };
        let scheme = match scheme.as_str() {
            "http" => ProxyScheme::Http,
            "socks5" => ProxyScheme::Socks5,
            "socks5h" => ProxyScheme::Socks5h,
            "https" => return Err(fail("TLS to the proxy (https://) is not supported")),
            "socks4" | "socks4a" => return Err(fail("SOCKS4 is not supported; use socks5://")),
            _ => return Err(fail("the scheme must be http, socks5 or socks5h")),
        };
        // The authority ends at the path, if any (a trailing `/` is common in the
        // environment variables).
        let authority = match rest.find(['/', '?', '#']) {
            Some(end) if rest[end..].trim_start_matches('/').is_empty() => &rest[..end],
            Some(_) => return Err(fail("a proxy URL has no path")),
            None => rest,
        };
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let credentials = match userinfo {
            None => None,
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let user = percent_decode(user).ok_or(fail("the user name is not valid UTF-8"))?;
                let password =
                    percent_decode(password).ok_or(fail("the password is not valid UTF-8"))?;
                Some((user, password))
            }
        };
        let socks = matches!(scheme, ProxyScheme::Socks5 | ProxyScheme::Socks5h);
        if socks
            && credentials
                .as_ref()
                .is_some_and(|(user, password)| user.len() > 255 || password.len() > 255)
        {
            return Err(fail(
                "SOCKS5 user names and passwords are at most 255 bytes",
            ));
        }
        let default_port = match scheme {
            ProxyScheme::Http => 80,
            ProxyScheme::Socks5 | ProxyScheme::Socks5h => 1080,
        };
        let (host, port) = split_host_port(host_port).ok_or(fail("bad host or port"))?;
        if host.is_empty() {
            return Err(fail("no host"));
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
        {
            return Err(fail("bad host"));
        }
        Ok(Proxy {
            scheme,
            host: host.to_ascii_lowercase(),
            port: port.unwrap_or(default_port),
            credentials,
        })
    }

    /// The protocol the proxy speaks.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// The proxy's host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name given in the URL, if any.
    pub fn username(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(user, _)| user.as_str())
    }

    pub(super) fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The `Proxy-Authorization` value for an HTTP proxy with credentials.
    pub(super) fn basic_auth(&self) -> Option<HeaderValue> {
        let (user, password) = self.credentials()?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut value = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        if let Some(user) = self.username() {
            write!(f, "{user}@")?;
        }
        f.write_str(&super::authority(&self.host, self.port))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({self})")
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; the port, if given, must be a number.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match s.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((host, _)) if host.contains(':') => Some((s, None)),
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((s, None)),
    }
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8. A `%` not followed by two
/// hex digits stays as it is, as curl leaves it.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The URL with any password replaced by `***`, for error messages. The user information
/// is taken to end at the last `@` (a proxy URL has no path, and a password may hold an
/// unencoded `/`, `?`, `#` or `@` that makes the URL invalid): better too much hidden than
/// a password shown.
fn hide_password(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].rfind('@') {
        Some(at) => {
            let userinfo = &url[start..start + at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..start], &url[start + at..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// Which proxy, if any, each connection goes through: one proxy for everything, the
/// environment's choice, or none.
///
/// The environment is read as curl, python-requests and reqwest read it:
///
/// | URL | variables, first set wins |
/// |---|---|
/// | `http://`, `ws://` | `http_proxy`, `HTTP_PROXY`, `all_proxy`, `ALL_PROXY` |
/// | `https://`, `wss://` | `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY` |
///
/// and `no_proxy` / `NO_PROXY` lists the servers reached directly, separated by commas:
/// host names (each with its subdomains: `example.com` covers `api.example.com`; a leading
/// `.` or `*.` means the same), IP addresses, CIDR ranges (`10.0.0.0/8`), any of these
/// with a port (`example.com:8080`, `[::1]:5000`: that port only), or `*` for every server.
/// Empty variables count as unset. Like curl and reqwest, `HTTP_PROXY` (upper case) is
/// ignored when `REQUEST_METHOD` is set: under CGI, a request's `Proxy:` header arrives as
/// that variable. A value that is not a usable proxy URL is ignored.
///
/// An explicit proxy ([`ProxyRules::all`]) is used for every server, whatever the
/// environment says, `NO_PROXY` included; [`no_proxy`](ProxyRules::no_proxy) gives it a
/// list of its own.
///
/// ```
/// use engineio::connector::{Proxy, ProxyRules};
///
/// let rules = ProxyRules::all("http://127.0.0.1:8888".parse::<Proxy>()?)
///     .no_proxy("localhost, 10.0.0.0/8, internal.example:8080");
/// let via = |url: &str| rules.proxy_for(&url.parse().unwrap()).map(|p| p.to_string());
/// assert_eq!(via("ws://example.com/engine.io/").as_deref(), Some("http://127.0.0.1:8888"));
/// assert_eq!(via("http://localhost:5000/"), None);
/// assert_eq!(via("https://10.1.2.3/"), None);
/// assert_eq!(via("http://api.internal.example:8080/"), None);
/// assert!(via("http://api.internal.example:8081/").is_some());
/// # Ok::<(), engineio::connector::ProxyUrlError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyRules {
    /// For `http://` and `ws://`.
    plain: Option<Proxy>,
    /// For `https://` and `wss://`.
    secure: Option<Proxy>,
    bypass: Vec<NoProxyEntry>,
}

impl ProxyRules {
    /// No proxy: every connection is direct.
    pub fn none() -> ProxyRules {
        ProxyRules::default()
    }

    /// `proxy` for every connection.
    pub fn all(proxy: Proxy) -> ProxyRules {
        ProxyRules {
            plain: Some(proxy.clone()),
            secure: Some(proxy),
            bypass: Vec::new(),
        }
    }

    /// The proxies the environment names; see [`ProxyRules`] for the variables.
    pub fn from_env() -> ProxyRules {
        ProxyRules::from_vars(|name| std::env::var(name).ok()).0
    }

    /// The rules from variables read with `get`, and a warning for each value that was
    /// ignored.
    pub(crate) fn from_vars(get: impl Fn(&str) -> Option<String>) -> (ProxyRules, Vec<String>) {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let cgi = get("REQUEST_METHOD").is_some();
        let mut warnings = Vec::new();
        let mut first = |names: &[&str]| {
            let (name, value) = names
                .iter()
                .filter(|name| !(cgi && **name == "HTTP_PROXY"))
                .find_map(|name| get(name).map(|value| (*name, value)))?;
            match Proxy::parse(&value) {
                Ok(proxy) => Some(proxy),
                Err(e) => {
                    warnings.push(format!("{name} ignored: {e}"));
                    None
                }
            }
        };
        let all = first(&["all_proxy", "ALL_PROXY"]);
        let plain = first(&["http_proxy", "HTTP_PROXY"]).or_else(|| all.clone());
        let secure = first(&["https_proxy", "HTTPS_PROXY"]).or(all);
        let bypass = get("no_proxy")
            .or_else(|| get("NO_PROXY"))
            .map_or_else(Vec::new, |list| parse_no_proxy(&list));
        (
            ProxyRules {
                plain,
                secure,
                bypass,
            },
            warnings,
        )
    }

    /// Adds servers to reach directly, in `NO_PROXY`'s syntax (see [`ProxyRules`]).
    pub fn no_proxy(mut self, list: &str) -> ProxyRules {
        self.bypass.extend(parse_no_proxy(list));
        self
    }

    /// Whether no connection goes through a proxy.
    pub fn is_none(&self) -> bool {
        self.plain.is_none() && self.secure.is_none()
    }

    /// The proxy for a connection to `url` (`http`, `https`, `ws` or `wss`), or `None` for
    /// a direct one.
    pub fn proxy_for(&self, url: &Uri) -> Option<&Proxy> {
        let secure = match url.scheme_str()? {
            s if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("ws") => false,
            s if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("wss") => true,
            _ => return None,
        };
        let port = url.port_u16().unwrap_or(if secure { 443 } else { 80 });
        self.proxy_for_origin(secure, url.host()?, port)
    }

    /// The proxy for a connection to `host:port`, TLS or not.
    pub(super) fn proxy_for_origin(&self, secure: bool, host: &str, port: u16) -> Option<&Proxy> {
        let proxy = if secure { &self.secure } else { &self.plain }.as_ref()?;
        let host = super::bare_host(host);
        let host = host.strip_suffix('.').unwrap_or(host);
        let bypassed = self.bypass.iter().any(|entry| entry.matches(host, port));
        (!bypassed).then_some(proxy)
    }
}

/// One entry of a `NO_PROXY` list.
#[derive(Clone, Debug, PartialEq, Eq)]
enum NoProxyEntry {
    /// `*`.
    Everything,
    /// A name and its subdomains, lower case, without leading or trailing dots.
    Domain {
        name: String,
        port: Option<u16>,
    },
    Address {
        ip: IpAddr,
        port: Option<u16>,
    },
    Network {
        ip: IpAddr,
        prefix: u8,
    },
}

fn parse_no_proxy(list: &str) -> Vec<NoProxyEntry> {
    list.split(',')
        .filter_map(|entry| parse_no_proxy_entry(entry.trim()))
        .collect()
}

fn parse_no_proxy_entry(entry: &str) -> Option<NoProxyEntry> {
    if entry.is_empty() {
        return None;
    }
    if entry == "*" {
        return Some(NoProxyEntry::Everything);
    }
    if let Some((ip, prefix)) = entry.split_once('/') {
        let ip: IpAddr = ip.trim_matches(['[', ']']).parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        return (prefix <= bits).then_some(NoProxyEntry::Network { ip, prefix });
    }
    if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Some(NoProxyEntry::Address { ip, port: None });
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(NoProxyEntry::Address {
            ip: addr.ip(),
            port: Some(addr.port()),
        });
    }
    let (name, port) = match entry.rsplit_once(':') {
        Some((name, port)) => (name, Some(port.parse().ok()?)),
        None => (entry, None),
    };
    let name = name.strip_prefix("*.").unwrap_or(name);
    let name = name.trim_matches('.').to_ascii_lowercase();
    (!name.is_empty()).then_some(NoProxyEntry::Domain { name, port })
}

impl NoProxyEntry {
    /// Whether a connection to `host` (no brackets, no trailing dot) and `port` bypasses the
    /// proxy.
    fn matches(&self, host: &str, port: u16) -> bool {
        let port_ok = |want: &Option<u16>| want.is_none_or(|p| p == port);
        match self {
            NoProxyEntry::Everything => true,
            NoProxyEntry::Domain { name, port: want } => {
                let host_len = host.len();
                let same = host.eq_ignore_ascii_case(name);
                let sub = host_len > name.len()
                    && host.as_bytes()[host_len - name.len() - 1] == b'.'
                    && host[host_len - name.len()..].eq_ignore_ascii_case(name);
                (same || sub) && port_ok(want)
            }
            NoProxyEntry::Address { ip, port: want } => {
                host.parse::<IpAddr>().is_ok_and(|h| h == *ip) && port_ok(want)
            }
            NoProxyEntry::Network { ip, prefix } => host
                .parse::<IpAddr>()
                .is_ok_and(|h| in_network(h, *ip, *prefix)),
        }
    }
}

fn in_network(host: IpAddr, net: IpAddr, prefix: u8) -> bool {
    fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
        match width - prefix.min(width) {
            shift if shift >= 128 => 0,
            shift => bits >> shift,
        }
    }
    match (host, net) {
        (IpAddr::V4(h), IpAddr::V4(n)) => {
            masked(u32::from(h).into(), 32, prefix) == masked(u32::from(n).into(), 32, prefix)
        }
        (IpAddr::V6(h), IpAddr::V6(n)) => {
            masked(h.into(), 128, prefix) == masked(n.into(), 128, prefix)
        }
        _ => false,
    }
}

/// How a proxy refused or failed a connection: what [`TransportFailure::Proxy`] holds.
///
/// `Display` names the proxy (never its password), the server the client wanted to reach,
/// and the proxy's own words: the HTTP status and reason, or the SOCKS5 reply.
///
/// [`TransportFailure::Proxy`]: crate::TransportFailure::Proxy
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyError {
    /// The proxy, as `scheme://[user@]host:port`.
    pub proxy: String,
    /// The server the connection was for, as `host:port`.
    pub target: String,
    /// What went wrong.
    pub kind: ProxyErrorKind,
}

/// What went wrong with a proxy; see [`ProxyError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyErrorKind {
    /// The proxy itself could not be reached (refused, unreachable, its name unknown).
    Unreachable(String),
    /// The HTTP proxy answered with an error status: 407 (or 401, from tinyproxy) when the
    /// credentials are missing or wrong, 403 when its rules forbid the server or port, 502
    /// or 503 when it could not reach the server.
    HttpStatus {
        /// The status code.
        status: u16,
        /// The reason phrase the proxy gave.
        reason: String,
    },
    /// The SOCKS5 proxy refused the connection with this reply code (RFC 1928): 2 "not
    /// allowed by ruleset", 4 "host unreachable", 5 "connection refused", and so on.
    SocksReply(u8),
    /// The SOCKS5 proxy rejected the user name and password (RFC 1929).
    SocksAuthFailed,
    /// The SOCKS5 proxy accepts none of the authentication methods the client offers:
    /// it wants credentials and none were given, or the reverse.
    SocksNoAcceptableMethod,
    /// The proxy's answer was not the protocol it should speak.
    Protocol(String),
    /// The connection to the proxy broke during its handshake.
    Io(String),
}

impl ProxyErrorKind {
    /// The text of a SOCKS5 reply code.
    fn socks_reply_text(code: u8) -> &'static str {
        match code {
            1 => "general SOCKS server failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unknown reply code",
        }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ProxyError {
            proxy,
            target,
            kind,
        } = self;
        match kind {
            ProxyErrorKind::Unreachable(why) => {
                write!(f, "cannot reach proxy {proxy} (for {target}): {why}")
            }
            ProxyErrorKind::HttpStatus { status, reason } => write!(
                f,
                "proxy {proxy} refused the connection to {target}: HTTP {status} {reason}"
            ),
            ProxyErrorKind::SocksReply(code) => write!(
                f,
                "proxy {proxy} refused the connection to {target}: {} (SOCKS5 reply {code})",
                ProxyErrorKind::socks_reply_text(*code)
            ),
            ProxyErrorKind::SocksAuthFailed => write!(
                f,
                "proxy {proxy} refused the connection to {target}: SOCKS5 authentication \
                 failed (wrong user name or password)"
            ),
            ProxyErrorKind::SocksNoAcceptableMethod => write!(
                f,
                "proxy {proxy} refused the connection to {target}: it accepts none of the \
                 authentication methods offered (missing credentials?)"
            ),
            ProxyErrorKind::Protocol(why) => {
                write!(f, "proxy {proxy} (for {target}) broke its protocol: {why}")
            }
            ProxyErrorKind::Io(why) => write!(
                f,
                "connection to proxy {proxy} (for {target}) failed during its handshake: {why}"
            ),
        }
    }
}

impl std::error::Error for ProxyError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(url: &str) -> Proxy {
        Proxy::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn parses_each_scheme_with_default_ports() {
        let p = proxy("http://127.0.0.1:8888");
        assert_eq!(
            (p.scheme(), p.host(), p.port()),
            (ProxyScheme::Http, "127.0.0.1", 8888)
        );
        assert_eq!(proxy("http://proxy.example").port(), 80);
        assert_eq!(proxy("socks5://h").port(), 1080);
        assert_eq!(proxy("SOCKS5H://H:1").scheme(), ProxyScheme::Socks5h);
        assert_eq!(proxy("SOCKS5H://H:1").host(), "h");
        assert_eq!(proxy("proxy:3128").scheme(), ProxyScheme::Http);
        assert_eq!(proxy("http://proxy:3128/").port(), 3128);
        let v6 = proxy("socks5://[::1]:9050");
        assert_eq!((v6.host(), v6.port()), ("::1", 9050));
        assert_eq!(v6.to_string(), "socks5://[::1]:9050");
    }

    #[test]
    fn credentials_are_percent_decoded_and_never_shown() {
        let p = proxy("http://al%20ice:p%40ss%3Aword@h:1");
        assert_eq!(p.credentials(), Some(("al ice", "p@ss:word")));
        assert_eq!(p.to_string(), "http://al ice@h:1");
        assert!(!format!("{p:?}").contains("p@ss"));
        assert_eq!(
            p.basic_auth().unwrap(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("al ice:p@ss:word")
            )
        );
        assert_eq!(proxy("http://bob@h:1").credentials(), Some(("bob", "")));
        assert_eq!(proxy("http://h:1").basic_auth(), None);
        // A password with an `@` in it, unescaped: the last `@` ends the user info.
        assert_eq!(proxy("http://u:a@b@h:1").credentials(), Some(("u", "a@b")));
    }

    #[test]
    fn rejects_bad_urls_naming_them_without_the_password() {
        for (url, why) in [
            ("https://h:1", "https"),
            ("socks4://h:1", "SOCKS4"),
            ("ftp://h", "scheme"),
            ("http://h:99999", "port"),
            ("http://h:x", "port"),
            ("http://:8080", "no host"),
            ("http://h:1/path", "path"),
            ("http://h o:1", "host"),
            ("http://u:%FF@h:1", "UTF-8"),
            (&format!("socks5://u:{}@h:1", "p".repeat(256)), "255 bytes"),
        ] {
            let err = Proxy::parse(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
        let err = Proxy::parse("ftp://alice:secret@h")
            .unwrap_err()
            .to_string();
        assert!(err.contains("alice:***@h"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        // A password holding, unencoded, characters that end a URL's authority: hidden,
        // whole, whether the URL is refused or not.
        for url in [
            "http://alice:se/cret@h:1",
            "http://alice:se?cret@h:1",
            "http://alice:se#cret@h:1",
            "http://alice:se@cret@h:1",
            "socks5h://alice:s/e@c/r@et@h:1",
        ] {
            // Refused, or taken as a password with those characters: never shown.
            let shown = match Proxy::parse(url) {
                Err(e) => {
                    let e = e.to_string();
                    assert!(e.contains("alice:***@h:1"), "{url}: {e}");
                    e
                }
                Ok(p) => format!("{p} {p:?}"),
            };
            for part in [":se", "cret", ":s/e", "/r@"] {
                assert!(!shown.contains(part), "{url}: {shown}");
            }
        }
    }

    fn vars(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let list: Vec<(String, String)> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| list.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn via(rules: &ProxyRules, url: &str) -> Option<String> {
        rules
            .proxy_for(&url.parse().unwrap())
            .map(|p| p.to_string())
    }

    #[test]
    fn environment_picks_the_variable_by_scheme() {
        let (rules, warnings) = ProxyRules::from_vars(vars(&[
            ("HTTP_PROXY", "http://plain:1"),
            ("https_proxy", "socks5h://secure:2"),
            ("ALL_PROXY", "socks5://all:3"),
        ]));
        assert!(warnings.is_empty());
        assert_eq!(via(&rules, "http://s/").as_deref(), Some("http://plain:1"));
        assert_eq!(via(&rules, "ws://s/").as_deref(), Some("http://plain:1"));
        assert_eq!(
            via(&rules, "https://s/").as_deref(),
            Some("socks5h://secure:2")
        );
        assert_eq!(
            via(&rules, "wss://s/").as_deref(),
            Some("socks5h://secure:2")
        );

        let (rules, _) = ProxyRules::from_vars(vars(&[("all_proxy", "socks5://all:3")]));
        assert_eq!(via(&rules, "ws://s/").as_deref(), Some("socks5://all:3"));
        assert_eq!(via(&rules, "wss://s/").as_deref(), Some("socks5://all:3"));

        // Lower case first; empty counts as unset.
        let (rules, _) = ProxyRules::from_vars(vars(&[
            ("http_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://upper:1"),
            ("https_proxy", ""),
        ]));
        assert_eq!(via(&rules, "http://s/").as_deref(), Some("http://lower:1"));
        assert_eq!(via(&rules, "https://s/"), None);
        assert!(ProxyRules::from_vars(vars(&[])).0.is_none());
    }

    #[test]
    fn environment_ignores_upper_case_http_proxy_under_cgi_and_bad_values() {
        let (rules, _) = ProxyRules::from_vars(vars(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://evil:1"),
        ]));
        assert_eq!(via(&rules, "http://s/"), None);
        let (rules, warnings) = ProxyRules::from_vars(vars(&[("http_proxy", "ftp://x:1")]));
        assert_eq!(via(&rules, "http://s/"), None);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("http_proxy"), "{warnings:?}");
    }

    #[test]
    fn no_proxy_matches_names_subdomains_addresses_ranges_and_ports() {
        let (rules, _) = ProxyRules::from_vars(vars(&[
            ("ALL_PROXY", "http://p:1"),
            (
                "NO_PROXY",
                " example.com, .dot.test,*.star.test, 10.0.0.0/8, 192.168.1.7, ::1, \
                 fd00::/8, only.port:8080, [fe80::1]:5000, 127.0.0.2:9, bad/99, ,",
            ),
        ]));
        for direct in [
            "http://example.com/",
            "http://API.Example.COM./",
            "https://dot.test/",
            "https://a.b.dot.test/",
            "ws://x.star.test/",
            "http://10.200.0.1/",
            "http://192.168.1.7:5000/",
            "http://[::1]:5000/",
            "http://[fd12::5]/",
            "http://only.port:8080/",
            "http://sub.only.port:8080/",
            "http://[fe80::1]:5000/",
            "http://127.0.0.2:9/",
        ] {
            assert_eq!(via(&rules, direct), None, "{direct}");
        }
        for proxied in [
            "http://notexample.com/",
            "http://example.com.evil/",
            "http://11.0.0.1/",
            "http://192.168.1.8/",
            "http://[::2]/",
            "http://only.port:8081/",
            "http://only.port/",
            "http://[fe80::1]:5001/",
            "http://127.0.0.2:10/",
        ] {
            assert!(via(&rules, proxied).is_some(), "{proxied}");
        }
    }

    #[test]
    fn no_proxy_star_covers_addresses_too() {
        let (rules, _) =
            ProxyRules::from_vars(vars(&[("ALL_PROXY", "http://p:1"), ("no_proxy", "*")]));
        assert_eq!(via(&rules, "http://127.0.0.1:5000/"), None);
        assert_eq!(via(&rules, "wss://example.com/"), None);
    }

    #[test]
    fn explicit_proxy_covers_everything_unless_listed() {
        let rules = ProxyRules::all(proxy("socks5://p:1"));
        assert_eq!(
            via(&rules, "http://127.0.0.1/").as_deref(),
            Some("socks5://p:1")
        );
        assert_eq!(via(&rules, "wss://h/").as_deref(), Some("socks5://p:1"));
        assert_eq!(via(&rules, "ftp://h/"), None);
        let rules = rules.no_proxy("127.0.0.0/8");
        assert_eq!(via(&rules, "http://127.0.0.1/"), None);
    }

    #[test]
    fn errors_say_which_proxy_and_why() {
        let e = |kind| ProxyError {
            proxy: "socks5://alice@127.0.0.1:1080".into(),
            target: "127.0.0.1:5000".into(),
            kind,
        };
        let text = e(ProxyErrorKind::SocksReply(2)).to_string();
        assert!(text.contains("socks5://alice@127.0.0.1:1080"), "{text}");
        assert!(text.contains("connection not allowed by ruleset"), "{text}");
        assert!(text.contains("127.0.0.1:5000"), "{text}");
        let text = e(ProxyErrorKind::HttpStatus {
            status: 407,
            reason: "Proxy Authentication Required".into(),
        })
        .to_string();
        assert!(
            text.contains("HTTP 407 Proxy Authentication Required"),
            "{text}"
        );
        assert!(
            e(ProxyErrorKind::SocksAuthFailed)
                .to_string()
                .contains("authentication failed")
        );
    }
}
