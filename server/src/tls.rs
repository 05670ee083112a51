//! TLS for `--tls`: a rustls server config (ring provider) offering HTTP/2 and HTTP/1.1 by ALPN,
//! with a self-signed certificate made at start or PEM files from disk.

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A certificate for `localhost`, `127.0.0.1` and `::1`, made at start.
    SelfSigned,
    /// A PEM certificate chain and a PEM private key.
    Pem { cert: PathBuf, key: PathBuf },
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {detail}")]
    Pem { path: PathBuf, detail: String },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("making a self-signed certificate: {0}")]
    SelfSigned(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A server config for `source`, with ALPN `h2` then `http/1.1`.
pub fn server_config(source: &TlsSource) -> Result<Arc<ServerConfig>, TlsError> {
    let (certs, key) = match source {
        TlsSource::SelfSigned => self_signed()?,
        TlsSource::Pem { cert, key } => from_pem(cert, key)?,
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

type CertAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn self_signed() -> Result<CertAndKey, TlsError> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)?;
    let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
    Ok((vec![certified.cert.der().clone()], key.into()))
}

fn from_pem(cert: &PathBuf, key: &PathBuf) -> Result<CertAndKey, TlsError> {
    let pem_error = |path: &PathBuf| {
        let path = path.clone();
        move |e: rustls::pki_types::pem::Error| TlsError::Pem {
            path,
            detail: e.to_string(),
        }
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(pem_error(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(cert))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: cert.clone() });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem_error(key))?;
    Ok((certs, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_offers_h2_and_http11() {
        let config = server_config(&TlsSource::SelfSigned).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn pem_files_load_and_missing_ones_fail() {
        let dir = std::env::temp_dir().join(format!("convoy-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
        let source = TlsSource::Pem {
            cert: cert.clone(),
            key: key.clone(),
        };
        assert!(server_config(&source).is_ok());
        let missing = TlsSource::Pem {
            cert: dir.join("nope.pem"),
            key,
        };
        assert!(matches!(server_config(&missing), Err(TlsError::Pem { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
