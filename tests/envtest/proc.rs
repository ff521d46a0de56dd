//! Child processes with bounded lifetimes: every command has a deadline,
//! every long-running child is killed when its guard is dropped (also while
//! a test panics), so no test can hang and nothing outlives the suite.

use std::ffi::OsStr;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished (or timed-out) command printed.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub what: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// stdout and stderr together, as a user would read them in a terminal.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// A one-paragraph description for assertion messages.
    pub fn describe(&self) -> String {
        let status = if self.timed_out {
            "timed out".to_owned()
        } else {
            format!("exit {:?}", self.code)
        };
        format!("`{}` ({status}):\n{}", self.what, indent(&self.text()))
    }

    /// Panics unless the command succeeded.
    pub fn expect_ok(self) -> Out {
        assert!(self.ok(), "expected success: {}", self.describe());
        self
    }
}

pub fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    | {l}\n")).collect()
}

/// Proxies never apply to a control plane on loopback.
pub fn scrub_env(cmd: &mut Command) {
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(v);
    }
}

/// Runs `cmd` to completion, at most `timeout`; `stdin` is fed from a file
/// (no pipe can fill up), stdout and stderr are captured the same way.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> Out {
    let what = describe_command(cmd);
    scrub_env(cmd);
    let mut out_f = tempfile::tempfile().expect("tempfile");
    let mut err_f = tempfile::tempfile().expect("tempfile");
    match stdin {
        Some(bytes) => {
            let mut f = tempfile::tempfile().expect("tempfile");
            f.write_all(bytes).expect("write stdin");
            f.seek(SeekFrom::Start(0)).unwrap();
            cmd.stdin(Stdio::from(f));
        }
        None => {
            cmd.stdin(Stdio::null());
        }
    }
    cmd.stdout(Stdio::from(out_f.try_clone().unwrap()))
        .stderr(Stdio::from(err_f.try_clone().unwrap()));
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |f: &mut std::fs::File| {
        let mut s = String::new();
        f.seek(SeekFrom::Start(0)).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        s.push_str(&String::from_utf8_lossy(&bytes));
        s
    };
    Out {
        code: status.and_then(|s| s.code()),
        stdout: read(&mut out_f),
        stderr: read(&mut err_f),
        timed_out,
        what,
    }
}

fn describe_command(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(OsStr::new("?"))
        .to_string_lossy()
        .into_owned();
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        // The kubeconfig path is the same on every line; leave it out.
        .filter(|a| !a.starts_with("--kubeconfig="))
        .collect();
    format!("{program} {}", args.join(" "))
}

/// The same command under `setpriv --pdeathsig KILL` where util-linux has
/// it: if the suite itself is killed (a CI timeout), the kernel kills the
/// control plane and the guard with it instead of leaving them running.
fn die_with_parent(cmd: Command) -> Command {
    let setpriv = Path::new("/usr/bin/setpriv");
    if !setpriv.exists() {
        return cmd;
    }
    let mut wrapped = Command::new(setpriv);
    wrapped
        .args(["--pdeathsig", "KILL", "--"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// A long-running child (etcd, kube-apiserver, the guard) whose output goes
/// to a log file; killed and reaped on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stderr (and stdout, unless given) appended to `log`.
    pub fn spawn(name: &str, cmd: Command, log: PathBuf, stdout: Option<std::fs::File>) -> Proc {
        let mut cmd = die_with_parent(cmd);
        scrub_env(&mut cmd);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let stdout = stdout.unwrap_or_else(|| file.try_clone().unwrap());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(file));
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// Panics (with the log's tail) if the child has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited ({status}); last log lines:\n{}", self.name, self.tail(30));
        }
    }

    pub fn tail(&self, lines: usize) -> String {
        tail_of(&self.log, lines)
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns the exit status if the
    /// child stopped by itself within the grace period.
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

pub fn tail_of(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    indent(&all[start..].join("\n"))
}

/// Polls `check` until it returns Ok, at most `timeout`; panics with the
/// last reason otherwise.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        match check() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
