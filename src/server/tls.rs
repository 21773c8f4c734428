//! TLS for the listener: a certificate and key from PEM files, or a
//! self-signed pair generated once and kept in the database so that restarts
//! present the same certificate (and the IdP's pinned fingerprint stays valid).
//! ALPN offers HTTP/2 and HTTP/1.1. The listener takes its configuration
//! from a `Reloadable` cell on every new connection, so SIGHUP can swap in a
//! renewed certificate while open connections keep the one they started with.

use crate::domain::admin::Setup;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub struct Loaded {
    pub config: Arc<ServerConfig>,
    /// `AA:BB:…`, SHA-256 of the leaf certificate's DER.
    pub fingerprint: String,
}

pub fn from_files(cert: &Path, key: &Path) -> Result<Loaded, String> {
    let cert_pem =
        std::fs::read(cert).map_err(|e| format!("cannot read {}: {e}", cert.display()))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("cannot read {}: {e}", key.display()))?;
    // The reason alone would not say which of the two files is at fault.
    build(&cert_pem, &key_pem).map_err(|e| {
        format!(
            "cannot use --tls-cert {} with --tls-key {}: {e}",
            cert.display(),
            key.display()
        )
    })
}

/// The configuration new connections use, and where it came from.
pub struct Reloadable {
    current: RwLock<Arc<ServerConfig>>,
    /// The `--tls-cert`/`--tls-key` files; None for the self-signed pair.
    files: Option<(PathBuf, PathBuf)>,
}

impl Reloadable {
    pub fn new(config: Arc<ServerConfig>, files: Option<(PathBuf, PathBuf)>) -> Reloadable {
        Reloadable {
            current: RwLock::new(config),
            files,
        }
    }

    /// An acceptor for one new connection, with the configuration of now.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        tokio_rustls::TlsAcceptor::from(config)
    }

    /// Reads the files again and, if the pair is good, makes it the one new
    /// connections get; a bad pair leaves the current one in place. Returns
    /// the new fingerprint, or why nothing changed.
    pub fn reload(&self) -> Result<String, String> {
        let Some((cert, key)) = &self.files else {
            return Err("the certificate is the self-signed one kept in the database: there are no files to reload".into());
        };
        let loaded = from_files(cert, key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = loaded.config;
        Ok(loaded.fingerprint)
    }
}

/// Loads the stored self-signed pair, generating and storing it on first use.
pub fn self_signed(setup: &Setup, extra_names: &[String]) -> Result<Loaded, String> {
    let generate = || {
        let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
        for n in extra_names {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        let generated = rcgen::generate_simple_self_signed(names)
            .map_err(|e| format!("cannot generate a certificate: {e}"))?;
        Ok((generated.cert.pem(), generated.key_pair.serialize_pem()))
    };
    let stored = setup.certificate(generate).map_err(|e| e.to_string())?;
    build(stored.0.as_bytes(), stored.1.as_bytes())
}

fn build(cert_pem: &[u8], key_pem: &[u8]) -> Result<Loaded, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate PEM: {e}"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| "the certificate file holds no certificate".to_string())?;
    let fingerprint = fingerprint(leaf.as_ref());
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("private key PEM: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not work together: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint,
    })
}

pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_colon_separated_uppercase_hex() {
        let f = fingerprint(b"x");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f
            .chars()
            .all(|c| c == ':' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
    }

    #[test]
    fn reloading_the_self_signed_pair_says_there_is_nothing_to_reload() {
        let db = std::env::temp_dir().join(format!("scimd-tls-reload-{}.db", std::process::id()));
        let setup = Setup::open(&db).unwrap();
        let cell = Reloadable::new(self_signed(&setup, &[]).unwrap().config, None);
        drop(setup);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        assert!(cell.reload().unwrap_err().contains("no files to reload"));
    }

    #[test]
    fn self_signed_pair_is_generated_once_and_reused() {
        let db = std::env::temp_dir().join(format!("scimd-tls-{}.db", std::process::id()));
        let setup = Setup::open(&db).unwrap();
        let a = self_signed(&setup, &[]).unwrap();
        let b = self_signed(&setup, &[]).unwrap();
        drop(setup);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        assert_eq!(a.fingerprint, b.fingerprint);
    }
}
