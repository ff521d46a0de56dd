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

fn crds() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("CNPG_CRDS").filter(|v| !v.is_empty())?);
    Some(if dir.is_absolute() {
        dir
    } else {
        // Relative to where `make` runs: the repository root.
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir)
    })
}

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
    let Some(dir) = crds() else {
        println!("test {NAME} ... ignored, CNPG_CRDS is not set");
        println!(
            "field_inventory: skipped: CNPG_CRDS is not set (a directory with the CloudNativePG CRDs, e.g. CNPG_CRDS=../shared/cnpg-crds)"
        );
        println!("\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out\n");
        return;
    };
    match std::panic::catch_unwind(|| every_cnpg_spec_field_is_classified(&dir)) {
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

fn every_cnpg_spec_field_is_classified(dir: &std::path::Path) {
    let mut in_crds = BTreeSet::new();
    let mut unclassified = Vec::new();
    // Every CloudNativePG kind of the table of covered kinds.
    for d in KINDS.iter().filter(|k| k.group == "postgresql.cnpg.io") {
        let kind = d.kind;
        let spec = spec_schema(dir, d.plural);
        let mut paths = names(&spec);
        for parent in d.nested {
            let children = names(&spec["properties"][*parent]);
            assert!(
                !children.is_empty(),
                "{kind} spec.{parent} has no properties in the CRD"
            );
            paths.extend(children.into_iter().map(|c| format!("{parent}.{c}")));
        }
        for path in paths {
            if d.class_of(&path).is_none() {
                unclassified.push(format!("{kind} spec.{path}"));
            }
            in_crds.insert((kind.as_str(), path));
        }
    }
    assert!(
        unclassified.is_empty(),
        "fields the inventory does not classify (add them to the kind's descriptor in src/model/kinds/ as harmless, checked or \
         platform-only):\n  {}",
        unclassified.join("\n  ")
    );
    let stale: Vec<String> = KINDS
        .iter()
        .flat_map(|d| d.fields.iter().map(move |(p, _)| (d.name, *p)))
        .filter(|(k, p)| !in_crds.contains(&(*k, (*p).to_owned())))
        .map(|(k, p)| format!("{k} spec.{p}"))
        .collect();
    assert!(
        stale.is_empty(),
        "the inventory lists fields the CRDs do not have:\n  {}",
        stale.join("\n  ")
    );
    println!("field_inventory: {} fields classified", in_crds.len());
}
