//! Every field of the CloudNativePG Cluster, Database and Pooler specs is
//! classified in its kind's descriptor (`src/model/kinds/<kind>.rs`): a CNPG upgrade that adds a field
//! fails here until someone decides what it hands out. Reads the CRDs from
//! the directory named by `CNPG_CRDS` (CI: ../shared/cnpg-crds; a release's
//! `config/crd/bases`), and skips with one line without it. Its own runner
//! (harness = false), so that line is printed, not captured, and the
//! closing line counts the test as ignored, not passed.

use std::collections::BTreeSet;
use std::path::PathBuf;

use cnpg_guard::model::kinds::KINDS;
use serde_json::Value;

/// The CRD directories: `CNPG_CRDS` holds one, or several separated by
/// `:` (each CloudNativePG release the guard supports).
fn crds() -> Option<Vec<PathBuf>> {
    let value = std::env::var("CNPG_CRDS").ok().filter(|v| !v.is_empty())?;
    Some(
        value
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| {
                let dir = PathBuf::from(d);
                if dir.is_absolute() {
                    dir
                } else {
                    // Relative to where `make` runs: the repository root.
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir)
                }
            })
            .collect(),
    )
}

/// CloudNativePG kinds the guard does not intercept, and why; any other
/// CRD in a `CNPG_CRDS` directory must be a kind of the table.
const NOT_INTERCEPTED: &[(&str, &str)] = &[(
    "failoverquorums",
    "no spec: its status is written by the operator and the primary's instance manager (the cluster's own \
     ServiceAccount), which the guard exempts or cannot tell apart; a write by anyone else is the platform's \
     RBAC to refuse (docs/contract.md)",
)];

/// The `spec` properties of a CRD's served version.
fn spec_schema(dir: &std::path::Path, plural: &str) -> Value {
    let path = dir.join(format!("postgresql.cnpg.io_{plural}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let crd: Value = serde_norway::from_str(&text).unwrap();
    let version = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v1")
        .expect("a v1 version");
    version["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
}

fn names(schema: &Value) -> Vec<String> {
    schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

const NAME: &str = "every_cnpg_spec_field_is_classified";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("{NAME}: test");
        return;
    }
    println!("\nrunning 1 test");
    let Some(dirs) = crds() else {
        println!("test {NAME} ... ignored, CNPG_CRDS is not set");
        println!(
            "field_inventory: skipped: CNPG_CRDS is not set (a directory with the CloudNativePG CRDs, e.g. CNPG_CRDS=../shared/cnpg-crds)"
        );
        println!("\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out\n");
        return;
    };
    match std::panic::catch_unwind(|| every_cnpg_spec_field_is_classified(&dirs)) {
        Ok(()) => {
            println!("test {NAME} ... ok");
            println!("\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n");
        }
        Err(_) => {
            println!("test {NAME} ... FAILED");
            println!("\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n");
            std::process::exit(101);
        }
    }
}

fn every_cnpg_spec_field_is_classified(dirs: &[PathBuf]) {
    let mut in_crds = BTreeSet::new();
    let mut unclassified = BTreeSet::new();
    for dir in dirs {
        // Every CRD of the directory is a kind of the table, or listed as
        // not intercepted, with the reason.
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|f| {
                f.strip_prefix("postgresql.cnpg.io_")?
                    .strip_suffix(".yaml")
                    .map(str::to_owned)
            })
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no CloudNativePG CRD", dir.display());
        for plural in &files {
            let known = KINDS
                .iter()
                .any(|k| k.group == "postgresql.cnpg.io" && k.plural == plural)
                || NOT_INTERCEPTED.iter().any(|(p, _)| p == plural);
            assert!(
                known,
                "{}: CRD {plural} is no kind of the table of kinds (src/model/kinds/) and not listed as not \
                 intercepted (tests/field_inventory.rs)",
                dir.display()
            );
        }
        // Every CloudNativePG kind of the table of covered kinds; an
        // optional one only where this release has it.
        for d in KINDS.iter().filter(|k| k.group == "postgresql.cnpg.io") {
            if !files.iter().any(|f| f == d.plural) {
                assert!(
                    d.optional,
                    "{}: no CRD for {}, which is not optional",
                    dir.display(),
                    d.name
                );
                continue;
            }
            let spec = spec_schema(dir, d.plural);
            let mut paths = names(&spec);
            for parent in d.nested {
                let children = names(&spec["properties"][*parent]);
                assert!(
                    !children.is_empty(),
                    "{} spec.{parent} has no properties in the CRD",
                    d.name
                );
                paths.extend(children.into_iter().map(|c| format!("{parent}.{c}")));
            }
            for path in paths {
                if d.class_of(&path).is_none() {
                    unclassified.insert(format!("{} spec.{path}", d.name));
                }
                in_crds.insert((d.name, path));
            }
        }
    }
    assert!(
        unclassified.is_empty(),
        "fields the inventory does not classify (add them to the kind's descriptor in src/model/kinds/ as \
         harmless, checked or platform-only):\n  {}",
        unclassified.into_iter().collect::<Vec<_>>().join("\n  ")
    );
    // A field no CRD directory has is no longer CloudNativePG's.
    let stale: Vec<String> = KINDS
        .iter()
        .filter(|d| d.group == "postgresql.cnpg.io" && in_crds.iter().any(|(k, _)| *k == d.name))
        .flat_map(|d| d.fields.iter().map(move |(p, _)| (d.name, *p)))
        .filter(|(k, p)| !in_crds.contains(&(*k, (*p).to_owned())))
        .map(|(k, p)| format!("{k} spec.{p}"))
        .collect();
    // With one release's CRDs, a newer release's field is not stale: it is
    // a failure only when every supported release is given.
    if dirs.len() > 1 {
        assert!(
            stale.is_empty(),
            "the inventory lists fields no CRD has:\n  {}",
            stale.join("\n  ")
        );
    } else if !stale.is_empty() {
        println!(
            "field_inventory: note: fields this CRD set lacks (a newer release's, or a typo; give every release's \
             CRDs in CNPG_CRDS, separated by ':', to tell):\n  {}",
            stale.join("\n  ")
        );
    }
    println!(
        "field_inventory: {} fields classified over {} CRD director{}",
        in_crds.len(),
        dirs.len(),
        if dirs.len() == 1 { "y" } else { "ies" }
    );
}
