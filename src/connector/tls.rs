//! TLS for HTTPS and WSS: one `Arc<rustls::ClientConfig>`, built by [`TlsConfig`], and
//! [`connect_tls`], which runs the handshake over any [`Io`] stream.
//!
//! rustls uses the *ring* crypto provider, chosen explicitly (never the process-wide
//! default), so this crate neither needs nor disturbs `CryptoProvider::install_default`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use futures_rustls::TlsConnector;
use log::warn;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::connector::{ConnectorError, ConnectorErrorKind};
use crate::rt::Io;

/// Builds the TLS configuration shared by HTTPS and WSS connections.
///
/// By default the server's certificate is checked against the Mozilla root store
/// (`webpki-roots`). Add your own roots (a private CA, a self-signed test certificate)
/// with [`root_certificate_der`](TlsConfig::root_certificate_der) or
/// [`root_certificates_pem`](TlsConfig::root_certificates_pem); turn verification off,
/// python-engineio's `ssl_verify=False`, with [`verify(false)`](TlsConfig::verify).
///
/// ```
/// use engineio::connector::TlsConfig;
///
/// let config = TlsConfig::new().build().unwrap();
/// assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
///
/// // A malformed root certificate is reported by `build`.
/// let err = TlsConfig::new()
///     .root_certificates_pem("-----BEGIN CERTIFICATE-----\nnot base64!\n")
///     .build()
///     .unwrap_err();
/// assert!(err.is_tls());
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    webpki_roots: bool,
    roots: Vec<Root>,
    verify: bool,
}

#[derive(Clone)]
enum Root {
    Der(Vec<u8>),
    Pem(Vec<u8>),
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("webpki_roots", &self.webpki_roots)
            .field("extra_roots", &self.roots.len())
            .field("verify", &self.verify)
            .finish()
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig::new()
    }
}

impl TlsConfig {
    /// Verification on, against the `webpki-roots` (Mozilla) root store.
    pub fn new() -> TlsConfig {
        TlsConfig {
            webpki_roots: true,
            roots: Vec::new(),
            verify: true,
        }
    }

    /// Whether to trust the `webpki-roots` (Mozilla) root store; on by default. Turn it off
    /// to trust only the roots you add.
    pub fn webpki_roots(mut self, enabled: bool) -> TlsConfig {
        self.webpki_roots = enabled;
        self
    }

    /// Trusts one more root certificate, DER-encoded. A malformed certificate makes
    /// [`build`](TlsConfig::build) fail.
    pub fn root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> TlsConfig {
        self.roots.push(Root::Der(der.into()));
        self
    }

    /// Trusts every certificate in a PEM document (`-----BEGIN CERTIFICATE-----` sections;
    /// other sections are ignored). [`build`](TlsConfig::build) fails if the PEM is
    /// malformed or holds no certificate.
    pub fn root_certificates_pem(mut self, pem: impl AsRef<[u8]>) -> TlsConfig {
        self.roots.push(Root::Pem(pem.as_ref().to_vec()));
        self
    }

    /// Whether to verify the server's certificate; on by default.
    ///
    /// `verify(false)` accepts **any** certificate, for any name, so anyone on the path can
    /// read and change the traffic. Handshake signatures are still checked. Each handshake
    /// that relies on it logs a warning. Use it for testing only.
    pub fn verify(mut self, enabled: bool) -> TlsConfig {
        self.verify = enabled;
        self
    }

    /// Whether this is [`TlsConfig::new`]'s configuration, which [`default_config`]
    /// builds once for the whole process.
    pub(crate) fn is_default(&self) -> bool {
        self.webpki_roots && self.roots.is_empty() && self.verify
    }

    /// The rustls configuration, to pass to the HTTP and WebSocket connectors (and to
    /// [`connect_tls`]). Fails, with [`ConnectorErrorKind::Tls`], when an added root
    /// certificate is malformed.
    pub fn build(&self) -> Result<Arc<ClientConfig>, ConnectorError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut store = RootCertStore::empty();
        if self.webpki_roots {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for (i, root) in self.roots.iter().enumerate() {
            let n = i + 1;
            match root {
                Root::Der(der) => {
                    store
                        .add(CertificateDer::from(der.as_slice()))
                        .map_err(|e| {
                            config_error(format!("root certificate #{n} (DER): {e}"), e)
                        })?;
                }
                Root::Pem(pem) => {
                    let mut found = 0;
                    for cert in CertificateDer::pem_slice_iter(pem) {
                        let cert = cert.map_err(|e| {
                            config_error(format!("root certificates #{n} (PEM): {e}"), e)
                        })?;
                        store.add(cert).map_err(|e| {
                            config_error(format!("root certificates #{n} (PEM): {e}"), e)
                        })?;
                        found += 1;
                    }
                    if found == 0 {
                        return Err(ConnectorError::new(
                            ConnectorErrorKind::Tls,
                            format!(
                                "root certificates #{n} (PEM): no `BEGIN CERTIFICATE` section found"
                            ),
                            None,
                        ));
                    }
                }
            }
        }

        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(format!("TLS configuration: {e}"), e))?;
        let mut config = if self.verify {
            builder.with_root_certificates(store).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                    algorithms: provider.signature_verification_algorithms,
                }))
                .with_no_client_auth()
        };
        // Both HTTPS and WSS speak HTTP/1.1 (a WebSocket handshake is an HTTP/1.1 upgrade).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The default configuration ([`TlsConfig::new`]), built once and shared by every
/// connector that is not given one.
pub(crate) fn default_config() -> Arc<ClientConfig> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            TlsConfig::new()
                .build()
                .expect("the default TLS configuration has no certificate to reject")
        })
        .clone()
}

fn config_error(
    context: String,
    e: impl std::error::Error + Send + Sync + 'static,
) -> ConnectorError {
    ConnectorError::new(ConnectorErrorKind::Tls, context, Some(Box::new(e)))
}

/// Runs a TLS handshake with `host` (a DNS name or an IP address, IPv6 with or without
/// brackets) over `io`, and returns the encrypted stream.
///
/// Every failure has kind [`ConnectorErrorKind::Tls`]; a rejected certificate reads like
/// `TLS handshake with example.com failed: invalid peer certificate: UnknownIssuer`.
pub async fn connect_tls(
    config: &Arc<ClientConfig>,
    host: &str,
    io: Box<dyn Io>,
) -> Result<Box<dyn Io>, ConnectorError> {
    let bare = super::bare_host(host);
    let name = ServerName::try_from(bare.to_owned()).map_err(|e| {
        ConnectorError::new(
            ConnectorErrorKind::Tls,
            format!("TLS handshake with {host} failed: invalid server name"),
            Some(Box::new(e)),
        )
    })?;
    let stream = TlsConnector::from(config.clone())
        .connect(name, io)
        .await
        .map_err(|e| handshake_error(host, e))?;
    Ok(Box::new(stream))
}

/// Names the rustls error (the certificate problem) in the context when there is one.
fn handshake_error(host: &str, e: std::io::Error) -> ConnectorError {
    let detail = match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => tls.to_string(),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the server closed the connection".to_owned()
        }
        None => e.to_string(),
    };
    ConnectorError::new(
        ConnectorErrorKind::Tls,
        format!("TLS handshake with {host} failed: {detail}"),
        Some(Box::new(e)),
    )
}

/// The verifier behind `verify(false)`: any certificate chain for any name is accepted,
/// but the handshake signatures are still verified, so the peer must hold the key of the
/// certificate it shows.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        warn!(
            "TLS certificate verification is disabled: accepting the certificate of {} unchecked",
            server_name.to_str()
        );
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_builds_with_webpki_roots() {
        let config = TlsConfig::new().build().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        // The verifier is the webpki one, not the accept-anything one.
        assert!(!format!("{config:?}").contains("AcceptAnyCertificate"));
    }

    #[test]
    fn bad_pem_is_a_tls_error_naming_the_root() {
        let err = TlsConfig::new()
            .root_certificates_pem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::Tls);
        assert!(
            err.context().contains("root certificates #1 (PEM)"),
            "{err}"
        );
    }

    #[test]
    fn pem_without_certificates_is_rejected() {
        let err = TlsConfig::new()
            .root_certificates_pem("just some text\n")
            .build()
            .unwrap_err();
        assert!(err.is_tls());
        assert!(err.context().contains("no `BEGIN CERTIFICATE`"), "{err}");
    }

    #[test]
    fn bad_der_is_rejected() {
        let err = TlsConfig::new()
            .root_certificate_der(vec![0x30, 0x03, 0x01, 0x02, 0x03])
            .build()
            .unwrap_err();
        assert!(err.is_tls());
        assert!(err.context().contains("root certificate #1 (DER)"), "{err}");
    }

    #[test]
    fn verify_false_builds() {
        let config = TlsConfig::new()
            .verify(false)
            .webpki_roots(false)
            .build()
            .unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(format!("{config:?}").contains("AcceptAnyCertificate"));
    }
}
