//! TLS for the webhook: rustls (ring), TLS 1.2 and 1.3 only, ALPN h2 and
//! http/1.1; a certificate resolver backed by an `ArcSwap` so renewed
//! certificates are served without a restart; optional client-certificate
//! verification; a development CA made with rcgen.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::crypto::ring;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: String },
    #[error("{path}: no PEM private key found")]
    NoKey { path: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Config(String),
    #[error("development certificate: {0}")]
    DevCert(String),
}

/// Where the serving certificate and key live.
#[derive(Debug, Clone)]
pub struct CertPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A loaded certificate, with the bytes it came from (to notice changes).
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    pub fingerprint: Vec<u8>,
    /// Seconds since the epoch when the leaf expires.
    pub not_after: i64,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads and checks a certificate chain and its private key.
pub fn load(paths: &CertPaths) -> Result<Loaded, TlsError> {
    let cert_pem = read(&paths.cert)?;
    let key_pem = read(&paths.key)?;
    let cert_path = paths.cert.display().to_string();
    let key_path = paths.key.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid {
            path: cert_path.clone(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert_path });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey { path: key_path.clone() })?;
    let signing_key = ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Invalid {
            path: key_path.clone(),
            message: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain.clone(), signing_key);
    certified.keys_match().map_err(|e| TlsError::Invalid {
        path: key_path,
        message: format!("the key does not match the certificate: {e}"),
    })?;
    let not_after = x509_parser::parse_x509_certificate(&chain[0])
        .map(|(_, c)| c.validity().not_after.timestamp())
        .map_err(|e| TlsError::Invalid {
            path: cert_path,
            message: e.to_string(),
        })?;
    let mut fingerprint = cert_pem;
    fingerprint.extend_from_slice(&key_pem);
    Ok(Loaded {
        key: Arc::new(certified),
        fingerprint: sha256(&fingerprint).to_vec(),
        not_after,
    })
}

/// Serves whatever certificate is current; swapped atomically on reload.
#[derive(Debug)]
pub struct Resolver {
    current: ArcSwap<CertifiedKey>,
}

impl Resolver {
    pub fn new(key: Arc<CertifiedKey>) -> Arc<Self> {
        Arc::new(Resolver {
            current: ArcSwap::new(key),
        })
    }

    pub fn swap(&self, key: Arc<CertifiedKey>) {
        self.current.store(key);
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The server configuration: TLS 1.2/1.3, ALPN h2 + http/1.1, and client
/// certificates from `client_ca` when given.
pub fn server_config(resolver: Arc<Resolver>, client_ca: Option<&Path>) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = read(path)?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| TlsError::Invalid {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                roots.add(cert).map_err(|e| TlsError::Invalid {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            }
            if roots.is_empty() {
                return Err(TlsError::NoCertificate {
                    path: path.display().to_string(),
                });
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A CA and a serving certificate signed by it, as PEM.
pub struct Issued {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// DNS names a webhook Service answers to.
pub fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Issues a fresh CA and a serving certificate for `names` (rcgen).
pub fn issue(names: &[String], days: u32) -> Result<Issued, TlsError> {
    use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let err = |e: rcgen::Error| TlsError::DevCert(e.to_string());
    let now = time::OffsetDateTime::now_utc();
    let until = now + time::Duration::days(i64::from(days));

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "cnpg-guard CA");
    ca_params.distinguished_name = dn;
    ca_params.not_before = now - time::Duration::minutes(5);
    ca_params.not_after = until;
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(names.to_vec()).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_else(|| "cnpg-guard".into()),
    );
    params.distinguished_name = dn;
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = until;
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    Ok(Issued {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Writes `contents` to `path`; private keys get mode 0600.
pub fn write_file(path: &Path, contents: &str, private: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    // An existing file keeps its mode on open: tighten it explicitly.
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(contents.as_bytes())
}

/// Warns when the key file can be read by anyone.
pub fn key_is_world_readable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Follow symlinks (kubelet's ..data): the mode of the real file counts.
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// SHA-256 of a file's bytes: whether a certificate or contract changed.
pub(super) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}
