//! A cookie jar for one server: what sticky-session load balancers need.
//!
//! Every request of a session goes to the same origin and path, so the jar keeps only
//! `name=value` pairs and ignores `Domain`, `Path` and `Secure`. `Max-Age=0` (or a
//! negative one) and an empty value remove a cookie. Unlike aiohttp's jar, IP-address hosts
//! such as `127.0.0.1` work like any other.

use http::HeaderMap;
use http::header::{COOKIE, HeaderValue, SET_COOKIE};

/// At most this many cookies are kept; a server that sets more loses the newest.
const MAX_COOKIES: usize = 32;
/// A cookie whose name and value together exceed this many bytes is ignored.
const MAX_COOKIE_LEN: usize = 4096;

/// The cookies a server has set, in the order it first set them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CookieJar {
    cookies: Vec<(String, String)>,
}

impl CookieJar {
    /// Takes in the `Set-Cookie` headers of a response.
    pub(crate) fn store(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            if let Ok(v) = value.to_str() {
                self.store_one(v);
            }
        }
    }

    fn store_one(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim().trim_matches('"'));
        if name.is_empty() || name.len() + value.len() > MAX_COOKIE_LEN {
            return;
        }
        let expired = parts.any(|attr| {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            k.trim().eq_ignore_ascii_case("max-age")
                && v.trim().parse::<i64>().is_ok_and(|n| n <= 0)
        });
        let existing = self.cookies.iter().position(|(n, _)| n == name);
        match (existing, expired || value.is_empty()) {
            (Some(i), true) => {
                self.cookies.remove(i);
            }
            (Some(i), false) => self.cookies[i].1 = value.to_owned(),
            (None, true) => {}
            (None, false) if self.cookies.len() < MAX_COOKIES => {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
            (None, false) => {}
        }
    }

    /// The `Cookie` header to send, if any cookie is set.
    #[cfg(test)]
    fn header(&self) -> Option<HeaderValue> {
        if self.cookies.is_empty() {
            return None;
        }
        let joined = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&joined).ok()
    }

    /// Adds the jar's cookies to the `Cookie` header in `headers`, keeping the cookies the
    /// application put there itself (the server's value wins for a name both set).
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        if self.cookies.is_empty() {
            return;
        }
        let mut pairs: Vec<String> = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let name = p.split_once('=').map_or(*p, |(n, _)| n).trim();
                !self.cookies.iter().any(|(n, _)| n == name)
            })
            .map(str::to_owned)
            .collect();
        pairs.extend(self.cookies.iter().map(|(n, v)| format!("{n}={v}")));
        if let Ok(v) = HeaderValue::from_str(&pairs.join("; ")) {
            headers.insert(COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jar(set: &[&str]) -> CookieJar {
        let mut h = HeaderMap::new();
        for s in set {
            h.append(SET_COOKIE, HeaderValue::from_str(s).unwrap());
        }
        let mut j = CookieJar::default();
        j.store(&h);
        j
    }

    #[test]
    fn keeps_pairs_and_drops_attributes() {
        let j = jar(&[
            "io=abc; Path=/; HttpOnly; SameSite=Lax",
            "AWSALB=x1; Expires=Thu, 01 Jan 2099 00:00:00 GMT",
        ]);
        assert_eq!(j.header().unwrap(), "io=abc; AWSALB=x1");
    }

    #[test]
    fn updates_and_removes() {
        let mut j = jar(&["a=1", "b=2"]);
        j.store_one("a=3");
        j.store_one("b=2; Max-Age=0");
        assert_eq!(j.header().unwrap(), "a=3");
        j.store_one("a=");
        assert_eq!(j.header(), None);
    }

    #[test]
    fn keeps_the_applications_own_cookies() {
        let j = jar(&["io=abc", "auth=server"]);
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("auth=secret; theme=dark"));
        j.apply(&mut h);
        assert_eq!(h.get(COOKIE).unwrap(), "theme=dark; io=abc; auth=server");
        let mut h = HeaderMap::new();
        CookieJar::default().apply(&mut h);
        assert!(h.get(COOKIE).is_none());
    }

    #[test]
    fn bounded_against_hostile_servers() {
        let mut j = CookieJar::default();
        for i in 0..100 {
            j.store_one(&format!("c{i}=v"));
        }
        j.store_one(&format!("big={}", "x".repeat(10_000)));
        j.store_one("novalue");
        j.store_one("=nameless");
        assert_eq!(j.cookies.len(), MAX_COOKIES);
        assert!(j.cookies.iter().all(|(n, _)| n != "big"));
    }
}
