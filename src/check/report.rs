//! Printing a check report: text for people, JSON for tools, GitHub
//! workflow commands for pull-request annotations.

use std::fmt::Write;

use serde::Serialize;

use super::Report;
use crate::decision::Disposition;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Github,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonItem<'a> {
    file: &'a str,
    api_version: &'static str,
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    rule: &'static str,
    mode: &'static str,
    disposition: &'static str,
    field: &'a str,
    message: String,
}

fn tag(d: Disposition) -> &'static str {
    match d {
        Disposition::Denied => "DENY",
        Disposition::Audited => "AUDIT",
        _ => "WARN",
    }
}

/// Renders `report`; text and github end with a summary line.
pub fn render(report: &Report, format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Json => {
            let items: Vec<JsonItem<'_>> = report
                .checked
                .iter()
                .flat_map(|c| {
                    c.decision.findings.iter().map(move |f| JsonItem {
                        file: &c.file,
                        api_version: c.kind.api_version(),
                        kind: c.kind.as_str(),
                        namespace: &c.namespace,
                        name: &c.name,
                        rule: f.violation.rule.as_str(),
                        mode: f.mode.as_str(),
                        disposition: f.disposition.as_str(),
                        field: &f.violation.field,
                        message: f.violation.line(),
                    })
                })
                .collect();
            // Serializing plain strings cannot fail.
            out = serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into());
            out.push('\n');
        }
        Format::Text => {
            for e in &report.errors {
                let _ = writeln!(out, "ERROR {e}");
            }
            for c in &report.checked {
                for f in &c.decision.findings {
                    let _ = writeln!(out, "{} {}: {}", tag(f.disposition), c.file, f.violation.line());
                }
                for s in &c.decision.skipped {
                    let _ = writeln!(out, "SKIP {}: {}", c.file, s.line());
                }
            }
            let _ = writeln!(out, "{}", summary(report));
        }
        Format::Github => {
            for e in &report.errors {
                let _ = writeln!(out, "::error title=cnpg-guard::{}", escape(e));
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
                        "::{level} file={},title=cnpg-guard {}::{}",
                        escape_property(&c.file),
                        f.violation.rule,
                        escape(&f.violation.line())
                    );
                }
            }
            let _ = writeln!(out, "{}", summary(report));
        }
    }
    out
}

fn summary(report: &Report) -> String {
    let skipped_checks: usize = report.checked.iter().map(|c| c.decision.skipped.len()).sum();
    let mut s = format!(
        "{} objects, {} denied, {} warned, {} skipped",
        report.checked.len(),
        report.denied(),
        report.warned(),
        report.skipped_documents
    );
    if skipped_checks > 0 {
        let _ = write!(s, " ({skipped_checks} checks skipped: facts not in the checked files)");
    }
    if !report.errors.is_empty() {
        let _ = write!(s, ", {} unreadable", report.errors.len());
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape(s).replace(':', "%3A").replace(',', "%2C")
}
