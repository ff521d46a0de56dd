//! Writing the steps into `--out DIR`: everything is checked before the
//! first byte is written, files go through a temporary name and a rename,
//! and files holding a generated password get mode 0600.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::OnboardError;
use super::manifests::Step;

/// What happened to each file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Written,
    Unchanged,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OnboardError + '_ {
    move |source| OnboardError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes every step into `dir`. An existing file with the same content is
/// left alone (re-running is idempotent); one with other content is refused
/// unless `force`, before anything is written.
pub(crate) fn write_steps(dir: &Path, steps: &[Step], force: bool) -> Result<Vec<Outcome>, OnboardError> {
    let mut plan = Vec::with_capacity(steps.len());
    for step in steps {
        let path = dir.join(step.file);
        let text = step.file_text();
        let outcome = match std::fs::read(&path) {
            Ok(existing) if existing == text.as_bytes() && !step.secret => Outcome::Unchanged,
            Ok(_) if !force => {
                return Err(OnboardError::WouldOverwrite {
                    path: path.display().to_string(),
                });
            }
            Ok(_) => Outcome::Written,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::Written,
            Err(e) => return Err(io(&path)(e)),
        };
        plan.push((path, text, step.secret, outcome));
    }

    let private_dir = steps.iter().any(|s| s.secret);
    create_dir(dir, private_dir).map_err(io(dir))?;

    // Temporary files first; renamed into place only when all are written.
    let mut temps: Vec<(PathBuf, &Path)> = Vec::new();
    for (path, text, secret, outcome) in &plan {
        if *outcome == Outcome::Unchanged {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        if let Err(e) = write_new(&temp, text, *secret) {
            let _ = std::fs::remove_file(&temp);
            for (t, _) in &temps {
                let _ = std::fs::remove_file(t);
            }
            return Err(io(&temp)(e));
        }
        temps.push((temp, path));
    }
    for (i, (temp, path)) in temps.iter().enumerate() {
        if let Err(e) = std::fs::rename(temp, path) {
            for (t, _) in &temps[i..] {
                let _ = std::fs::remove_file(t);
            }
            return Err(io(path)(e));
        }
    }
    Ok(plan.into_iter().map(|(_, _, _, o)| o).collect())
}

fn create_dir(dir: &Path, private: bool) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    #[cfg(not(unix))]
    let _ = private;
    builder.create(dir)
}

/// Creates `path` (which must not exist) with mode 0600 when `private`.
fn write_new(path: &Path, text: &str, private: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// What `onboard --out` prints: the files in order, never their secrets.
pub(crate) fn summary(dir: &Path, steps: &[Step], outcomes: &[Outcome], generated: bool) -> String {
    let mut out = format!(
        "wrote the onboarding steps into {}, apply them in this order:\n",
        dir.display()
    );
    for (step, outcome) in steps.iter().zip(outcomes) {
        let mark = match (outcome, step.secret) {
            (Outcome::Unchanged, _) => " (unchanged)",
            (Outcome::Written, true) => " (mode 0600)",
            (Outcome::Written, false) => "",
        };
        let _ = writeln!(out, "  {:<26} step {}: {}{mark}", step.file, step.label(), step.title);
    }
    if generated {
        let _ = writeln!(
            out,
            "The role's password was generated into 03-role-secret.yaml and 06-runtime-secret.yaml (mode 0600); \
             encrypt both with SOPS before committing."
        );
    }
    out
}
