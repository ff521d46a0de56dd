//! How mirroring controllers (Reflector, kubernetes-replicator, kubed) are
//! told to copy a Secret: the annotations on the source that let it be
//! copied out, and the namespaces they name. Shared by the rule families
//! that keep credentials where they belong.

use std::collections::BTreeMap;

/// Annotations that let a mirroring controller copy a Secret out of its
/// namespace.
pub(crate) const MIRROR_OUT: &[&str] = &[
    "reflector.v1.k8s.emberstack.com/reflection-allowed",
    "reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces",
    "reflector.v1.k8s.emberstack.com/reflection-auto-enabled",
    "reflector.v1.k8s.emberstack.com/reflection-auto-namespaces",
    "replicator.v1.mittwald.de/replication-allowed",
    "replicator.v1.mittwald.de/replication-allowed-namespaces",
    "replicator.v1.mittwald.de/replicate-to",
    "replicator.v1.mittwald.de/replicate-to-matching",
    "kubed.appscode.com/sync",
];

/// Where a mirror-out annotation lets a Secret go.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Targets<'a> {
    /// Only these namespaces, named exactly.
    Only(Vec<&'a str>),
    /// Namespaces that cannot be listed: every namespace, a pattern or a
    /// label selector.
    Open,
}

/// The mirror-out annotations on a Secret that are switched on, with where
/// each lets it go. A switch (`reflection-allowed: "true"`) without its
/// namespace list opens the Secret to every namespace.
pub(crate) fn mirror_out(annotations: Option<&BTreeMap<String, String>>) -> Vec<(&str, Targets<'_>)> {
    let Some(annotations) = annotations else {
        return Vec::new();
    };
    let on = |key: &str| {
        annotations
            .get(key)
            .is_some_and(|v| !v.trim().eq_ignore_ascii_case("false"))
    };
    let mut out = Vec::new();
    for (key, value) in annotations {
        let key = key.as_str();
        if !MIRROR_OUT.contains(&key) || !on(key) {
            continue;
        }
        let reach = match key.rsplit_once('/').map_or(key, |(_, k)| k) {
            "reflection-allowed-namespaces"
            | "reflection-auto-namespaces"
            | "replication-allowed-namespaces"
            | "replicate-to" => {
                let names: Vec<&str> = value.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
                // Both controllers take regular expressions here.
                if names.iter().all(|n| crate::names::is_dns_label(n)) {
                    Targets::Only(names)
                } else {
                    Targets::Open
                }
            }
            "reflection-allowed" if annotations.contains_key(&sibling(key, "reflection-allowed-namespaces")) => {
                continue;
            }
            "reflection-auto-enabled" if annotations.contains_key(&sibling(key, "reflection-auto-namespaces")) => {
                continue;
            }
            "replication-allowed" if annotations.contains_key(&sibling(key, "replication-allowed-namespaces")) => {
                continue;
            }
            _ => Targets::Open,
        };
        out.push((key, reach));
    }
    out
}

fn sibling(key: &str, name: &str) -> String {
    match key.rsplit_once('/') {
        Some((prefix, _)) => [prefix, "/", name].concat(),
        None => name.to_owned(),
    }
}

/// `namespace/name` in an annotation value: what a mirror-in annotation
/// (`reflector.../reflects`, `replicator.../replicate-from`) names.
pub(crate) fn source_of(value: &str) -> Option<(&str, &str)> {
    value.trim().split_once('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(pairs: &[(&str, &str)]) -> Vec<(String, Targets<'static>)> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let map: &'static BTreeMap<String, String> = Box::leak(Box::new(map));
        mirror_out(Some(map))
            .into_iter()
            .map(|(k, r)| (k.to_owned(), r))
            .collect()
    }

    #[test]
    fn a_switch_without_its_list_opens_every_namespace() {
        let r = reach(&[("reflector.v1.k8s.emberstack.com/reflection-allowed", "true")]);
        assert_eq!(r[0].1, Targets::Open);
        let r = reach(&[
            ("reflector.v1.k8s.emberstack.com/reflection-allowed", "true"),
            (
                "reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces",
                "shop, vergabe",
            ),
        ]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].1, Targets::Only(vec!["shop", "vergabe"]));
        assert_eq!(
            reach(&[("replicator.v1.mittwald.de/replicate-to", "shop-.*")])[0].1,
            Targets::Open
        );
        assert!(reach(&[("replicator.v1.mittwald.de/replication-allowed", "false")]).is_empty());
    }
}
