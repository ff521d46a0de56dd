//! One copy of what the integration tests, the examples (bench, soak,
//! attack, review_cost) and the criterion bench share. Tests include it
//! with `mod support;`; examples and benches with
//! `#[path = "../tests/support/mod.rs"] mod support;`. Each includer uses
//! part of it, hence the `dead_code` allowance for the whole module.
//!
//! - this file: the repository's paths and fixtures, loopback ports,
//!   YAML documents, copying a tree, waiting for a condition;
//! - [`cli`]: the real binary run as a command (`check`, `audit`, ...);
//! - [`serve`]: the real `cnpg-guard serve` on loopback ports, its admin port;
//! - [`https`]: certificates for it and clients that trust them;
//! - [`h2raw`]: HTTP/2 frames by hand, for clients that misbehave on purpose;
//! - [`bench`]: the bench's request mix, the per-request work without
//!   HTTP, /proc readings of the server process.

#![allow(dead_code)]

pub mod bench;
pub mod cli;
pub mod h2raw;
pub mod https;
pub mod serve;

// The helpers most tests use, at `support::` (unused by some includers).
#[allow(unused_imports)]
pub use https::*;
#[allow(unused_imports)]
pub use serve::*;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

/// A Secret value the tests plant in reviews; it must never come out.
pub const CANARY: &str = "CANARY-pw-4e8a1b";

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `cnpg-guard` binary: the one cargo built for this test or bench;
/// for an example (cargo names no binary for those), the release build
/// (`cargo build --release` first).
pub fn guard_bin() -> PathBuf {
    option_env!("CARGO_BIN_EXE_cnpg-guard")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/release/cnpg-guard"))
}

/// A review of `tests/fixtures/reviews/`, as its text.
pub fn fixture(name: &str) -> String {
    let path = root().join("tests/fixtures/reviews").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A review of `tests/fixtures/reviews/`, as JSON.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"))
}

/// A free port on 127.0.0.1 (bound, read and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address")
        .port()
}

/// Every YAML document of `text`, empty documents left out.
pub fn yaml_docs(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("not YAML: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// Every YAML document of a file, empty documents left out.
pub fn yaml_file(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

/// Copies a directory tree, leaving out the entries `skip` says no to.
pub fn copy_dir_except(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if skip(&entry.path()) {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir_except(&entry.path(), &target, skip);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    copy_dir_except(from, to, &|_| false);
}

/// How often [`eventually`] and [`eventually_async`] look again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `condition` until it holds or `within` has passed; whether it
/// held. For a condition another process makes true (a reload, a log
/// line): `assert!(eventually(..), ..)` keeps the assertion and waits no
/// longer than it must.
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// [`eventually`] in an async test: sleeps without blocking the runtime
/// (which may run what makes the condition true).
pub async fn eventually_async(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// base64 of `text`, wrapped every `width` characters as kustomize and
/// `kubectl create secret -o yaml` write long values.
pub fn wrapped_base64(text: &str, width: usize, eol: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    b64.as_bytes()
        .chunks(width)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(eol)
}
