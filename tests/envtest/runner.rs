//! What the harness-less suites (envtest, pgtest) share with libtest: the
//! name filters they take and how a test's panic reads.

/// A panic's message, whatever its payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(panic without a message)".into()
    }
}

/// Name filters, as libtest takes them; libtest's own flags (and the value
/// of those that take one) are accepted and ignored.
pub fn name_filters(args: &[String]) -> Vec<&String> {
    let mut filters = Vec::new();
    let mut takes_value = false;
    for a in args {
        if std::mem::take(&mut takes_value) {
            continue;
        }
        if a.starts_with('-') {
            takes_value = !a.contains('=')
                && [
                    "--test-threads",
                    "--skip",
                    "--format",
                    "--color",
                    "--logfile",
                    "-Z",
                    "--shuffle-seed",
                ]
                .contains(&a.as_str());
        } else {
            filters.push(a);
        }
    }
    filters
}
