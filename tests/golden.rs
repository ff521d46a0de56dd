//! Behaviour pinned: the answer and the decision record for every fixture
//! review and every request of the bench mix, with and without facts, equal
//! the outputs recorded in `tests/fixtures/golden/` (recorded before the
//! pipeline was restructured; the record's `time` and `latencyMs` are left
//! out). `GOLDEN_WRITE=1 cargo test --test golden` records them anew: do
//! that only for an intended change of behaviour, and review the diff.

mod support;

use std::time::Instant;

use cnpg_guard::admission::{Outcome, answer};
use cnpg_guard::contract::Contract;
use cnpg_guard::facts::{Facts, NoFacts, OfflineFacts};
use serde_json::{Value, json};
use support::root;

/// Every request: the fixtures as they are, and the bench mix.
fn requests() -> Vec<(String, Vec<u8>)> {
    let dir = root().join("tests/fixtures/reviews");
    let mut all: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    for (name, body, _) in support::bench::mix() {
        all.push((format!("mix-{}", name.replace([' ', ':'], "-")), body));
    }
    all.sort();
    all
}

/// What the guard answers, without the record's clock readings.
fn outputs(body: &[u8], contract: &Contract, facts: &dyn Facts) -> Value {
    let a = answer(body, contract, facts, Instant::now());
    let record = match &a.outcome {
        Outcome::Reviewed(verdict) => {
            let mut r: Value = serde_json::from_slice(&verdict.record).unwrap();
            let r_obj = r.as_object_mut().unwrap();
            r_obj.remove("time");
            r_obj.remove("latencyMs");
            r
        }
        _ => Value::Null,
    };
    json!({
        "status": a.status,
        "body": serde_json::from_slice::<Value>(&a.body).unwrap(),
        "record": record,
    })
}

#[test]
fn answers_and_records_equal_the_recorded_ones() {
    let contract = Contract::embedded().unwrap();
    let (facts, _) = OfflineFacts::from_manifests(&root().join("deploy/examples/good"), &contract).unwrap();
    let dir = root().join("tests/fixtures/golden");
    let write = std::env::var_os("GOLDEN_WRITE").is_some();
    let mut compared = 0;
    for (name, body) in requests() {
        let got = json!({
            "offline": outputs(&body, &contract, &NoFacts),
            "withFacts": outputs(&body, &contract, &facts),
        });
        assert!(
            !got.to_string().contains("CANARY-pw-4e8a1b"),
            "{name}: a Secret value reached an answer or record"
        );
        let path = dir.join(format!("{name}.json"));
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
                .unwrap();
        assert_eq!(got, want, "{name}: the answer or record changed");
        compared += 1;
    }
    assert!(write || compared >= 29, "only {compared} requests compared");
}
