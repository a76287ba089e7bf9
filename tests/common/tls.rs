//! A test PKI, and a node server on https and wss with a certificate from it.

use super::{Server, ServerKind};

/// A test CA and a certificate for localhost and 127.0.0.1 signed by it, written to a
/// fresh directory: (ca.pem, cert.pem, key.pem).
pub fn test_pki() -> (std::path::PathBuf, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "engineio-tls-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    (dir, ca.pem())
}

/// A node server on https and wss with a certificate from a fresh test CA: the PKI's
/// directory, the CA in PEM, the server.
pub fn tls_node_server() -> (std::path::PathBuf, String, Server) {
    let (dir, ca_pem) = test_pki();
    let cert = dir.join("cert.pem").to_string_lossy().into_owned();
    let key = dir.join("key.pem").to_string_lossy().into_owned();
    let server = Server::start(
        ServerKind::Node,
        &[("EIO_TLS_CERT", &cert), ("EIO_TLS_KEY", &key)],
    );
    (dir, ca_pem, server)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
