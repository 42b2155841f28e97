//! TLS configuration for HTTPS listeners, from PEM certificates and keys.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::ServeError;

/// The only ALPN protocol offered: WebSocket upgrades need HTTP/1.1.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// A TLS server configuration for [`ServerBuilder::listen_tls`](super::ServerBuilder::listen_tls):
/// one certificate chain and its private key, rustls with the *ring* provider
/// (no process-wide default provider needed), TLS 1.2 and 1.3, ALPN `http/1.1`.
///
/// Cheap to clone; one configuration may serve several listeners.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alpn: Vec<_> = self
            .config
            .alpn_protocols
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect();
        f.debug_struct("TlsConfig")
            .field("alpn", &alpn)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Builds the configuration from PEM text: `cert_pem` holds the
    /// certificate chain, end-entity certificate first (other sections are
    /// ignored); `key_pem` holds the private key as PKCS#8, PKCS#1 (RSA) or
    /// SEC1 (EC) — the first one found is used. The same PEM may hold both.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, ServeError> {
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ServeError::InvalidPem {
                what: "certificate",
                source,
            })?;
        if certs.is_empty() {
            return Err(ServeError::NoCertificate);
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|err| match err {
            pem::Error::NoItemsFound => ServeError::NoPrivateKey,
            source => ServeError::InvalidPem {
                what: "private key",
                source,
            },
        })?;
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(ServeError::Tls)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|err| match err {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    ServeError::KeyMismatch
                }
                err => ServeError::Tls(err),
            })?;
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// Reads the PEM files at `cert_path` and `key_path` (they may be the
    /// same file) and builds the configuration as [`from_pem`](Self::from_pem)
    /// does. This reads the files synchronously: call it at startup.
    pub fn from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, ServeError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| ServeError::ReadFile {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read("certificate", cert_path.as_ref())?;
        let key_pem = read("private key", key_path.as_ref())?;
        Self::from_pem(&cert_pem, &key_pem)
    }

    /// Wraps a ready rustls configuration as is (client authentication,
    /// certificate resolvers, ...). Its ALPN list should offer only
    /// `http/1.1` or nothing: the server speaks HTTP/1.1 only.
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self { config }
    }

    pub(super) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }
}
