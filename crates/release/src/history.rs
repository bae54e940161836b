//! Release history: the release in flight, past releases, one release's
//! record. Read from the state files under `.preflight/releases/<env>/`
//! and, when the environment has one, the artifact store's
//! `release_logs/<id>/<id>.json` (so a release run in CI is visible from a
//! laptop).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::{Phase, ReleaseEvent, ReleaseLog, ReleaseStatus};
use crate::error::Error;
use crate::platform::Platform;

/// Written beside a running release's state, at each phase and step, and
/// removed when it ends: what `release status` shows of a run in flight.
const LIVE_FILE: &str = "live.json";

/// Where a running release is, as it last wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveProgress {
    /// The release id.
    pub release_id: String,
    /// The environment.
    pub env: String,
    /// Which run of this release id.
    pub attempt: u32,
    /// Who runs it.
    pub operator: String,
    /// The process running it, on the machine that wrote this file.
    pub pid: u32,
    /// When the run started.
    pub started_at: jiff::Timestamp,
    /// The phase running now.
    pub phase: Option<Phase>,
    /// The last step that finished in it.
    pub step: Option<String>,
    /// When this file was last written.
    pub updated_at: jiff::Timestamp,
}

/// Keeps `live.json` current while a release runs (not in a dry run).
#[derive(Debug)]
pub(crate) struct LiveWriter {
    path: PathBuf,
    progress: LiveProgress,
}

impl LiveWriter {
    pub(crate) fn new(run_dir: &Path, log: &ReleaseLog) -> LiveWriter {
        let now = jiff::Timestamp::now();
        LiveWriter {
            path: run_dir.join(LIVE_FILE),
            progress: LiveProgress {
                release_id: log.release_id.clone(),
                env: log.env.clone(),
                attempt: log.attempt,
                operator: log.operator.clone(),
                pid: std::process::id(),
                started_at: now,
                phase: None,
                step: None,
                updated_at: now,
            },
        }
    }

    /// Follows the run's events. Progress is advisory: a write that fails
    /// never stops a release.
    pub(crate) fn observe(&mut self, event: &ReleaseEvent) {
        match event {
            ReleaseEvent::PhaseStarted { phase } => {
                self.progress.phase = Some(*phase);
                self.progress.step = None;
            }
            ReleaseEvent::Step { phase, name, .. } => {
                self.progress.phase = Some(*phase);
                self.progress.step = Some(name.clone());
            }
            ReleaseEvent::WatchRound {
                round,
                passed,
                total,
                remaining_secs,
            } => {
                self.progress.step = Some(format!(
                    "watch round {round}: {passed}/{total} probes passed, {remaining_secs} s left"
                ));
            }
            ReleaseEvent::Finished { .. } => {
                let _ = std::fs::remove_file(&self.path);
                return;
            }
            _ => return,
        }
        self.progress.updated_at = jiff::Timestamp::now();
        if let Ok(text) = serde_json::to_string_pretty(&self.progress) {
            let tmp = self.path.with_extension("json.tmp");
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, &self.path);
            }
        }
    }
}

impl Drop for LiveWriter {
    fn drop(&mut self) {
        // A run that returned early (an error) is not in flight either.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One past or running release, for `release list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseSummary {
    /// The release id.
    pub release_id: String,
    /// The environment.
    pub env: String,
    /// Which run of this release id (the latest).
    pub attempt: u32,
    /// How it ended (`running` while in flight or stopped part-way).
    pub status: ReleaseStatus,
    /// The phase that failed.
    pub failed_phase: Option<Phase>,
    /// Who ran it.
    pub operator: String,
    /// The manifest file and its SHA-256.
    pub manifest: String,
    /// SHA-256 of the manifest.
    pub manifest_sha256: String,
    /// When it started.
    pub started_at: jiff::Timestamp,
    /// When it ended.
    pub finished_at: Option<jiff::Timestamp>,
    /// How long it took, in seconds (until now when unfinished).
    pub duration_secs: u64,
    /// Where the record was read: a local state file or the artifact store.
    pub source: String,
}

impl ReleaseSummary {
    fn of(log: &ReleaseLog, source: String) -> ReleaseSummary {
        let end = log.finished_at.unwrap_or_else(jiff::Timestamp::now);
        ReleaseSummary {
            release_id: log.release_id.clone(),
            env: log.env.clone(),
            attempt: log.attempt,
            status: log.status,
            failed_phase: log.failed_phase,
            operator: log.operator.clone(),
            manifest: log.manifest.clone(),
            manifest_sha256: log.manifest_sha256.clone(),
            started_at: log.started_at,
            finished_at: log.finished_at,
            duration_secs: end.duration_since(log.started_at).as_secs().max(0) as u64,
            source,
        }
    }
}

/// The release in flight in an environment, for `release status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InFlight {
    /// Where it is, as it last wrote it.
    pub progress: LiveProgress,
    /// Seconds since it started.
    pub elapsed_secs: u64,
    /// Whether the process that wrote it still runs on this machine
    /// (`false`: it died, and the state file says where it stopped).
    pub process_alive: bool,
    /// Who holds the environment's release lock, as the lock says.
    pub lock_holder: Option<String>,
}

/// What `release status` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvStatus {
    /// The environment.
    pub env: String,
    /// Releases in flight (normally at most one).
    pub in_flight: Vec<InFlight>,
    /// The newest release that ended.
    pub last: Option<ReleaseSummary>,
}

fn releases_dir(platform: &Platform, env: &str) -> PathBuf {
    platform.state_dir().join("releases").join(env)
}

/// Where logs read from an artifact store are kept (checked on download).
fn cache_dir(platform: &Platform, env: &str) -> PathBuf {
    platform
        .state_dir()
        .join("cache")
        .join("release_logs")
        .join(env)
}

/// A JSON file, or `None` when it does not exist.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| Error::Decode {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Every run folder of `env` on this machine.
fn run_dirs(platform: &Platform, env: &str) -> Result<Vec<PathBuf>, Error> {
    let dir = releases_dir(platform, env);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Read { path: dir, source }),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Every release record of `env` on this machine (its state files).
/// (Earlier attempts too: `attempt-<n>.state.json`.)
pub(crate) fn local_logs(platform: &Platform, env: &str) -> Vec<ReleaseLog> {
    let mut files = Vec::new();
    for dir in run_dirs(platform, env).unwrap_or_default() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "state.json"
                || (name.starts_with("attempt-") && name.ends_with(".state.json"))
            {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
        .iter()
        .filter_map(|f| read_json::<ReleaseLog>(f).ok().flatten())
        .collect()
}

/// Past and running releases of `env`, newest first: local state files,
/// then the artifact store's logs of releases this machine did not run.
/// A store that cannot be read is reported in the second value, not fatal.
pub async fn list_releases(
    platform: &Platform,
    env: &str,
) -> Result<(Vec<ReleaseSummary>, Option<String>), Error> {
    platform.environment(env)?;
    let mut found = Vec::new();
    for dir in run_dirs(platform, env)? {
        let state = dir.join("state.json");
        if let Some(log) = read_json::<ReleaseLog>(&state)? {
            found.push(ReleaseSummary::of(&log, state.display().to_string()));
        }
    }
    let mut store_problem = None;
    match platform.artifact_store(env).await {
        Ok(store) => {
            let local: Vec<String> = found.iter().map(|s| s.release_id.clone()).collect();
            match store_logs(store.as_ref(), &cache_dir(platform, env), |id| {
                !local.iter().any(|l| l == id)
            })
            .await
            {
                Ok(logs) => found.extend(
                    logs.iter()
                        .map(|(uri, log)| ReleaseSummary::of(log, uri.clone())),
                ),
                Err(e) => store_problem = Some(crate::error::error_text(&e)),
            }
        }
        Err(why) => store_problem = Some(why),
    }
    found.sort_by_key(|s| std::cmp::Reverse(s.started_at));
    Ok((found, store_problem))
}

/// The JSON logs in `store` of the releases `wanted` accepts.
async fn store_logs(
    store: &dyn preflight_migrate::ArtifactStore,
    cache: &Path,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<(String, ReleaseLog)>, Error> {
    let store_error = |source| Error::Migrate {
        what: format!("cannot read the release logs in {}", store.location()),
        source: Box::new(source),
    };
    let artifacts = store.list("release_logs/").await.map_err(store_error)?;
    std::fs::create_dir_all(cache).map_err(|source| Error::Write {
        path: cache.to_path_buf(),
        source,
    })?;
    let mut logs = Vec::new();
    for artifact in artifacts {
        // `release_logs/<id>/<id>.json`: the latest attempt's record.
        let mut parts = artifact.key.split('/');
        let (Some("release_logs"), Some(id), Some(file), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if file != format!("{id}.json") || !wanted(id) {
            continue;
        }
        let dest = cache.join(file);
        store
            .get_file(&artifact.key, &dest)
            .await
            .map_err(store_error)?;
        if let Some(log) = read_json::<ReleaseLog>(&dest)? {
            logs.push((artifact.uri.clone(), log));
        }
    }
    Ok(logs)
}

/// One release's full record: the local state file (`env` narrows the
/// search), else the artifact store of `env`.
pub async fn show_release(
    platform: &Platform,
    env: Option<&str>,
    release_id: &str,
) -> Result<ReleaseLog, Error> {
    let envs: Vec<String> = match env {
        Some(e) => {
            platform.environment(e)?;
            vec![e.to_string()]
        }
        None => platform
            .config
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect(),
    };
    for env in &envs {
        let state = releases_dir(platform, env)
            .join(release_id)
            .join("state.json");
        if let Some(log) = read_json::<ReleaseLog>(&state)? {
            return Ok(log);
        }
    }
    for env in &envs {
        if let Ok(store) = platform.artifact_store(env).await {
            let logs = store_logs(store.as_ref(), &cache_dir(platform, env), |id| {
                id == release_id
            })
            .await?;
            if let Some((_, log)) = logs.into_iter().next() {
                return Ok(log);
            }
        }
    }
    Err(Error::Unknown {
        what: "release",
        name: release_id.to_string(),
        config: platform.config.path.clone(),
        known: {
            let mut known = Vec::new();
            for env in &envs {
                for dir in run_dirs(platform, env)? {
                    if let Some(name) = dir.file_name() {
                        known.push(name.to_string_lossy().into_owned());
                    }
                }
            }
            known
        },
    })
}

/// The release in flight in `env` (from its `live.json`, the process and
/// the lock file), and the newest one that ended.
pub async fn release_status(platform: &Platform, env: &str) -> Result<EnvStatus, Error> {
    platform.environment(env)?;
    let mut in_flight = Vec::new();
    let lock_file = platform
        .state_dir()
        .join("locks")
        .join(format!("{env}.lock"));
    let mut lock_holder = std::fs::read_to_string(&lock_file)
        .ok()
        .map(|t| t.trim().to_string());
    let runs = run_dirs(platform, env)?;
    let flying = runs.iter().any(|d| d.join(LIVE_FILE).is_file());
    if lock_holder.is_none() && flying {
        // The lock of an environment with databases is held on its first one.
        if let Ok(target) = platform.target(env).await
            && let Some(Ok(db)) = target.databases.values().next()
        {
            lock_holder = crate::engine::lock::database_holder(&db.url, env).await;
        }
    }
    for dir in runs {
        if let Some(progress) = read_json::<LiveProgress>(&dir.join(LIVE_FILE))? {
            let process_alive = Path::new("/proc").join(progress.pid.to_string()).exists();
            let elapsed_secs = jiff::Timestamp::now()
                .duration_since(progress.started_at)
                .as_secs()
                .max(0) as u64;
            in_flight.push(InFlight {
                lock_holder: lock_holder.clone(),
                progress,
                elapsed_secs,
                process_alive,
            });
        }
    }
    let (all, _) = list_releases(platform, env).await?;
    let last = all.into_iter().find(|s| s.finished_at.is_some());
    Ok(EnvStatus {
        env: env.to_string(),
        in_flight,
        last,
    })
}
