//! The real `cnpg-guard serve`, on loopback, with live facts read through a
//! kubeconfig of the shipped ServiceAccount's token.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::proc::{Proc, wait_until};
use crate::support::{admin_get, guard_bin};

pub struct Guard {
    pub proc: Proc,
    pub admin: u16,
    /// The decision records (stdout).
    pub decisions: std::path::PathBuf,
}

impl Guard {
    /// Starts `serve` and waits for its /readyz (every watch synced once),
    /// with the embedded contract or `contract`.
    pub fn start(
        dir: &Path,
        kubeconfig: &Path,
        cert: &Path,
        key: &Path,
        (port, admin): (u16, u16),
        contract: Option<&Path>,
    ) -> Guard {
        let stdout = dir.join("guard-decisions.log");
        let mut cmd = Command::new(guard_bin());
        cmd.arg("serve")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .args(["--log-format", "json", "--drain-timeout", "5"])
            .args(
                contract
                    .map(|c| [std::ffi::OsStr::new("--contract"), c.as_os_str()])
                    .into_iter()
                    .flatten(),
            )
            .env("RUST_LOG", "info");
        // Decisions (stdout) and logs (stderr) in separate files.
        let decisions = std::fs::File::create(&stdout).unwrap();
        let mut guard = Guard {
            proc: Proc::spawn("cnpg-guard serve", cmd, dir.join("guard.log"), Some(decisions)),
            admin,
            decisions: stdout,
        };
        wait_until("cnpg-guard /readyz", Duration::from_secs(30), || {
            guard.proc.assert_running();
            match admin_get(admin, "/readyz") {
                Some((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        guard
    }

    pub fn metrics(&self) -> String {
        admin_get(self.admin, "/metrics").map(|(_, b)| b).unwrap_or_default()
    }

    /// `cnpg_guard_watch_synced{watch=...}` values.
    pub fn watch_synced(&self) -> Vec<(String, f64)> {
        watch_synced(&self.metrics())
    }

    /// The decision records written so far, one JSON line each.
    pub fn decisions(&self) -> String {
        std::fs::read_to_string(&self.decisions).unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.proc.log).unwrap_or_default()
    }
}

pub fn watch_synced(metrics: &str) -> Vec<(String, f64)> {
    metrics
        .lines()
        .filter(|l| l.starts_with("cnpg_guard_watch_synced{"))
        .filter_map(|l| {
            let (labels, value) = l.rsplit_once(' ')?;
            Some((labels.to_owned(), value.parse().ok()?))
        })
        .collect()
}
