//! PostgreSQL clusters made with the system's `initdb` and `pg_ctl`:
//! [`TempPostgres`] in a temp dir, removed when dropped (tests), and
//! [`LocalPostgres`] kept under a project's `.preflight/` folder and reused by
//! later commands (the CLI's `local` environment).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use sha2::Digest;

use crate::error::Error;

/// The directory holding `initdb` and `pg_ctl`: PATH first, then Debian's
/// `/usr/lib/postgresql/<version>/bin` (newest version).
pub fn find_postgres_bin() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                // A symlinked initdb points at the folder with psql, pg_dump and the rest.
                let real = std::fs::canonicalize(dir.join("initdb"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf));
                return Ok(real.unwrap_or(dir));
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or(Error::NoPostgres)
}

/// A data directory, the binaries that serve it and the port it listens on.
/// As root, every command runs as the `postgres` user (the server refuses root).
#[derive(Debug)]
struct Cluster {
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    run_as: Option<String>,
}

impl Cluster {
    fn new(data: PathBuf) -> Result<Cluster, Error> {
        Ok(Cluster {
            data,
            bin: find_postgres_bin()?,
            port: 0,
            run_as: is_root().then(|| "postgres".to_string()),
        })
    }

    fn init(&self) -> Result<(), Error> {
        let parent = self.data.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(parent).map_err(|source| Error::Write {
            path: parent.to_path_buf(),
            source,
        })?;
        if let Some(user) = &self.run_as {
            chown_to(parent, user)?;
        }
        self.run(
            "initdb",
            &[
                "-D",
                path_str(&self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        )
    }

    /// Starts on `port`, or on a free port when that one is taken.
    fn start(
        &mut self,
        port: Option<u16>,
        socket_dir: Option<&Path>,
        fast: bool,
    ) -> Result<(), Error> {
        let mut last_error = None;
        let mut preferred = port;
        for _ in 0..5 {
            let port = match preferred.take() {
                Some(p) if port_is_free(p) => p,
                _ => free_port()?,
            };
            // No Unix socket for kept clusters: project paths can exceed the 107-byte limit.
            let socket = socket_dir.map_or("''".to_string(), |d| path_str(d).to_string());
            let mut opts = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={socket} -c max_connections=100"
            );
            if fast {
                opts.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
            }
            let log = self.log_path();
            match self.run(
                "pg_ctl",
                &[
                    "-D",
                    path_str(&self.data),
                    "-l",
                    path_str(&log),
                    "-o",
                    &opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            ) {
                Ok(()) => {
                    self.port = port;
                    return Ok(());
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("tried at least once"))
    }

    fn log_path(&self) -> PathBuf {
        self.data.with_file_name("server.log")
    }

    fn is_running(&self) -> bool {
        self.run("pg_ctl", &["-D", path_str(&self.data), "status"])
            .is_ok()
    }

    fn stop(&self, mode: &str) -> Result<(), Error> {
        self.run(
            "pg_ctl",
            &["-D", path_str(&self.data), "-m", mode, "-w", "stop"],
        )
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates `name` unless it exists.
    fn ensure_database(&self, name: &str) -> Result<String, Error> {
        let port = self.port.to_string();
        let args = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name];
        match self.run("createdb", &args) {
            Err(Error::Command { stderr, .. }) if stderr.contains("already exists") => {}
            other => other?,
        }
        Ok(self.url(name))
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), Error> {
        let exe = self.bin.join(program);
        let exe = if exe.is_file() {
            exe
        } else {
            PathBuf::from(program)
        };
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let output = cmd
            .args(args)
            .current_dir("/")
            .output()
            .map_err(|source| Error::Spawn {
                program: program.to_string(),
                source,
            })?;
        if !output.status.success() {
            return Err(Error::Command {
                program: program.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(())
    }
}

/// A running throwaway cluster. Dropping it stops the server and deletes its files.
#[derive(Debug)]
pub struct TempPostgres {
    cluster: Cluster,
    _dir: tempfile::TempDir,
}

impl TempPostgres {
    /// Creates and starts a cluster on a free loopback port, tuned for
    /// speed over durability (fsync off).
    pub fn start() -> Result<TempPostgres, Error> {
        // As root the server's user must reach the folder: TMPDIR may be private.
        let base = match is_root() {
            true => [
                std::env::temp_dir(),
                PathBuf::from("/tmp"),
                PathBuf::from("/var/tmp"),
            ]
            .into_iter()
            .find(|d| reachable_by("postgres", d))
            .unwrap_or_else(std::env::temp_dir),
            false => std::env::temp_dir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("preflight-pg-")
            .tempdir_in(&base)
            .map_err(|source| Error::Write { path: base, source })?;
        let mut cluster = Cluster::new(dir.path().join("data"))?;
        cluster.init()?;
        cluster.start(None, Some(dir.path()), true)?;
        Ok(TempPostgres { cluster, _dir: dir })
    }

    pub fn port(&self) -> u16 {
        self.cluster.port
    }

    /// A URL for `database` as the `postgres` superuser.
    pub fn url(&self, database: &str) -> String {
        self.cluster.url(database)
    }

    /// Creates a database (unless it exists) and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, Error> {
        self.cluster.ensure_database(name)
    }

    /// The folder of the server binaries (psql, pg_dump… live beside them).
    pub fn bin_dir(&self) -> &Path {
        &self.cluster.bin
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self.cluster.stop("immediate");
    }
}

/// The project's own cluster for the `local` environment, kept in
/// `<state_dir>/postgres/` and started on demand; it survives the process
/// so that one command sees what the previous one did.
#[derive(Debug)]
pub struct LocalPostgres {
    cluster: Cluster,
    root: PathBuf,
}

/// What `preflight local status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalStatus {
    pub dir: PathBuf,
    /// The data folder: `<dir>/data`, or elsewhere when the server's user
    /// cannot reach `dir` (as root).
    pub data: PathBuf,
    pub initialised: bool,
    pub running: bool,
    /// The port it listens on (or last listened on).
    pub port: Option<u16>,
    pub databases: Vec<String>,
}

/// Names the data folder when it lives outside `<state_dir>/postgres/`
/// (as root, where the server's user cannot reach the project).
const DATA_DIR_FILE: &str = "data-dir";

impl LocalPostgres {
    fn at(state_dir: &Path) -> Result<LocalPostgres, Error> {
        // The server commands run from `/`, so the path must not be relative.
        let state_dir = std::path::absolute(state_dir).map_err(|source| Error::Read {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let root = state_dir.join("postgres");
        let data = std::fs::read_to_string(root.join(DATA_DIR_FILE))
            .ok()
            .map(|d| PathBuf::from(d.trim_end_matches('\n')))
            .unwrap_or_else(|| root.join("data"));
        let mut cluster = Cluster::new(data)?;
        cluster.port = std::fs::read_to_string(root.join("port"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        Ok(LocalPostgres { cluster, root })
    }

    /// Opens the cluster under `state_dir`, creating and starting it if needed.
    pub fn ensure(state_dir: &Path) -> Result<LocalPostgres, Error> {
        let mut local = LocalPostgres::at(state_dir)?;
        if !local.cluster.data.join("PG_VERSION").is_file() {
            local.place_data()?;
            local.cluster.init()?;
        }
        if !local.cluster.is_running() {
            let previous = (local.cluster.port != 0).then_some(local.cluster.port);
            local.cluster.start(previous, None, true)?;
            let port_file = local.root.join("port");
            std::fs::write(&port_file, format!("{}\n", local.cluster.port)).map_err(|source| {
                Error::Write {
                    path: port_file,
                    source,
                }
            })?;
        }
        Ok(local)
    }

    /// As root the server runs as `postgres`, which cannot reach a project
    /// in a folder only root can read (root's home, a `0700` temp folder):
    /// the data then goes under the server user's home, or `/var/tmp`, in a
    /// folder named after the project's path, and `<root>/data-dir` says where.
    fn place_data(&mut self) -> Result<(), Error> {
        let Some(user) = self.cluster.run_as.clone() else {
            return Ok(());
        };
        std::fs::create_dir_all(&self.root).map_err(|source| Error::Write {
            path: self.root.clone(),
            source,
        })?;
        if reachable_by(&user, &self.root) {
            return Ok(());
        }
        let digest = sha2::Sha256::digest(self.root.as_os_str().as_encoded_bytes());
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let candidates = home_of(&user)
            .map(|home| home.join("preflight"))
            .into_iter()
            .chain([PathBuf::from("/var/tmp/preflight-postgres")]);
        for base in candidates {
            if std::fs::create_dir_all(&base).is_err() || !reachable_by(&user, &base) {
                continue;
            }
            let data = base.join(&name).join("data");
            let file = self.root.join(DATA_DIR_FILE);
            std::fs::write(&file, format!("{}\n", data.display()))
                .map_err(|source| Error::Write { path: file, source })?;
            self.cluster.data = data;
            return Ok(());
        }
        Err(Error::ServerCannotReach {
            user,
            path: self.root.clone(),
        })
    }

    /// Reports on the cluster under `state_dir` without starting it.
    pub fn status(state_dir: &Path) -> Result<LocalStatus, Error> {
        let local = LocalPostgres::at(state_dir)?;
        let initialised = local.cluster.data.join("PG_VERSION").is_file();
        let running = initialised && local.cluster.is_running();
        let databases = if running {
            let port = local.cluster.port.to_string();
            let psql = local.cluster.bin.join("psql");
            Command::new(psql)
                .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", "postgres"])
                .args(["-c", "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY 1"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(LocalStatus {
            data: local.cluster.data.clone(),
            dir: local.root,
            initialised,
            running,
            port: (local.cluster.port != 0).then_some(local.cluster.port),
            databases,
        })
    }

    /// Stops the server if it runs; keeps its data. Returns whether it was running.
    pub fn stop(state_dir: &Path) -> Result<bool, Error> {
        let local = LocalPostgres::at(state_dir)?;
        if !local.cluster.data.join("PG_VERSION").is_file() || !local.cluster.is_running() {
            return Ok(false);
        }
        local.cluster.stop("fast")?;
        Ok(true)
    }

    /// Stops the server and deletes its data; the next use starts afresh.
    pub fn reset(state_dir: &Path) -> Result<(), Error> {
        LocalPostgres::stop(state_dir)?;
        let local = LocalPostgres::at(state_dir)?;
        if !local.cluster.data.starts_with(&local.root) {
            // Data placed outside the project (see `place_data`): its own folder goes too.
            if let Some(own) = local.cluster.data.parent() {
                match std::fs::remove_dir_all(own) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::Write {
                            path: own.to_path_buf(),
                            source: e,
                        });
                    }
                    _ => {}
                }
            }
        }
        let root = local.root;
        match std::fs::remove_dir_all(&root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Write {
                path: root,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    pub fn port(&self) -> u16 {
        self.cluster.port
    }

    /// Creates a database (unless it exists) and returns its URL.
    pub fn ensure_database(&self, name: &str) -> Result<String, Error> {
        self.cluster.ensure_database(name)
    }

    /// A URL for `database` as the `postgres` superuser.
    pub fn url(&self, database: &str) -> String {
        self.cluster.url(database)
    }

    pub fn bin_dir(&self) -> &Path {
        &self.cluster.bin
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Whether `user` can reach (search) the folder `dir`, every parent included.
fn reachable_by(user: &str, dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", user, "--", "test", "-x"])
        .arg(dir)
        .current_dir("/")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The home folder of `user`, from `/etc/passwd`.
fn home_of(user: &str) -> Option<PathBuf> {
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() >= 6 && fields[0] == user)
        .map(|fields| PathBuf::from(fields[5]))
        .filter(|home| home.is_absolute())
}

fn chown_to(dir: &Path, user: &str) -> Result<(), Error> {
    let status = Command::new("chown")
        .args(["-R", user, path_str(dir)])
        .status()
        .map_err(|source| Error::Spawn {
            program: "chown".into(),
            source,
        })?;
    if !status.success() {
        return Err(Error::Command {
            program: "chown".into(),
            stderr: format!("could not give {} to {user}", dir.display()),
        });
    }
    Ok(())
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| Error::Spawn {
        program: "bind".into(),
        source,
    })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| Error::Spawn {
            program: "bind".into(),
            source,
        })
}
