//! The suite's shared state: one control plane, the rendered overlay, the
//! guard; and the helpers the tests read with (documents, verdicts).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::control_plane::ControlPlane;
use crate::guard::Guard;
use crate::proc::{Out, run};
use crate::support::{self, Pki, guard_bin, yaml_docs};

/// What `kubectl` prints when the guard refuses a write: how a denial by either of the guard's webhooks (`cnpg-guard.railiance.io`,
/// `services.cnpg-guard.railiance.io`) ends its name and starts its message.
pub const GUARD_DENIAL: &str = "cnpg-guard.railiance.io\" denied the request: [";

/// The self-protecting ValidatingAdmissionPolicy (and its binding).
pub const SELF_PROTECTION: &str = "cnpg-guard-self-protection";

pub struct Rendered {
    /// The ValidatingWebhookConfiguration, clientConfig switched to the local guard.
    pub webhook: PathBuf,
    pub has_self_protection: bool,
}

pub struct Env {
    // Dropped in this order: the guard, then the control plane, then the files.
    pub guard: Option<Guard>,
    pub cp: ControlPlane,
    pub dir: PathBuf,
    pub repo: PathBuf,
    /// The guard's serving certificate for 127.0.0.1 (the crate's tls helpers).
    pub serving: Pki,
    pub guard_port: u16,
    pub guard_admin: u16,
    pub rendered: Option<Rendered>,
    pub policyreport_crds: Option<PathBuf>,
    /// The live bootstrap password once a test set one (never printed).
    pub bootstrap_password: Option<String>,
    _tmp: tempfile::TempDir,
}

/// A note under the running test (libtest prints test output the same way).
pub fn note(msg: &str) {
    println!("    note: {msg}");
}

/// Marks the running test as ignored, with a reason.
pub struct Skip(pub String);

pub fn skip(reason: &str) -> ! {
    std::panic::panic_any(Skip(reason.to_owned()))
}

impl Env {
    pub fn start(assets: &Path, cnpg_crds: &Path, policyreport_crds: Option<PathBuf>) -> Env {
        let tmp = tempfile::Builder::new()
            .prefix("cnpg-guard-envtest-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_owned();
        let cp = ControlPlane::start(assets, &dir);
        let serving = support::write_pki(&dir, "guard-");
        let env = Env {
            guard: None,
            cp,
            dir,
            repo: support::root().to_path_buf(),
            serving,
            guard_port: support::free_port(),
            guard_admin: support::free_port(),
            rendered: None,
            policyreport_crds,
            bootstrap_password: None,
            _tmp: tmp,
        };
        // Every CloudNativePG kind of the table of covered kinds (an
        // optional one where this release has it: DatabaseRole is 1.30's).
        let cnpg: Vec<String> = cnpg_guard::model::kinds::KINDS
            .iter()
            .filter(|k| k.group == cnpg_guard::model::kinds::CNPG_GROUP)
            .filter(|k| !k.optional || cnpg_crds.join(format!("{}_{}.yaml", k.group, k.plural)).exists())
            .map(|k| format!("{}.{}", k.plural, k.group))
            .collect();
        env.install_crds(cnpg_crds, &cnpg.iter().map(String::as_str).collect::<Vec<_>>());
        // Both static users may do anything RBAC allows: only admission
        // (the guard, the self-protection policy) tells them apart.
        env.k(&[
            "create",
            "clusterrolebinding",
            "envtest-users-cluster-admin",
            "--clusterrole=cluster-admin",
            "--user=alice",
            "--user=eve",
        ])
        .expect_ok();
        env
    }

    /// `kubectl apply --server-side` of a CRD directory, then Established.
    pub fn install_crds(&self, dir: &Path, names: &[&str]) {
        self.k(&["apply", "--server-side", "-f", &dir.display().to_string()])
            .expect_ok();
        let mut args = vec!["wait", "--for=condition=Established", "--timeout=60s"];
        let crds: Vec<String> = names.iter().map(|n| format!("crd/{n}")).collect();
        args.extend(crds.iter().map(String::as_str));
        self.k(&args).expect_ok();
    }

    /// kubectl as the admin.
    pub fn k(&self, args: &[&str]) -> Out {
        self.cp.kubectl(args)
    }

    pub fn k_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        self.cp.kubectl_stdin(args, stdin)
    }

    pub fn guard(&self) -> &Guard {
        self.guard
            .as_ref()
            .expect("the guard is not running (guard_syncs_as_the_shipped_service_account failed or did not run)")
    }

    pub fn rendered(&self) -> &Rendered {
        self.rendered
            .as_ref()
            .expect("no rendered overlay (self_signed_overlay_renders_and_applies_without_the_webhook failed)")
    }

    /// `cnpg-guard audit` with the admin kubeconfig.
    pub fn audit(&self, output: &str) -> Out {
        run(
            Command::new(guard_bin())
                .arg("audit")
                .arg("--kubeconfig")
                .arg(&self.cp.admin_kubeconfig)
                .args(["--output", output])
                .env("RUST_LOG", "warn"),
            None,
            Duration::from_secs(60),
        )
    }

    /// Writes `value` as JSON into the suite's directory (0600: some hold
    /// key material or a password) and returns the path.
    pub fn write_json(&self, name: &str, value: &Value) -> PathBuf {
        let dir = self.dir.join("objects");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.json"));
        cnpg_guard::server::tls::write_file(&path, &serde_json::to_string_pretty(value).unwrap(), true).unwrap();
        path
    }

    pub fn example(&self, rel: &str) -> PathBuf {
        self.repo.join("deploy/examples").join(rel)
    }

    /// The documents of an example file.
    pub fn example_docs(&self, rel: &str) -> Vec<Value> {
        let path = self.example(rel);
        yaml_docs(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    /// One document of an example file, by metadata.name, written as JSON.
    pub fn example_doc(&self, rel: &str, name: &str) -> (Value, PathBuf) {
        let doc = self
            .example_docs(rel)
            .into_iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{rel} has no document named {name}"));
        let path = self.write_json(&format!("{}-{name}", rel.replace(['/', '.'], "-")), &doc);
        (doc, path)
    }

    /// resourceVersion of the object a file describes, None when absent.
    pub fn resource_version(&self, file: &Path) -> Option<String> {
        let out = self.k(&[
            "get",
            "-f",
            &file.display().to_string(),
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ]);
        if out.ok() {
            Some(out.stdout.trim().to_owned())
        } else {
            assert!(out.text().contains("NotFound"), "unexpected: {}", out.describe());
            None
        }
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// (kind, namespace, name) of an object.
pub fn id(doc: &Value) -> (String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        s(&doc["kind"]),
        s(&doc["metadata"]["namespace"]),
        s(&doc["metadata"]["name"]),
    )
}

/// How the guard names an object in a violation line: `Kind ns/name`.
pub fn display(kind: &str, ns: &str, name: &str) -> String {
    if ns.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {ns}/{name}")
    }
}

/// Panics unless the guard denied the write with a line containing `needle`.
pub fn assert_denied(out: &Out, needle: &str, what: &str) {
    assert!(
        !out.ok() && out.text().contains(GUARD_DENIAL) && out.text().contains(needle),
        "{what}: expected a cnpg-guard denial containing {needle:?}; got {}",
        out.describe()
    );
}

/// Panics unless the write was admitted (and nothing denied it).
pub fn assert_admitted(out: &Out, what: &str) {
    assert!(
        out.ok() && !out.text().contains("denied"),
        "{what}: expected admission; got {}",
        out.describe()
    );
}

/// Replaces `secret` in `text` (for assertion messages).
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<redacted>")
    }
}
