//! etcd and kube-apiserver from KUBEBUILDER_ASSETS on free loopback ports,
//! with a PKI of our own (rcgen), static token users and an admin
//! kubeconfig (client certificate, O=system:masters).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::proc::{Out, Proc, run, wait_until};
use crate::support::{admin_get, free_port};

/// The break-glass group of the embedded contract.
pub const BREAK_GLASS_GROUP: &str = "railiance:platform-admins";

/// Static users of `--token-auth-file`, both bound to cluster-admin by the
/// suite: only admission tells them apart.
pub struct User {
    pub kubeconfig: PathBuf,
}

pub struct ControlPlane {
    pub dir: PathBuf,
    pub assets: PathBuf,
    pub port: u16,
    pub etcd_port: u16,
    pub ca_pem: String,
    pub admin_kubeconfig: PathBuf,
    pub alice: User,
    pub eve: User,
    apiserver_args: Vec<String>,
    apiserver: Option<Proc>,
    etcd: Option<Proc>,
    admin_identity: (String, String),
    cache_dir: PathBuf,
}

struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "envtest CA");
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// (certificate PEM, key PEM)
    fn issue(&self, cn: &str, org: Option<&str>, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        if let Some(org) = org {
            dn.push(DnType::OrganizationName, org);
        }
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn write(path: &Path, contents: &str, private: bool) {
    cnpg_guard::server::tls::write_file(path, contents, private).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A random token (hex of 24 bytes from the kernel).
pub fn random_token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub enum Auth<'a> {
    Cert { cert: &'a str, key: &'a str },
    Token(&'a str),
}

/// A kubeconfig for `server` trusting `ca_pem`.
pub fn kubeconfig(server: &str, ca_pem: &str, user: &str, auth: Auth<'_>) -> String {
    let creds = match auth {
        Auth::Cert { cert, key } => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(cert),
            b64(key)
        ),
        Auth::Token(token) => format!("    token: {token}\n"),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
         users:\n- name: {user}\n  user:\n{creds}contexts:\n- name: {user}@envtest\n  context:\n    cluster: envtest\n    user: {user}\n\
         current-context: {user}@envtest\n",
        ca = b64(ca_pem),
    )
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver in `dir` and waits for /readyz.
    pub fn start(assets: &Path, dir: &Path) -> ControlPlane {
        for b in ["etcd", "kube-apiserver"] {
            assert!(
                assets.join(b).is_file(),
                "KUBEBUILDER_ASSETS={} holds no `{b}`",
                assets.display()
            );
        }
        let pki_dir = dir.join("pki");
        std::fs::create_dir_all(&pki_dir).unwrap();
        let pki = Pki::new();
        let ca = pki_dir.join("ca.crt");
        write(&ca, &pki.ca_pem, false);
        let (serving_cert, serving_key) = pki.issue(
            "kube-apiserver",
            None,
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        write(&pki_dir.join("apiserver.crt"), &serving_cert, false);
        write(&pki_dir.join("apiserver.key"), &serving_key, true);
        let admin = pki.issue(
            "envtest-admin",
            Some("system:masters"),
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        // Service-account token signing (TokenRequest, `kubectl create token`).
        let sa = KeyPair::generate().unwrap();
        write(&pki_dir.join("sa.key"), &sa.serialize_pem(), true);
        write(&pki_dir.join("sa.pub"), &sa.public_key_pem(), false);

        // Every request's metadata (and the admission audit annotations) to a log.
        write(
            &pki_dir.join("audit-policy.yaml"),
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n",
            false,
        );

        let (alice_token, eve_token) = (random_token(), random_token());
        write(
            &pki_dir.join("tokens.csv"),
            &format!("{alice_token},alice,alice,\"{BREAK_GLASS_GROUP}\"\n{eve_token},eve,eve\n"),
            true,
        );

        let (etcd_port, etcd_peer, port) = (free_port(), free_port(), free_port());
        let server = format!("https://127.0.0.1:{port}");
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        write(
            &admin_kubeconfig,
            &kubeconfig(
                &server,
                &pki.ca_pem,
                "envtest-admin",
                Auth::Cert {
                    cert: &admin.0,
                    key: &admin.1,
                },
            ),
            true,
        );
        let user = |name: &'static str, token: &str| {
            let path = dir.join(format!("{name}.kubeconfig"));
            write(&path, &kubeconfig(&server, &pki.ca_pem, name, Auth::Token(token)), true);
            User { kubeconfig: path }
        };
        let (alice, eve) = (user("alice", &alice_token), user("eve", &eve_token));

        let p = |f: &str| pki_dir.join(f).display().to_string();
        let apiserver_args = vec![
            format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", dir.join("apiserver-certs").display()),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            format!("--token-auth-file={}", p("tokens.csv")),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--authorization-mode=RBAC".into(),
            "--enable-admission-plugins=ValidatingAdmissionWebhook,ValidatingAdmissionPolicy".into(),
            "--endpoint-reconciler-type=none".into(),
            format!("--audit-policy-file={}", p("audit-policy.yaml")),
            format!("--audit-log-path={}", dir.join("audit.log").display()),
        ];

        let mut cp = ControlPlane {
            dir: dir.to_owned(),
            assets: assets.to_owned(),
            port,
            etcd_port,
            ca_pem: pki.ca_pem.clone(),
            admin_kubeconfig,
            alice,
            eve,
            apiserver_args,
            apiserver: None,
            etcd: None,
            admin_identity: admin,
            cache_dir: dir.join("kube-cache"),
        };

        let mut etcd = Command::new(assets.join("etcd"));
        etcd.args([
            "--data-dir".into(),
            dir.join("etcd").display().to_string(),
            "--listen-client-urls".into(),
            format!("http://127.0.0.1:{etcd_port}"),
            "--advertise-client-urls".into(),
            format!("http://127.0.0.1:{etcd_port}"),
            "--listen-peer-urls".into(),
            format!("http://127.0.0.1:{etcd_peer}"),
            // A throwaway store: no fsync (as controller-runtime's envtest does).
            "--unsafe-no-fsync".into(),
        ]);
        let mut etcd = Proc::spawn("etcd", etcd, dir.join("etcd.log"), None);
        wait_until("etcd /health", Duration::from_secs(30), || {
            etcd.assert_running();
            match admin_get(etcd_port, "/health") {
                Some((200, body)) if body.contains("true") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        cp.etcd = Some(etcd);
        cp.start_apiserver();
        cp
    }

    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Starts kube-apiserver (again) with the same flags and port; returns
    /// the instant its /readyz first answered `ok`.
    pub fn start_apiserver(&mut self) -> Instant {
        let mut cmd = Command::new(self.assets.join("kube-apiserver"));
        cmd.args(&self.apiserver_args);
        let mut proc = Proc::spawn("kube-apiserver", cmd, self.dir.join("kube-apiserver.log"), None);
        let ready = wait_until("kube-apiserver /readyz", Duration::from_secs(60), || {
            proc.assert_running();
            match self.readyz() {
                Ok(()) => Ok(Instant::now()),
                Err(e) => Err(e),
            }
        });
        self.apiserver = Some(proc);
        ready
    }

    /// Stops kube-apiserver (etcd keeps running).
    pub fn stop_apiserver(&mut self) {
        if let Some(mut p) = self.apiserver.take() {
            // A graceful stop waits for the guard's watches; 5 s is plenty
            // for the outage to be real.
            p.stop(Duration::from_secs(5));
        }
    }

    /// GET /readyz with the admin certificate, a short timeout.
    pub fn readyz(&self) -> Result<(), String> {
        let out = run(
            Command::new("curl")
                .args(["-sS", "--max-time", "2", "--cacert"])
                .arg(self.dir.join("pki/ca.crt"))
                .arg("--cert")
                .arg(self.identity_file("cert", &self.admin_identity.0))
                .arg("--key")
                .arg(self.identity_file("key", &self.admin_identity.1))
                .arg(format!("{}/readyz", self.server())),
            None,
            Duration::from_secs(5),
        );
        if out.ok() && out.stdout.trim() == "ok" {
            Ok(())
        } else {
            Err(out.describe())
        }
    }

    fn identity_file(&self, what: &str, pem: &str) -> PathBuf {
        let path = self.dir.join(format!("pki/admin.{what}"));
        if !path.exists() {
            write(&path, pem, true);
        }
        path
    }

    /// The API server's audit events so far (one JSON object a line).
    pub fn audit_events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn apiserver_log_tail(&self, lines: usize) -> String {
        crate::proc::tail_of(&self.dir.join("kube-apiserver.log"), lines)
    }

    /// kubectl as the admin (system:masters).
    pub fn kubectl(&self, args: &[&str]) -> Out {
        self.kubectl_with(&self.admin_kubeconfig, args, None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        self.kubectl_with(&self.admin_kubeconfig, args, Some(stdin))
    }

    /// kubectl as one of the static token users.
    pub fn kubectl_as(&self, user: &User, args: &[&str]) -> Out {
        self.kubectl_with(&user.kubeconfig, args, None)
    }

    pub fn kubectl_with(&self, kubeconfig: &Path, args: &[&str], stdin: Option<&[u8]>) -> Out {
        let mut cmd = Command::new("kubectl");
        cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--cache-dir={}", self.cache_dir.display()))
            .arg("--request-timeout=20s")
            .args(args);
        run(&mut cmd, stdin, Duration::from_secs(45))
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // kube-apiserver first, then its store.
        if let Some(mut p) = self.apiserver.take() {
            p.stop(Duration::from_secs(10));
        }
        if let Some(mut p) = self.etcd.take() {
            p.stop(Duration::from_secs(10));
        }
    }
}
