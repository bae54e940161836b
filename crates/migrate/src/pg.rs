//! A throwaway PostgreSQL cluster: `initdb` + `pg_ctl` in a temp dir on a
//! free loopback port, removed when dropped. Used by the tests and by the
//! CLI's `local` environment.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;

/// A running cluster. Dropping it stops the server and deletes its files.
#[derive(Debug)]
pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    run_as: Option<String>,
}

/// The directory holding `initdb` and `pg_ctl`: PATH first, then Debian's
/// `/usr/lib/postgresql/<version>/bin` (newest version).
pub fn find_postgres_bin() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
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

impl TempPostgres {
    /// Creates and starts a cluster. As root, the server runs as the
    /// `postgres` user (PostgreSQL refuses to run as root).
    pub fn start() -> Result<TempPostgres, Error> {
        let bin = find_postgres_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("preflight-pg-")
            .tempdir()
            .map_err(|source| Error::Write {
                path: std::env::temp_dir(),
                source,
            })?;
        let run_as = is_root().then(|| "postgres".to_string());
        if let Some(user) = &run_as {
            chown_to(dir.path(), user)?;
        }
        let data = dir.path().join("data");
        run(
            &bin,
            run_as.as_deref(),
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        )?;
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port()?;
            let opts = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100",
                path_str(dir.path())
            );
            let log = dir.path().join("server.log");
            match run(
                &bin,
                run_as.as_deref(),
                "pg_ctl",
                &[
                    "-D",
                    path_str(&data),
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
                    return Ok(TempPostgres {
                        dir,
                        bin,
                        port,
                        run_as,
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("tried at least once"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `database` as the `postgres` superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, Error> {
        run(
            &self.bin,
            self.run_as.as_deref(),
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ],
        )?;
        Ok(self.url(name))
    }

    /// The folder of Debian's server binaries (psql, pg_dump… live beside them).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = run(
            &self.bin,
            self.run_as.as_deref(),
            "pg_ctl",
            &["-D", path_str(&data), "-m", "immediate", "-w", "stop"],
        );
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

fn run(bin: &Path, run_as: Option<&str>, program: &str, args: &[&str]) -> Result<(), Error> {
    let exe = bin.join(program);
    let exe = if exe.is_file() {
        exe
    } else {
        PathBuf::from(program)
    };
    let mut cmd = match run_as {
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
