//! One PostgreSQL server per test: a fresh data directory made by `initdb`
//! as CloudNativePG makes it, a free port on 127.0.0.1, its socket in the
//! test's temp directory, TLS with an rcgen certificate. The postmaster is
//! a child of the suite (killed with it, `setpriv --pdeathsig`), and is shut
//! down when the `Pg` is dropped, also while a test panics.
//!
//! As root (CI), the server binaries run as an unprivileged OS user
//! (`postgres` when the system has one, else `nobody`) through `setpriv`:
//! initdb refuses root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::cnpg;
use crate::proc::{Out, indent, run, scrub_env, tail_of};
use crate::support::free_port;

/// Bound of every psql call (connect_timeout and statement_timeout are
/// shorter, so a timeout here means psql itself hung).
pub const PSQL_TIMEOUT: Duration = Duration::from_secs(20);
/// libpq's connect_timeout and the server's statement_timeout of every session.
const CONNECT_TIMEOUT_S: u32 = 5;
const STATEMENT_TIMEOUT_MS: u32 = 10_000;

/// The OS user that runs the server (CNPG: `postgres` in the instance pod).
#[derive(Clone, Debug)]
pub struct OsUser {
    pub name: String,
    /// uid/gid to switch to (only when the suite runs as root).
    pub switch: Option<(u32, u32)>,
}

fn command_stdout(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl OsUser {
    /// Who runs the server: ourselves, or (as root) `postgres`/`nobody`.
    pub fn detect() -> OsUser {
        let euid = command_stdout("id", &["-u"]).expect("`id -u` must work");
        if euid != "0" {
            let name = command_stdout("id", &["-un"]).unwrap_or_else(|| std::env::var("USER").unwrap_or_default());
            return OsUser { name, switch: None };
        }
        for candidate in ["postgres", "nobody"] {
            let Some(line) = command_stdout("getent", &["passwd", candidate]) else {
                continue;
            };
            let fields: Vec<&str> = line.split(':').collect();
            if let (Some(uid), Some(gid)) = (
                fields.get(2).and_then(|s| s.parse().ok()),
                fields.get(3).and_then(|s| s.parse().ok()),
            ) {
                return OsUser {
                    name: candidate.to_owned(),
                    switch: Some((uid, gid)),
                };
            }
        }
        panic!("running as root, and neither a `postgres` nor a `nobody` user exists to run the server as");
    }

    /// The OS user running the suite itself (root in CI).
    pub fn detect_suite_user() -> String {
        command_stdout("id", &["-un"]).expect("`id -un` must work")
    }

    /// `program args` as this user; with `setpriv --pdeathsig KILL` when
    /// util-linux has it, so nothing outlives the suite.
    pub fn command(&self, program: &Path) -> Command {
        let setpriv = Path::new("/usr/bin/setpriv");
        let mut cmd = match (self.switch, setpriv.exists()) {
            (Some((uid, gid)), true) => {
                let mut c = Command::new(setpriv);
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .args(["--clear-groups", "--pdeathsig", "KILL", "--"])
                    .arg(program);
                c
            }
            (Some(_), false) => {
                panic!("running as root needs /usr/bin/setpriv (util-linux) to run PostgreSQL unprivileged")
            }
            (None, true) => {
                let mut c = Command::new(setpriv);
                c.args(["--pdeathsig", "KILL", "--"]).arg(program);
                c
            }
            (None, false) => Command::new(program),
        };
        // No PG* variable of the caller's environment leaks in.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PG") {
                cmd.env_remove(k);
            }
        }
        cmd.env("LC_ALL", "C").env("HOME", "/tmp");
        scrub_env(&mut cmd);
        cmd
    }

    fn chown(&self, path: &Path) {
        if let Some((uid, gid)) = self.switch {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }
}

/// How a client reaches the server over TCP.
pub struct Login<'a> {
    pub user: &'a str,
    pub database: &'a str,
    /// None: no password at all (`-w`, never prompt).
    pub password: Option<&'a str>,
}

pub struct Pg {
    pub bin: PathBuf,
    pub os: OsUser,
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub sock: PathBuf,
    pub port: u16,
    pub ca: PathBuf,
    postmaster: Option<Child>,
    log: PathBuf,
}

/// Where data directories go: PGTEST_TMPDIR, else /dev/shm when it is a
/// tmpfs with room (copying a data directory there is several times faster
/// than to disk), else the system's temp directory.
fn scratch_root() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        if let Some(dir) = std::env::var_os("PGTEST_TMPDIR").filter(|v| !v.is_empty()) {
            return PathBuf::from(dir);
        }
        let shm = Path::new("/dev/shm");
        let free_kib = command_stdout("df", &["-Pk", "/dev/shm"])
            .and_then(|out| out.lines().nth(1)?.split_whitespace().nth(3)?.parse::<u64>().ok())
            .unwrap_or(0);
        let writable = tempfile::tempdir_in(shm).is_ok();
        if writable && free_kib >= 512 * 1024 {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        }
    })
    .clone()
}

/// A CA and a server certificate for 127.0.0.1/localhost (PEM: ca, cert, key).
fn tls_material() -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "pgtest CA");
    ca_params.distinguished_name = dn;
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("server params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "apps-pg-rw");
    params.distinguished_name = dn;
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

fn write(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

impl Pg {
    /// initdb, configuration, start, CNPG's bootstrap of the instance with
    /// `bootstrap_owner` owning `bootstrap_db`.
    pub fn start(bin: &Path, os: &OsUser, bootstrap_owner: &str, bootstrap_db: &str) -> Pg {
        let mut pg = Pg::init(bin, os);
        pg.spawn_postmaster();
        cnpg::bootstrap_instance(&pg, bootstrap_owner, bootstrap_db);
        pg
    }

    /// A stopped server to copy: `start`, then a clean (fast) shutdown.
    pub fn template(bin: &Path, os: &OsUser, bootstrap_owner: &str, bootstrap_db: &str) -> Pg {
        let mut pg = Pg::start(bin, os, bootstrap_owner, bootstrap_db);
        pg.stop_with("-INT");
        pg
    }

    /// A new server from a copy of `template`'s data directory (initdb and
    /// the bootstrap done once per suite), on its own port and socket.
    pub fn from_template(template: &Pg) -> Pg {
        let (dir, data, sock) = Pg::new_dirs(&template.os);
        let out = run(
            Command::new("cp").arg("-a").arg(&template.data).arg(&data),
            None,
            Duration::from_secs(60),
        );
        assert!(out.ok(), "copying the template data directory: {}", out.describe());
        let ca = dir.path().join("ca.crt");
        std::fs::copy(&template.ca, &ca).expect("copy the CA");
        let mut pg = Pg {
            bin: template.bin.clone(),
            os: template.os.clone(),
            data,
            sock,
            port: free_port(),
            ca,
            log: dir.path().join("postgres.log"),
            dir,
            postmaster: None,
        };
        pg.spawn_postmaster();
        pg
    }

    fn new_dirs(os: &OsUser) -> (tempfile::TempDir, PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("pgtest-")
            .tempdir_in(scratch_root())
            .expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        os.chown(dir.path());
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir(&sock).expect("socket dir");
        os.chown(&sock);
        (dir, data, sock)
    }

    /// initdb and configuration; not started.
    fn init(bin: &Path, os: &OsUser) -> Pg {
        let (dir, data, sock) = Pg::new_dirs(os);
        // CNPG v1.28.4 pkg/management/postgres/initdb.go:234-247: initdb
        // --username postgres -D PGDATA (--no-sync, as CNPG does for a
        // temporary instance: this one lives for one test); the encoding and
        // locale are the Cluster defaults (api/v1/cluster_defaults.go:253-259)
        // passed as pkg/specs/jobs.go:142-149 passes them. 1 MB WAL segments
        // (spec.bootstrap.initdb.walSegmentSize, pkg/specs/jobs.go:167) keep the
        // copy of the template small.
        let out = run(
            os.command(&bin.join("initdb"))
                .args(["--username", "postgres", "-D"])
                .arg(&data)
                .args([
                    "--no-sync",
                    "--encoding=UTF8",
                    "--lc-collate=C",
                    "--lc-ctype=C",
                    "--wal-segsize=1",
                ])
                .current_dir(dir.path()),
            None,
            Duration::from_secs(60),
        );
        assert!(out.ok(), "initdb failed: {}", out.describe());

        let (ca, cert, key) = tls_material();
        let ca_path = dir.path().join("ca.crt");
        write(&ca_path, &ca, 0o644);
        // CNPG's ssl_ca_file (the client CA that signs streaming_replica's
        // certificate): here the same test CA, so the `cert` lines work.
        let client_ca = data.join("client-ca.crt");
        write(&client_ca, &ca, 0o600);
        os.chown(&client_ca);
        let cert_path = data.join("server.crt");
        let key_path = data.join("server.key");
        write(&cert_path, &cert, 0o600);
        write(&key_path, &key, 0o600);
        os.chown(&cert_path);
        os.chown(&key_path);

        // The port and the socket directory are given on the command line
        // (each copy of a template has its own).
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).expect("postgresql.conf");
        conf.push_str(
            "\n# pgtest\nlisten_addresses = '127.0.0.1'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'client-ca.crt'\n\
             password_encryption = 'scram-sha-256'\nmax_connections = 40\nshared_buffers = 16MB\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             log_connections = on\nlog_min_messages = warning\n",
        );
        write(&data.join("postgresql.conf"), &conf, 0o600);
        os.chown(&data.join("postgresql.conf"));

        let pg = Pg {
            bin: bin.to_owned(),
            os: os.clone(),
            data,
            sock,
            port: free_port(),
            ca: ca_path,
            log: dir.path().join("postgres.log"),
            dir,
            postmaster: None,
        };
        // The CNPG pg_hba/pg_ident of a Cluster without user rules until a
        // Cluster manifest is applied.
        pg.write_hba_ident(&cnpg::hba_conf(&[]), &cnpg::ident_conf(&[], &os.name));
        pg
    }

    fn spawn_postmaster(&mut self) {
        let file = std::fs::File::create(&self.log).expect("postgres log");
        self.os.chown(&self.log);
        let mut cmd = self.os.command(&self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.sock)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("log fd")))
            .stderr(Stdio::from(file));
        let child = cmd.spawn().expect("cannot start postgres");
        self.postmaster = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.postmaster.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("postgres exited ({status}); its log:\n{}", tail_of(&self.log, 30));
            }
            let out = self.superuser("postgres", "select 1");
            if out.ok() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "postgres did not accept connections within 30s: {}\nits log:\n{}",
                    out.describe(),
                    tail_of(&self.log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn write_hba_ident(&self, hba: &str, ident: &str) {
        for (name, text) in [("pg_hba.conf", hba), ("pg_ident.conf", ident)] {
            let path = self.data.join(name);
            write(&path, text, 0o600);
            self.os.chown(&path);
        }
    }

    pub fn hba(&self) -> String {
        std::fs::read_to_string(self.data.join("pg_hba.conf")).unwrap_or_default()
    }

    /// psql as the suite's OS user, none of the suite's PG* variables
    /// passed on, with the common options.
    fn psql(&self) -> Command {
        let mut cmd = Command::new(self.bin.join("psql"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PG") {
                cmd.env_remove(k);
            }
        }
        Self::psql_common(&mut cmd);
        cmd
    }

    /// [`Pg::psql`] over TCP with TLS (sslmode=verify-full against the test
    /// CA) as `login`.
    fn psql_tcp(&self, login: &Login) -> Command {
        let mut cmd = self.psql();
        cmd.arg(format!(
            "host=127.0.0.1 port={} dbname={} user={} sslmode=verify-full sslrootcert={}",
            self.port,
            login.database,
            login.user,
            self.ca.display()
        ))
        .env("LC_ALL", "C")
        .current_dir(self.dir.path());
        cmd
    }

    fn psql_common(cmd: &mut Command) {
        cmd.args(["-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1"])
            .env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_S.to_string())
            .env("PGOPTIONS", format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}"))
            .env("PGAPPNAME", "pgtest");
    }

    /// SQL as `postgres` over the Unix socket, as the server's OS user:
    /// CNPG's instance manager connects this way (`local all all peer
    /// map=local`, pg_ident `local <os user> postgres`). The SQL goes in on
    /// stdin, never on the command line.
    pub fn superuser(&self, database: &str, sql: &str) -> Out {
        let mut cmd = self.os.command(&self.bin.join("psql"));
        Self::psql_common(&mut cmd);
        cmd.arg("-h")
            .arg(&self.sock)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", database])
            .current_dir(self.dir.path());
        run(&mut cmd, Some(sql.as_bytes()), PSQL_TIMEOUT)
    }

    /// Like `superuser`, panicking (password-free message) on failure.
    pub fn superuser_ok(&self, database: &str, sql: &str) -> String {
        let out = self.superuser(database, sql);
        assert!(out.ok(), "superuser SQL in {database} failed: {}", out.describe());
        out.stdout.trim().to_owned()
    }

    /// SQL as a client over TCP with TLS (sslmode=verify-full against the
    /// test CA), as an app in a consumer namespace would connect.
    pub fn tcp(&self, login: &Login, sql: &str) -> Out {
        let mut cmd = self.psql_tcp(login);
        match login.password {
            Some(p) => cmd.env("PGPASSWORD", p),
            None => cmd.env("PGPASSFILE", self.dir.path().join("no-pgpass")),
        };
        run(&mut cmd, Some(sql.as_bytes()), PSQL_TIMEOUT)
    }

    /// A session left running (e.g. a long query), killed when dropped.
    pub fn tcp_background(&self, login: &Login, sql: &str) -> Background {
        let mut cmd = self.psql_tcp(login);
        cmd.args(["-c", sql])
            .env("PGPASSWORD", login.password.unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        scrub_env(&mut cmd);
        Background(cmd.spawn().expect("start a background psql"))
    }

    /// psql over the Unix socket as the OS user running the suite (not the
    /// server's), with no password: what a local OS account gets.
    pub fn socket_as_suite_user(&self, user: &str, database: &str, sql: &str) -> Out {
        let mut cmd = self.psql();
        cmd.arg("-h")
            .arg(&self.sock)
            .args(["-p", &self.port.to_string(), "-U", user, "-d", database])
            .env("PGPASSFILE", self.dir.path().join("no-pgpass"))
            .env("LC_ALL", "C")
            .current_dir(self.dir.path());
        run(&mut cmd, Some(sql.as_bytes()), PSQL_TIMEOUT)
    }

    /// Re-reads pg_hba.conf and pg_ident.conf; panics with the server's
    /// complaint if it refused a line (the old file stays in effect then).
    pub fn reload(&self) {
        self.superuser_ok("postgres", "select pg_reload_conf()");
        let errors = self.superuser_ok(
            "postgres",
            "select coalesce(string_agg(line_number || ': ' || error, '; '), '') from pg_hba_file_rules where error is not null",
        );
        assert!(errors.is_empty(), "pg_hba.conf has lines the server refuses: {errors}");
    }

    /// SIGQUIT (`pg_ctl stop -m immediate`) or SIGINT (`-m fast`, a clean
    /// shutdown), then SIGKILL after 5 s.
    fn stop_with(&mut self, signal: &str) {
        let Some(mut child) = self.postmaster.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.stop_with("-QUIT");
    }
}

pub struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An assertion message part: a command's output, indented.
pub fn show(out: &Out) -> String {
    indent(&out.text())
}
