//! The command line: argument structs and dispatch. Each subcommand is a
//! thin door into the library; exit codes are documented in docs/operations.md.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::check::{self, Format};
use crate::contract;
use crate::logging::{LogFormat, init_logging};

#[derive(Debug, Parser)]
#[command(
    name = "cnpg-guard",
    version,
    about = "Enforces the shared CloudNativePG cluster contract"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the TLS validating admission webhook.
    Serve(Box<crate::server::ServeArgs>),
    /// Check manifests (files, directories, or - for stdin) against the contract.
    Check(CheckArgs),
    /// Check the objects already in a live cluster against the contract.
    Audit(AuditArgs),
    /// Write a CA, a serving certificate and key for the webhook Service, and its caBundle.
    Certs(CertsArgs),
    /// Generate a new consumer's onboarding (registry entry, role, Secrets, Database, label, DSN), already on contract.
    Onboard(Box<crate::onboard::OnboardArgs>),
    /// Print the steps that remove a consumer, in a safe order, with data-loss warnings.
    Offboard(Box<crate::onboard::OffboardArgs>),
    /// Work with contract files.
    #[command(subcommand)]
    Contract(ContractCommand),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Contract file (default: the one built into the binary, with a warning:
    /// pass your repository's, e.g. deploy/base/contract.yaml).
    #[arg(long, env = "CNPG_GUARD_CONTRACT")]
    pub contract: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: Format,
    /// Namespace assumed for namespaced objects that name none.
    #[arg(long, default_value = "default")]
    pub default_namespace: String,
    /// Exit 0 when the input holds no Kubernetes object (by default that is
    /// exit 2: an empty input is more often a failed command in a pipe).
    #[arg(long)]
    pub allow_empty: bool,
    /// List every skipped check (by default one line per reason, with a count).
    #[arg(long, short)]
    pub verbose: bool,
    /// List every skipped document (not a Kubernetes object, or a kind the
    /// contract does not cover), one line each (JSON lists them always).
    #[arg(long)]
    pub list_skipped: bool,
    /// Judge the manifests as this user's writes (kubectl's flag): the
    /// identity a tenant repository's GitOps applies them as, e.g.
    /// system:serviceaccount:shop-frontend:flux. Without it, as the platform's.
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// A group of the --as user (kubectl's flag); repeatable.
    #[arg(long = "as-group", value_name = "GROUP", requires = "as_user")]
    pub as_groups: Vec<String>,
    /// YAML/JSON files, directories (recursive), or - for stdin.
    #[arg(required = true)]
    pub paths: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Directory to write into (created if missing; must not be a file).
    #[arg(long)]
    pub out: PathBuf,
    /// The webhook Service's name (a DNS label).
    #[arg(long, default_value = "cnpg-guard", value_parser = crate::server::dns_label)]
    pub service: String,
    /// The webhook Service's namespace (a DNS label).
    #[arg(long, default_value = "cnpg-guard", value_parser = crate::server::dns_label)]
    pub namespace: String,
    /// An extra IP address SAN, for a webhook registered by URL (e.g.
    /// https://127.0.0.1:8443); repeatable.
    #[arg(long = "ip", value_name = "IP")]
    pub ips: Vec<std::net::IpAddr>,
    /// An extra DNS name SAN (e.g. a host name a webhook URL names); repeatable.
    #[arg(long = "dns", value_name = "NAME")]
    pub dns_names: Vec<String>,
    /// Validity in days.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Contract file (default: the one built into the binary, with a warning:
    /// pass your repository's, e.g. deploy/base/contract.yaml).
    #[arg(long, env = "CNPG_GUARD_CONTRACT")]
    pub contract: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: crate::audit::AuditFormat,
}

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Validate a contract file; errors name file, line and field.
    Validate { file: PathBuf },
    /// Print the embedded default contract.
    Show,
}

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Serve(args) => run_serve(*args),
        Command::Check(args) => {
            announce_contract("check", args.contract.as_deref());
            run_check(args)
        }
        Command::Audit(args) => {
            announce_contract("audit", args.contract.as_deref());
            run_audit(args)
        }
        Command::Onboard(args) => {
            announce_contract("onboard", args.contract.as_deref());
            crate::onboard::run_onboard(*args)
        }
        Command::Offboard(args) => {
            announce_contract("offboard", args.contract.as_deref());
            crate::onboard::run_offboard(*args)
        }
        Command::Certs(args) => match write_certs(&args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        },
        Command::Contract(ContractCommand::Validate { file }) => match contract::load_file(&file) {
            Ok(c) => {
                for w in &c.warnings {
                    eprintln!("warning: {w}");
                }
                println!(
                    "{}: valid (revision {}, {} shared cluster(s), {} consumer(s))",
                    file.display(),
                    c.revision,
                    c.clusters.len(),
                    c.clusters.iter().map(|c| c.consumers.len()).sum::<usize>()
                );
                0
            }
            Err(e) => {
                print_error(&e.to_string());
                2
            }
        },
        Command::Contract(ContractCommand::Show) => {
            print!("{}", contract::EMBEDDED_CONTRACT);
            0
        }
    }
}

/// One line on stderr naming the contract a command judges against, and a
/// warning when it is the one built into the binary: once a consumer has been
/// registered in the repository's contract, the built-in one is older, and a
/// new consumer's change would be judged "not a registered consumer".
fn announce_contract(command: &str, path: Option<&std::path::Path>) {
    match path {
        Some(p) => eprintln!(
            "{command}: contract {} ({})",
            p.display(),
            crate::server::contract_source(Some(p))
        ),
        None => {
            let revision = contract::Contract::embedded()
                .map(|c| c.revision)
                .unwrap_or_else(|_| "?".to_owned());
            eprintln!(
                "warning: {command}: judging against the contract built into this binary (revision {revision}); \
                 consumers registered since it was built are unknown to it: pass --contract \
                 deploy/base/contract.yaml (or set CNPG_GUARD_CONTRACT)"
            );
        }
    }
}

/// `error: ` before each line of an error (a contract's errors come all at once).
fn print_error(e: &str) {
    for line in e.lines() {
        eprintln!("error: {line}");
    }
}

fn run_check(args: CheckArgs) -> i32 {
    let report = match contract::load(args.contract.as_deref()) {
        Ok(contract) => {
            let inputs = crate::manifests::read_all(&args.paths);
            let requester = crate::model::User {
                username: args.as_user.clone().unwrap_or_default(),
                groups: args.as_groups.clone(),
            };
            let report = check::check(inputs, &contract, &args.default_namespace, args.allow_empty, &requester);
            eprintln!("check: judged as {}", report.judged_as);
            report
        }
        Err(e) => check::Report::failed(format!(
            "{}: {e}",
            crate::server::contract_source(args.contract.as_deref())
        )),
    };
    print!(
        "{}",
        check::render_listing(&report, args.output, args.verbose, args.list_skipped)
    );
    if let Some(e) = &report.error {
        print_error(e);
    }
    if args.output != Format::Text {
        for u in &report.unreadable {
            eprintln!("error: {u}");
        }
    }
    report.exit_code()
}

fn run_serve(args: crate::server::ServeArgs) -> i32 {
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return 1;
        }
    };
    match runtime.block_on(crate::server::run(args)) {
        Ok(()) => 0,
        // One line, in the chosen log format (the log goes to stderr).
        Err(e) => {
            tracing::error!(error = %e, "serve failed");
            1
        }
    }
}

fn run_audit(args: AuditArgs) -> i32 {
    // The audit's own error line says what failed; kube's client would log
    // the same failure once more.
    crate::logging::init_logging_with(LogFormat::Text, "warn,kube_client=off");
    // Every exit prints its report in the chosen format: JSON is always one
    // object (as check's), also when nothing could be read.
    let failed = |message: String| {
        if args.output == crate::audit::AuditFormat::Json {
            print!(
                "{}",
                check::render(&check::Report::failed(message.clone()), Format::Json, false)
            );
        }
        print_error(&message);
        2
    };
    let contract = match contract::load(args.contract.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            return failed(format!(
                "{}: {e}",
                crate::server::contract_source(args.contract.as_deref())
            ));
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return failed(format!("cannot start the runtime: {e}")),
    };
    let inventory = runtime.block_on(async {
        use crate::audit::AuditError;
        let config = crate::kube_client::config(args.kubeconfig.as_deref(), true)
            .await
            .map_err(|e| AuditError::Connect(e.to_string()))?
            .ok_or_else(|| AuditError::Connect("no kubeconfig: set KUBECONFIG or pass --kubeconfig".into()))?;
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| AuditError::Connect(format!("{server}: {e}")))?;
        crate::audit::inventory(&client, &contract, true)
            .await
            .map_err(|e| AuditError::Connect(format!("the API server at {server}: {e}")))
    });
    let inventory = match inventory {
        Ok(i) => i,
        Err(e) => return failed(e.to_string()),
    };
    let (report, notes) = crate::audit::judge(inventory, &contract);
    print!("{}", crate::audit::render(&report, &notes, args.output));
    if args.output != crate::audit::AuditFormat::Text {
        for n in &notes {
            eprintln!("note: {n}");
        }
    }
    report.exit_code()
}

/// `cnpg-guard certs`: key material for the self-signed overlay. The CA's
/// private key is never written, so nothing more can be signed with it.
fn write_certs(args: &CertsArgs) -> Result<(), std::io::Error> {
    use crate::server::tls;
    use base64::Engine;
    if args.out.exists() && !args.out.is_dir() {
        return Err(std::io::Error::other(format!(
            "--out {}: must be a directory (ca.crt, tls.crt, tls.key, ... are written into it), not a file",
            args.out.display()
        )));
    }
    let mut names = tls::service_names(&args.service, &args.namespace);
    names.extend(args.dns_names.iter().cloned());
    names.extend(args.ips.iter().map(ToString::to_string));
    let issued = tls::issue(&names, args.days).map_err(std::io::Error::other)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| std::io::Error::other(format!("--out {}: {e}", args.out.display())))?;
    let bundle = base64::engine::general_purpose::STANDARD.encode(issued.ca_pem.as_bytes());
    let ca = args.out.join("ca.crt");
    let mut patch = format!(
        "# Sets the webhooks' caBundle to {} (made by cnpg-guard certs).\n\
         apiVersion: admissionregistration.k8s.io/v1\n\
         kind: ValidatingWebhookConfiguration\n\
         metadata:\n  name: cnpg-guard\n\
         webhooks:\n",
        ca.display()
    );
    for webhook in ["cnpg-guard.railiance.io", "services.cnpg-guard.railiance.io"] {
        patch.push_str(&format!(
            "  - name: {webhook}\n    clientConfig:\n      caBundle: {bundle}\n"
        ));
    }
    let out = &args.out;
    tls::write_file(&out.join("ca.crt"), &issued.ca_pem, false)?;
    tls::write_file(&out.join("tls.crt"), &issued.cert_pem, false)?;
    tls::write_file(&out.join("tls.key"), &issued.key_pem, true)?;
    tls::write_file(&out.join("ca-bundle.b64"), &format!("{bundle}\n"), false)?;
    tls::write_file(&out.join("webhook-cabundle-patch.yaml"), &patch, false)?;
    println!(
        "wrote {dir}/ca.crt, tls.crt, tls.key (0600), ca-bundle.b64, webhook-cabundle-patch.yaml for {} ({} days)",
        names.join(", "),
        args.days,
        dir = out.display()
    );
    Ok(())
}
