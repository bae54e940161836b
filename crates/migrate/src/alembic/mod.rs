//! Alembic projects: the revision graph read statically, `alembic_version`,
//! and upgrades run by the project's own Alembic under Preflight's lock.

mod graph;
mod ini;
mod parse;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgConnection;

pub use graph::{Revision, RevisionGraph, UpgradePlan};
use parse::PyValue;

use crate::error::Error;
use crate::runner::{connect, lock, unlock};

/// A value Preflight could not read statically; the graph is built without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlembicWarning {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

/// Reads every revision file in the `versions` folders (and their
/// subfolders when `recursive`, like `recursive_version_locations`), in
/// Alembic's order: folder by folder, each in name order. A file reached
/// twice (through two locations or a symlink) is read once, as Alembic
/// reads it once.
pub fn load_revisions(
    versions: &[PathBuf],
    recursive: bool,
) -> Result<(RevisionGraph, Vec<AlembicWarning>), Error> {
    let mut files = Vec::new();
    for dir in versions {
        collect(dir, recursive, &mut files)?;
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    let read = crate::source::par_map(&files, |path| {
        let text = crate::source::read(path)?;
        let mut warnings = Vec::new();
        let revision = read_revision(path, &text, &mut warnings)?;
        Ok((revision, warnings))
    })?;
    let mut revisions = Vec::with_capacity(read.len());
    let mut warnings = Vec::new();
    for (r, w) in read {
        revisions.push(r);
        warnings.extend(w);
    }
    Ok((RevisionGraph::build(revisions)?, warnings))
}

fn collect(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let read_err = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<(PathBuf, bool)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => entry.path().is_dir(),
            Ok(t) => t.is_dir(),
            Err(_) => false,
        };
        entries.push((entry.path(), is_dir));
    }
    // One folder: byte order of the paths is the order of the names, without parsing components.
    entries.sort_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    let (dirs, files): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(_, d)| *d);
    let dirs: Vec<PathBuf> = dirs.into_iter().map(|(p, _)| p).collect();
    let files: Vec<PathBuf> = files.into_iter().map(|(p, _)| p).collect();
    out.extend(files.into_iter().filter(|p| parse::is_script_name(p)));
    if recursive {
        for d in dirs {
            if !d.ends_with("__pycache__") {
                collect(&d, recursive, out)?;
            }
        }
    }
    Ok(())
}

fn read_revision(
    path: &Path,
    text: &str,
    warnings: &mut Vec<AlembicWarning>,
) -> Result<Revision, Error> {
    let (assignments, message) = parse::module(text);
    // The last assignment wins, as when Python runs the module.
    let find = |name: &str| assignments.iter().rev().find(|a| a.name == name);
    let script_err = |line: usize, message: String| Error::AlembicScript {
        path: path.to_path_buf(),
        line,
        message,
    };
    let (id, line) = match find("revision") {
        Some(a) => match &a.value {
            PyValue::Str(s) => (s.clone(), a.line),
            other => {
                return Err(script_err(
                    a.line,
                    format!(
                        "`revision` must be a string literal, found {}",
                        describe(other)
                    ),
                ));
            }
        },
        None => {
            // Alembic's legacy fallback: a hex file name is the id.
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if !stem.is_empty()
                && stem
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                (stem.to_string(), 1)
            } else {
                return Err(script_err(
                    1,
                    "no `revision = \"…\"` at module level; Alembic cannot determine the revision id either".into(),
                ));
            }
        }
    };
    let down_revision = match find("down_revision") {
        None => {
            return Err(script_err(
                line,
                format!("revision {id} has no `down_revision`"),
            ));
        }
        Some(a) => match &a.value {
            PyValue::None => None,
            PyValue::Str(s) => Some(vec![s.clone()]),
            PyValue::Seq(v) => Some(v.clone()),
            PyValue::Other(src) => {
                return Err(script_err(
                    a.line,
                    format!(
                        "`down_revision = {src}` is not a literal; the graph cannot be built without it"
                    ),
                ));
            }
        },
    };
    let mut optional = |name: &str| -> Option<Vec<String>> {
        let a = find(name)?;
        match &a.value {
            PyValue::None => None,
            PyValue::Str(s) => Some(vec![s.clone()]),
            PyValue::Seq(v) => Some(v.clone()),
            PyValue::Other(src) => {
                warnings.push(AlembicWarning {
                    path: path.to_path_buf(),
                    line: a.line,
                    message: format!("`{name} = {src}` is not a literal; read as None"),
                });
                None
            }
        }
    };
    let branch_labels = optional("branch_labels").unwrap_or_default();
    let depends_on = optional("depends_on");
    Ok(Revision {
        id,
        down_revision,
        branch_labels,
        depends_on,
        path: path.to_path_buf(),
        line,
        message,
    })
}

fn describe(v: &PyValue) -> String {
    match v {
        PyValue::None => "None".into(),
        PyValue::Str(s) => format!("{s:?}"),
        PyValue::Seq(_) => "a tuple".into(),
        PyValue::Other(src) => format!("`{src}`"),
    }
}

/// An Alembic project as Preflight runs it.
#[derive(Debug, Clone)]
pub struct AlembicProject {
    /// The versions folders (Alembic's `version_locations`), absolute.
    pub versions: Vec<PathBuf>,
    /// Subfolders are read too (`recursive_version_locations`).
    pub recursive: bool,
    /// Where the command runs (the folder of `alembic.ini`).
    pub workdir: PathBuf,
    /// The command before `upgrade TARGET`; default `alembic -c alembic.ini`.
    pub command: Vec<String>,
    /// Extra environment for the command.
    pub env: Vec<(String, String)>,
    /// The variable that carries the database URL to the project's `env.py`.
    pub url_env: String,
    pub version_table: String,
    pub version_schema: Option<String>,
}

impl AlembicProject {
    /// The project whose versions folders are `dirs` (relative ones against
    /// the current directory): the command runs beside the nearest
    /// `alembic.ini` above the first. When that file sets
    /// `version_locations`, those are the folders, as Alembic reads them,
    /// unless several `dirs` were given (a project that sets its locations
    /// in code); `recursive_version_locations = true` there reads
    /// subfolders too, as `recursive` does.
    pub fn locate(dirs: &[PathBuf], recursive: bool) -> Result<AlembicProject, Error> {
        let absolute = |d: &PathBuf| {
            std::path::absolute(d).map_err(|source| Error::Read {
                path: d.clone(),
                source,
            })
        };
        let mut versions = dirs.iter().map(absolute).collect::<Result<Vec<_>, _>>()?;
        let first = versions
            .first()
            .cloned()
            .ok_or_else(|| Error::AlembicTarget {
                target: "heads".into(),
                reason: "no versions folder was given".into(),
            })?;
        let ini = first
            .ancestors()
            .map(|d| d.join("alembic.ini"))
            .find(|f| f.is_file());
        let workdir = ini
            .as_ref()
            .and_then(|f| f.parent())
            .unwrap_or(&first)
            .to_path_buf();
        let mut recursive = recursive;
        if let Some(ini) = &ini {
            let from_ini = ini::version_locations(ini, &workdir)?;
            recursive |= from_ini.recursive;
            if versions.len() == 1 && !from_ini.dirs.is_empty() {
                // Alembic skips locations that do not exist.
                let existing: Vec<PathBuf> =
                    from_ini.dirs.into_iter().filter(|d| d.is_dir()).collect();
                if !existing.is_empty() {
                    versions = existing;
                }
            }
        }
        Ok(AlembicProject {
            versions,
            recursive,
            workdir,
            command: vec!["alembic".into(), "-c".into(), "alembic.ini".into()],
            env: Vec::new(),
            url_env: "DATABASE_URL".into(),
            version_table: "alembic_version".into(),
            version_schema: None,
        })
    }

    pub fn graph(&self) -> Result<(RevisionGraph, Vec<AlembicWarning>), Error> {
        load_revisions(&self.versions, self.recursive)
    }

    fn version_table_sql(&self) -> String {
        let ident = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        match &self.version_schema {
            Some(schema) => format!("{}.{}", ident(schema), ident(&self.version_table)),
            None => ident(&self.version_table),
        }
    }
}

/// Where an Alembic database stands against a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlembicStatus {
    /// The rows of `alembic_version`.
    pub current: Vec<String>,
    pub target: String,
    /// What the target resolves to.
    pub target_heads: Vec<String>,
    /// Revisions `upgrade` would run, in order.
    pub pending: Vec<String>,
    /// `alembic_version` after the upgrade.
    pub heads_after: Vec<String>,
}

impl AlembicStatus {
    /// The database is exactly at the target: nothing pending, and not ahead of it either.
    pub fn at_target(&self) -> bool {
        let mut now = self.current.clone();
        now.sort();
        let mut target = self.target_heads.clone();
        target.sort();
        self.pending.is_empty() && now == target
    }
}

/// What an upgrade did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlembicReport {
    pub applied: Vec<String>,
    pub heads: Vec<String>,
    /// Alembic's own output (stdout and stderr), for the record.
    pub output: String,
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Runs one Alembic project against one database.
#[derive(Debug, Clone)]
pub struct AlembicMigrator {
    pub project: AlembicProject,
    /// Never printed.
    pub database_url: String,
    pub lock_timeout: Duration,
}

impl AlembicMigrator {
    /// The rows of `alembic_version` (empty when the table does not exist).
    pub async fn current(&self, conn: &mut PgConnection) -> Result<Vec<String>, Error> {
        let sql = format!(
            "SELECT version_num FROM {} ORDER BY 1",
            self.project.version_table_sql()
        );
        match sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
        {
            Ok(rows) => Ok(rows),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Ok(Vec::new()),
            Err(source) => Err(Error::Query {
                context: format!("read {}", self.project.version_table),
                source,
            }),
        }
    }

    pub async fn status(&self, target: &str) -> Result<AlembicStatus, Error> {
        let (graph, _) = self.project.graph()?;
        let mut conn = connect(&self.database_url).await?;
        let current = self.current(&mut conn).await?;
        status_of(&graph, current, target)
    }

    /// `upgrade TARGET` through the project's Alembic, holding the migration
    /// lock; afterwards `alembic_version` must hold exactly the expected heads.
    pub async fn upgrade(&self, target: &str) -> Result<AlembicReport, Error> {
        let started = Instant::now();
        let (graph, _) = self.project.graph()?;
        let mut conn = connect(&self.database_url).await?;
        lock(&mut conn, self.lock_timeout).await?;
        let result = async {
            let before = self.current(&mut conn).await?;
            let status = status_of(&graph, before, target)?;
            if status.pending.is_empty() {
                return Ok(AlembicReport {
                    applied: Vec::new(),
                    heads: status.current,
                    output: String::new(),
                    elapsed: started.elapsed(),
                });
            }
            let output = self.run(&["upgrade", target]).await;
            let after = self.current(&mut conn).await?;
            let (ok, output) = output?;
            if !ok {
                let failing = failing_revision(&graph, &output, &status.pending, &after)
                    .map(|r| (r.id.clone(), r.path.clone()));
                return Err(Error::AlembicFailed {
                    revision: failing.as_ref().map(|f| f.0.clone()),
                    path: failing.map(|f| f.1),
                    now_at: after,
                    output: tail(&output, 30),
                });
            }
            let mut expected = status.heads_after.clone();
            expected.sort();
            if after != expected {
                return Err(Error::AlembicVersionMismatch {
                    expected,
                    found: after,
                });
            }
            Ok(AlembicReport {
                applied: status.pending,
                heads: after,
                output,
                elapsed: started.elapsed(),
            })
        }
        .await;
        unlock(&mut conn).await;
        result
    }

    /// The SQL an upgrade would run, from Alembic's offline mode (`--sql`).
    pub async fn offline_sql(&self, target: &str) -> Result<String, Error> {
        let mut conn = connect(&self.database_url).await?;
        let current = self.current(&mut conn).await?;
        self.offline_sql_from(&current, target).await
    }

    /// The SQL of every revision up to `target` from an empty database,
    /// from Alembic's offline mode; no database is needed.
    pub async fn offline_sql_all(&self, target: &str) -> Result<String, Error> {
        self.offline_sql_from(&[], target).await
    }

    async fn offline_sql_from(&self, current: &[String], target: &str) -> Result<String, Error> {
        let current = current.to_vec();
        let range = match current.as_slice() {
            [one] => format!("{one}:{target}"),
            _ => target.to_string(),
        };
        let (ok, output) = self.run_stdout(&["upgrade", &range, "--sql"]).await?;
        if !ok {
            return Err(Error::AlembicFailed {
                revision: None,
                path: None,
                now_at: current,
                output: tail(&output, 30),
            });
        }
        Ok(output)
    }

    /// Runs Alembic with `args`; the output is stdout and stderr together.
    async fn run(&self, args: &[&str]) -> Result<(bool, String), Error> {
        self.run_with(args, false).await
    }

    /// Like `run`, but on success only stdout (offline SQL).
    async fn run_stdout(&self, args: &[&str]) -> Result<(bool, String), Error> {
        self.run_with(args, true).await
    }

    async fn run_with(&self, args: &[&str], stdout_only: bool) -> Result<(bool, String), Error> {
        let out = preflight_process::output(self.command(args))
            .await
            .map_err(|source| Error::Spawn {
                program: self.project.command.join(" "),
                source,
            })?;
        let ok = out.status.success();
        let mut text = String::new();
        if !stdout_only || ok {
            text.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        if !stdout_only || !ok {
            text.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        Ok((
            ok,
            crate::backup::redact_password(&text, &self.database_url),
        ))
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let program = self
            .project
            .command
            .first()
            .cloned()
            .unwrap_or_else(|| "alembic".into());
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(&self.project.command[1.min(self.project.command.len())..])
            .args(args)
            .current_dir(&self.project.workdir)
            .env(&self.project.url_env, &self.database_url)
            .envs(self.project.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }
}

fn status_of(
    graph: &RevisionGraph,
    current: Vec<String>,
    target: &str,
) -> Result<AlembicStatus, Error> {
    let plan = graph.upgrade_plan(&current, target)?;
    Ok(AlembicStatus {
        target: target.to_string(),
        target_heads: graph
            .resolve(target)?
            .into_iter()
            .map(str::to_string)
            .collect(),
        pending: plan.steps.iter().map(|r| r.id.clone()).collect(),
        heads_after: plan.heads_after,
        current,
    })
}

/// Which revision failed: the last revision file in the traceback, else the
/// last "Running upgrade A -> B" log line, else the first planned step the
/// database did not reach.
fn failing_revision<'g>(
    graph: &'g RevisionGraph,
    output: &str,
    pending: &[String],
    now_at: &[String],
) -> Option<&'g Revision> {
    let in_traceback = output.lines().rev().find_map(|l| {
        let file = l.trim_start().strip_prefix("File \"")?.split('"').next()?;
        graph
            .revisions()
            .iter()
            .find(|r| Path::new(file).file_name() == r.path.file_name())
    });
    if in_traceback.is_some() {
        return in_traceback;
    }
    if let Some(id) = logged_revision(output) {
        return graph.get(&id);
    }
    let done: std::collections::HashSet<&str> = now_at
        .iter()
        .filter_map(|h| graph.upgrade_plan(&[], h).ok())
        .flat_map(|p| p.steps.into_iter().map(|r| r.id.as_str()))
        .collect();
    pending
        .iter()
        .find(|p| !done.contains(p.as_str()))
        .and_then(|id| graph.get(id))
}

/// The revision of the last "Running upgrade A -> B, message" log line.
fn logged_revision(output: &str) -> Option<String> {
    output
        .lines()
        .rev()
        .find_map(|l| l.split_once("Running upgrade ").map(|(_, rest)| rest))
        .and_then(|rest| rest.split_once("-> "))
        .map(|(_, to)| to.split(", ").next().unwrap_or(to).trim().to_string())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_failing_revision_in_alembic_output() {
        let out = "INFO  [alembic.runtime.migration] Running upgrade  -> 0001, init\n\
                   INFO  [alembic.runtime.migration] Running upgrade 0001 -> 0002, add, things\n\
                   Traceback (most recent call last):\n";
        assert_eq!(logged_revision(out).as_deref(), Some("0002"));
        assert_eq!(logged_revision("nothing"), None);
    }
}
