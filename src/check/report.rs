//! Printing a check report: text for people, JSON for tools, GitHub
//! workflow commands for pull-request annotations.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::{Checked, Report};
use crate::decision::{Disposition, Finding};
use crate::rules::Skipped;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Github,
}

/// `--output json`: always one object, also when the check could not run.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    findings: Vec<Located<'a, &'a Finding>>,
    skipped: Vec<JsonSkipped<'a>>,
    skipped_documents: Vec<JsonSkippedDocument<'a>>,
    unreadable: Vec<JsonUnreadable<'a>>,
    summary: JsonSummary<'a>,
}

/// A finding with the object it was found in.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Located<'a, T> {
    file: &'a str,
    line: Option<usize>,
    api_version: &'static str,
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    #[serde(flatten)]
    finding: T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSkipped<'a> {
    file: &'a str,
    line: Option<usize>,
    api_version: &'static str,
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    rule: &'static str,
    check: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSkippedDocument<'a> {
    file: &'a str,
    line: Option<usize>,
    api_version: &'a str,
    kind: &'a str,
    name: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct JsonUnreadable<'a> {
    file: &'a str,
    line: Option<usize>,
    message: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSummary<'a> {
    objects: usize,
    denied: usize,
    warned: usize,
    skipped_documents: usize,
    skipped_checks: usize,
    unreadable: usize,
    error: Option<&'a str>,
    exit_code: i32,
    judged_as: &'a str,
}

fn tag(d: Disposition) -> &'static str {
    match d {
        Disposition::Denied => "DENY",
        Disposition::Audited => "AUDIT",
        _ => "WARN",
    }
}

/// `file:line`, or `file` where the line is not known.
fn at(file: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    }
}

/// Skipped checks grouped by rule, check and reason, in a stable order,
/// each with the objects it was skipped for.
type Groups<'a> = BTreeMap<(&'static str, &'a str, &'a str), Vec<(&'a Checked, &'a Skipped)>>;

fn grouped(report: &Report) -> Groups<'_> {
    let mut groups: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for c in &report.checked {
        for s in &c.decision.skipped {
            groups
                .entry((s.rule.as_str(), s.check.as_str(), s.reason.as_str()))
                .or_default()
                .push((c, s));
        }
    }
    groups
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Renders `report`; text and github end with a summary line. With
/// `verbose`, every skipped check is listed, not one line per reason.
pub fn render(report: &Report, format: Format, verbose: bool) -> String {
    render_listing(report, format, verbose, false)
}

/// [`render`], and with `list_skipped` one line per skipped document (text,
/// github; JSON always lists them in `skippedDocuments`).
pub fn render_listing(report: &Report, format: Format, verbose: bool, list_skipped: bool) -> String {
    let mut out = String::new();
    match format {
        Format::Json => {
            let findings = report
                .checked
                .iter()
                .flat_map(|c| {
                    c.decision.findings.iter().map(move |f| Located {
                        file: &c.file,
                        line: c.line,
                        api_version: c.kind.api_version(),
                        kind: c.kind.as_str(),
                        namespace: &c.namespace,
                        name: &c.name,
                        finding: f,
                    })
                })
                .collect();
            let skipped = report
                .checked
                .iter()
                .flat_map(|c| {
                    c.decision.skipped.iter().map(move |s| JsonSkipped {
                        file: &c.file,
                        line: c.line,
                        api_version: c.kind.api_version(),
                        kind: c.kind.as_str(),
                        namespace: &c.namespace,
                        name: &c.name,
                        rule: s.rule.as_str(),
                        check: &s.check,
                        reason: &s.reason,
                    })
                })
                .collect();
            let unreadable = report
                .unreadable
                .iter()
                .map(|u| JsonUnreadable {
                    file: &u.file,
                    line: u.line,
                    message: &u.message,
                })
                .collect();
            let skipped_documents = report
                .skipped_documents
                .iter()
                .map(|d| JsonSkippedDocument {
                    file: &d.file,
                    line: d.line,
                    api_version: &d.api_version,
                    kind: &d.kind,
                    name: &d.name,
                    reason: d.reason,
                })
                .collect();
            let json = JsonReport {
                findings,
                skipped,
                skipped_documents,
                unreadable,
                summary: JsonSummary {
                    objects: report.checked.len(),
                    denied: report.denied(),
                    warned: report.warned(),
                    skipped_documents: report.skipped_documents.len(),
                    skipped_checks: report.skipped_checks(),
                    unreadable: report.unreadable.len(),
                    error: report.error.as_deref(),
                    exit_code: report.exit_code(),
                    judged_as: &report.judged_as,
                },
            };
            // Serializing strings and numbers cannot fail; should it, the
            // output is still one JSON object.
            out = serde_json::to_string_pretty(&json).unwrap_or_else(|e| {
                serde_json::json!({"findings": [], "skipped": [], "skippedDocuments": [], "unreadable": [], "summary": {"error": e.to_string(), "exitCode": 2}}).to_string()
            });
            out.push('\n');
        }
        Format::Text => {
            for u in &report.unreadable {
                let _ = writeln!(out, "ERROR {u}");
            }
            for c in &report.checked {
                for f in &c.decision.findings {
                    let _ = writeln!(
                        out,
                        "{} {}: {}",
                        tag(f.disposition),
                        at(&c.file, c.line),
                        f.violation.line()
                    );
                }
                if verbose {
                    for s in &c.decision.skipped {
                        let _ = writeln!(out, "SKIP {}: {}", at(&c.file, c.line), s.line());
                    }
                }
            }
            if !verbose {
                for ((rule, check, reason), items) in grouped(report) {
                    let (first, _) = items[0];
                    let _ = writeln!(
                        out,
                        "SKIP [{rule}] {check} ({reason}): {}, e.g. {} {} {} (--verbose lists them)",
                        count(items.len(), "object", "objects"),
                        at(&first.file, first.line),
                        first.kind,
                        crate::model::display_name(&first.namespace, &first.name)
                    );
                }
            }
            if list_skipped {
                for d in &report.skipped_documents {
                    let _ = writeln!(out, "SKIPPED {}: {}", at(&d.file, d.line), skipped_document(d));
                }
            }
            let _ = writeln!(out, "{}", summary(report));
        }
        Format::Github => {
            for u in &report.unreadable {
                let _ = writeln!(
                    out,
                    "::error {}title=cnpg-guard::{}",
                    location(&u.file, u.line),
                    escape(&format!("{}{}", stdin_prefix(&u.file, u.line), u.message))
                );
            }
            for c in &report.checked {
                for f in &c.decision.findings {
                    let level = match f.disposition {
                        Disposition::Denied => "error",
                        Disposition::Audited => "notice",
                        _ => "warning",
                    };
                    let _ = writeln!(
                        out,
                        "::{level} {}title=cnpg-guard {}::{}",
                        location(&c.file, c.line),
                        f.violation.rule,
                        escape(&format!("{}{}", stdin_prefix(&c.file, c.line), f.violation.line()))
                    );
                }
                if verbose {
                    for s in &c.decision.skipped {
                        let _ = writeln!(
                            out,
                            "::notice {}title=cnpg-guard skipped {}::{}",
                            location(&c.file, c.line),
                            s.rule,
                            escape(&format!("{}{}", stdin_prefix(&c.file, c.line), s.line()))
                        );
                    }
                }
            }
            if !verbose {
                for ((rule, check, reason), items) in grouped(report) {
                    let _ = writeln!(
                        out,
                        "::notice title=cnpg-guard skipped {rule}::{}",
                        escape(&format!(
                            "[{rule}] {check} ({reason}): skipped for {}",
                            count(items.len(), "object", "objects")
                        ))
                    );
                }
            }
            if list_skipped {
                for d in &report.skipped_documents {
                    let _ = writeln!(
                        out,
                        "::notice {}title=cnpg-guard skipped document::{}",
                        location(&d.file, d.line),
                        escape(&format!("{}{}", stdin_prefix(&d.file, d.line), skipped_document(d)))
                    );
                }
            }
            let _ = writeln!(out, "{}", summary(report));
        }
    }
    out
}

/// What `check -` calls its input: no file of the repository.
const STDIN: &str = "<stdin>";

/// `file=F,line=N,` for a workflow command. Input from stdin (a rendered
/// kustomization, say) has no file in the repository to annotate: its
/// annotations are the job's, with no location, and the message says where
/// in stdin the document starts ([`stdin_prefix`]).
fn location(file: &str, line: Option<usize>) -> String {
    if file == STDIN {
        return String::new();
    }
    let mut s = format!("file={},", escape_property(file));
    if let Some(line) = line {
        let _ = write!(s, "line={line},");
    }
    s
}

/// `<stdin>:N: ` before a message about a document read from stdin.
fn stdin_prefix(file: &str, line: Option<usize>) -> String {
    match (file == STDIN, line) {
        (false, _) => String::new(),
        (true, Some(line)) => format!("{STDIN}:{line}: "),
        (true, None) => format!("{STDIN}: "),
    }
}

/// `apiVersion kind name: reason` of a skipped document.
fn skipped_document(d: &crate::manifests::SkippedDocument) -> String {
    let mut s = String::new();
    for part in [&d.api_version, &d.kind, &d.name] {
        if !part.is_empty() {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(part);
        }
    }
    if s.is_empty() {
        d.reason.to_owned()
    } else {
        format!("{s}: {}", d.reason)
    }
}

fn summary(report: &Report) -> String {
    let skipped_checks = report.skipped_checks();
    let mut s = format!(
        "{} objects, {} denied, {} warned, {} skipped",
        report.checked.len(),
        report.denied(),
        report.warned(),
        report.skipped_documents.len()
    );
    if skipped_checks > 0 {
        let _ = write!(s, " ({skipped_checks} checks skipped: facts not in the checked files)");
    }
    if !report.unreadable.is_empty() {
        let _ = write!(s, ", {} unreadable", report.unreadable.len());
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape(s).replace(':', "%3A").replace(',', "%2C")
}
