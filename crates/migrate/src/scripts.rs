//! Migrations listed one by one in a release manifest: `python:NAME` runs a
//! script (`python -m app.migrations.NAME`), `sql:FILE` runs a file through
//! the SQL runner, in list order. Both are recorded in Preflight's ledger
//! under their entry (`python:add_publish_tables`) with the file's checksum,
//! so they are skipped once applied and refused once changed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Error;
use crate::ledger::{self, execute};
use crate::plan::{MigrationState, Status, StatusEntry};
use crate::runner::{apply_in_transaction, connect, lock, unlock};
use crate::source::{Migration, SourceKind};

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ScriptEntry {
    /// `python:NAME`: the module `NAME` in the scripts folder.
    Python(String),
    /// `sql:FILE`: a file in the scripts folder.
    Sql(String),
}

impl ScriptEntry {
    /// The ledger version: `python:NAME` or `sql:FILE`.
    pub fn version(&self) -> String {
        match self {
            ScriptEntry::Python(n) => format!("python:{n}"),
            ScriptEntry::Sql(f) => format!("sql:{f}"),
        }
    }
}

/// A module's script migrations and how to run them.
#[derive(Debug, Clone)]
pub struct ScriptList {
    /// The scripts folder, e.g. `<repo>/app/migrations`.
    pub dir: PathBuf,
    /// Where commands run: the module's checkout.
    pub workdir: PathBuf,
    /// The command for `python:NAME`; `{module}` becomes the dotted module
    /// (`app.migrations.NAME`) and `{name}` the bare name. Default
    /// `python -m {module}`.
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The variable that carries the database URL to scripts.
    pub url_env: String,
    pub entries: Vec<ScriptEntry>,
    pub database_url: String,
    pub applied_by: String,
    pub lock_timeout: Duration,
    /// The longest one script may run.
    pub script_timeout: Duration,
}

/// What `ScriptList::up` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptReport {
    pub applied: Vec<String>,
    /// Each script's output, last lines, for the record.
    pub outputs: Vec<(String, String)>,
}

impl ScriptList {
    /// The dotted module of the scripts folder relative to the workdir.
    fn module_of(&self, name: &str) -> String {
        let rel = self.dir.strip_prefix(&self.workdir).unwrap_or(&self.dir);
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|c| c != ".")
            .collect();
        parts.push(name.to_string());
        parts.join(".")
    }

    fn migration(&self, entry: &ScriptEntry) -> Result<Migration, Error> {
        let (path, name) = match entry {
            ScriptEntry::Python(n) => (python_file(&self.dir, n), n.clone()),
            ScriptEntry::Sql(f) => (self.dir.join(f), f.trim_end_matches(".sql").to_string()),
        };
        let raw = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        Migration::from_file(entry.version(), name, path, &raw)
    }

    fn status_of(&self, migrations: &[Migration], applied: &[ledger::AppliedRow]) -> Status {
        let entries = migrations
            .iter()
            .map(|m| {
                let row = applied.iter().find(|a| a.version == m.version);
                let state = match row {
                    Some(r) if !r.success => MigrationState::Failed,
                    Some(r) if r.checksum.as_deref() != Some(m.checksum.as_str()) => {
                        MigrationState::Modified
                    }
                    Some(_) => MigrationState::Applied,
                    None => MigrationState::Pending,
                };
                StatusEntry {
                    version: m.version.clone(),
                    name: m.name.clone(),
                    state,
                    applied_at: row.and_then(|r| r.applied_at.clone()),
                    migration: Some(m.clone()),
                }
            })
            .collect();
        Status {
            kind: SourceKind::Sql,
            entries,
            unusable: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Every entry as applied, pending, modified or failed; reads only.
    pub async fn status(&self) -> Result<Status, Error> {
        let migrations: Vec<Migration> = self
            .entries
            .iter()
            .map(|e| self.migration(e))
            .collect::<Result<_, _>>()?;
        let mut conn = connect(&self.database_url).await?;
        let applied = ledger::read_ledger(&mut conn, SourceKind::Sql).await?;
        Ok(self.status_of(&migrations, &applied))
    }

    /// Runs pending entries in list order under the migration lock. Refuses
    /// when an applied script changed. A failed script is not recorded, so
    /// the next run tries it again: scripts must be safe to re-run.
    pub async fn up(&self) -> Result<ScriptReport, Error> {
        let migrations: Vec<Migration> = self
            .entries
            .iter()
            .map(|e| self.migration(e))
            .collect::<Result<_, _>>()?;
        let mut conn = connect(&self.database_url).await?;
        lock(&mut conn, self.lock_timeout).await?;
        let result = async {
            ledger::ensure_ledger(&mut conn, SourceKind::Sql).await?;
            let applied = ledger::read_ledger(&mut conn, SourceKind::Sql).await?;
            let status = self.status_of(&migrations, &applied);
            let drift: Vec<String> = status
                .entries
                .iter()
                .filter(|e| matches!(e.state, MigrationState::Modified | MigrationState::Failed))
                .map(|e| {
                    format!(
                        "{} was applied and has been {} since",
                        e.version,
                        e.state.as_str()
                    )
                })
                .collect();
            if !drift.is_empty() {
                return Err(Error::Refused { problems: drift });
            }
            let mut report = ScriptReport {
                applied: Vec::new(),
                outputs: Vec::new(),
            };
            for (entry, m) in self.entries.iter().zip(&migrations) {
                let state = status
                    .entries
                    .iter()
                    .find(|e| e.version == m.version)
                    .map(|e| e.state);
                if state != Some(MigrationState::Pending) {
                    continue;
                }
                match entry {
                    ScriptEntry::Sql(_) => {
                        apply_in_transaction(&mut conn, SourceKind::Sql, &self.applied_by, m)
                            .await?;
                    }
                    ScriptEntry::Python(name) => {
                        let output = self.run_python(name, m).await?;
                        execute(
                            &mut conn,
                            SourceKind::Sql.insert_sql(m, &self.applied_by, true),
                        )
                        .await
                        .map_err(|source| Error::Query {
                            context: format!("record {}", m.version),
                            source,
                        })?;
                        report.outputs.push((m.version.clone(), output));
                    }
                }
                report.applied.push(m.version.clone());
            }
            Ok(report)
        }
        .await;
        unlock(&mut conn).await;
        result
    }

    async fn run_python(&self, name: &str, m: &Migration) -> Result<String, Error> {
        let module = self.module_of(name);
        let template = if self.command.is_empty() {
            vec!["python".to_string(), "-m".into(), "{module}".into()]
        } else {
            self.command.clone()
        };
        let argv: Vec<String> = template
            .iter()
            .map(|a| a.replace("{module}", &module).replace("{name}", name))
            .collect();
        let started = Instant::now();
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(&self.workdir)
            .env(&self.url_env, &self.database_url)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        // A script that times out is dropped with its whole process group.
        let child = preflight_process::output(cmd);
        let out = match tokio::time::timeout(self.script_timeout, child).await {
            Ok(out) => out.map_err(|source| Error::Spawn {
                program: argv[0].clone(),
                source,
            })?,
            Err(_) => {
                return Err(Error::ScriptFailed {
                    name: m.version.clone(),
                    path: m.path.clone(),
                    output: format!("timed out after {}s", started.elapsed().as_secs()),
                });
            }
        };
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        let text = crate::backup::redact_password(&text, &self.database_url);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        if !out.status.success() {
            return Err(Error::ScriptFailed {
                name: m.version.clone(),
                path: m.path.clone(),
                output: tail,
            });
        }
        Ok(tail)
    }
}

/// The file `python -m` runs for the dotted module `name` under `dir`
/// (`pkg.mod` → `pkg/mod.py`, or a package's `pkg/mod/__main__.py`): the
/// checksum covers what Python executes.
fn python_file(dir: &std::path::Path, name: &str) -> PathBuf {
    let mut path = dir.to_path_buf();
    path.extend(name.split('.'));
    let module = path.with_extension("py");
    let main = path.join("__main__.py");
    if !module.is_file() && main.is_file() {
        main
    } else {
        module
    }
}

#[cfg(test)]
mod tests {
    use super::python_file;

    #[test]
    fn a_dotted_module_is_the_file_python_runs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg/app")).unwrap();
        std::fs::write(dir.path().join("pkg/mod.py"), "print(1)").unwrap();
        std::fs::write(dir.path().join("pkg/app/__main__.py"), "print(2)").unwrap();
        assert_eq!(
            python_file(dir.path(), "pkg.mod"),
            dir.path().join("pkg/mod.py")
        );
        assert_eq!(
            python_file(dir.path(), "pkg.app"),
            dir.path().join("pkg/app/__main__.py")
        );
        assert_eq!(
            python_file(dir.path(), "plain"),
            dir.path().join("plain.py")
        );
    }
}
