//! The real binary run as a command, as CI and an operator run it: in the
//! repository's root, with no contract or kubeconfig from the environment
//! unless a test sets one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{guard_bin, root};

/// `cnpg-guard ARGS` in the repository's root with `envs` set (and
/// `CNPG_GUARD_CONTRACT` and `KUBECONFIG` unset otherwise), `stdin`
/// written and closed; its output collected.
pub fn run(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(guard_bin());
    cmd.args(args)
        .current_dir(root())
        .env_remove("CNPG_GUARD_CONTRACT")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn cnpg-guard");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

/// `cnpg-guard ARGS`, with `stdin` if any.
pub fn guard(args: &[&str], stdin: Option<&str>) -> Output {
    run(args, stdin.unwrap_or(""), &[])
}

/// `cnpg-guard ARGS` with `envs` set, nothing on stdin.
pub fn guard_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    run(args, "", envs)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A kubeconfig in `dir` for an API server at https://127.0.0.1:`port`
/// (a token user): its path.
pub fn kubeconfig(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\nusers: [{{name: u, user: {{token: t}}}}]\n"),
    )
    .unwrap();
    path
}
