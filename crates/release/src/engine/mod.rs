//! The release engine: B3 (`release_runbook_b3.md` §3) from a manifest.
//! Preflight checks, freeze, hard gate, soft gate, backup, migrate,
//! verify, deploy, smoke and an optional watch; a failed hard step stops
//! the run and leaves the state for `--resume`. No phase runs past a hard
//! gate or backup that has not passed in this release's recorded state,
//! unless an operator skipped it on the record.

mod html;
pub(crate) mod lock;
mod phases;
mod record;

use std::path::{Path, PathBuf};
use std::time::Instant;

use preflight_checklist::StepRef;
use preflight_manifest::{Manifest, ManifestDiff};
use serde::Serialize;
use sha2::Digest as _;

pub use record::{
    ChecklistSection, ChecklistState, OperatorDecision, Phase, PhaseRecord, PhaseStatus,
    ReleaseLog, ReleaseStatus, StepRecord, next_step,
};

use crate::error::Error;
use crate::platform::{LOCAL_ENV, Platform};
use phases::Pipeline;

/// What a release run is asked to do.
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    /// The platform config (`preflight.yaml`).
    pub config: PathBuf,
    /// The release manifest.
    pub manifest: PathBuf,
    /// The environment to release to.
    pub env: String,
    /// Plan every phase, change nothing.
    pub dry_run: bool,
    /// Continue a failed release from its failed phase.
    pub resume: bool,
    /// Run only this phase (after the preflight checks).
    pub only: Option<Phase>,
    /// Start at this phase (after the preflight checks).
    pub from: Option<Phase>,
    /// Phases the operator skips on the record; needs `skip_reason`, and
    /// a protected environment refuses it.
    pub skip: Vec<Phase>,
    /// Why, for the record.
    pub skip_reason: Option<String>,
    /// Who runs it, for the log, ledgers and checklist.
    pub operator: String,
    /// How many probes run at once.
    pub concurrency: usize,
    /// How many databases are backed up or migrated at once.
    pub jobs: usize,
    /// Becomes `true` on SIGINT/SIGTERM ([`preflight_migrate::interrupt_on_signals`]):
    /// the running phase stops (a migration is cancelled on the server and
    /// rolled back, commands' process groups end), is recorded as
    /// interrupted, and `--resume` runs it again.
    pub interrupt: Option<preflight_migrate::Interrupt>,
    /// The checklist state log's signing key: entries are checked and signed.
    pub checklist_key: Option<preflight_checklist::SigningKey>,
    /// This run rolls the environment back from the release named here:
    /// it redeploys this manifest's images at once (no canary) and does
    /// not check the checkouts (the images were built from them already).
    /// Set by [`crate::rollback_release`].
    pub rollback_of: Option<String>,
}

impl ReleaseOptions {
    /// Options for a full release of `manifest` to `env` with the defaults.
    pub fn new(config: impl Into<PathBuf>, manifest: impl Into<PathBuf>, env: &str) -> Self {
        ReleaseOptions {
            config: config.into(),
            manifest: manifest.into(),
            env: env.to_string(),
            dry_run: false,
            resume: false,
            only: None,
            from: None,
            skip: Vec::new(),
            skip_reason: None,
            operator: crate::platform::operator(),
            concurrency: 8,
            jobs: 4,
            interrupt: None,
            checklist_key: None,
            rollback_of: None,
        }
    }
}

/// Progress, for a live view or JSON lines.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ReleaseEvent {
    /// The release holds the environment's lock and starts.
    Started {
        /// The release id (`2026-02-14-prod`).
        release_id: String,
        /// The environment.
        env: String,
        /// Nothing will change.
        dry_run: bool,
        /// Continues an earlier failed run.
        resumed: bool,
        /// Which run of this release id (1 for the first).
        attempt: u32,
    },
    /// A phase starts.
    PhaseStarted {
        /// The phase.
        phase: Phase,
    },
    /// A step of a phase finished (or, in a dry run, is planned).
    Step {
        /// The phase.
        phase: Phase,
        /// Its name.
        name: String,
        /// The step passed.
        passed: bool,
        /// One line for people.
        summary: String,
    },
    /// One round of the watch window finished (so a long window is never silent).
    WatchRound {
        /// Which round (1 for the first).
        round: u32,
        /// Probes that passed in this round.
        passed: usize,
        /// Probes run in this round.
        total: usize,
        /// Seconds left in the window.
        remaining_secs: u64,
    },
    /// A phase finished.
    PhaseFinished {
        /// The phase.
        phase: Phase,
        /// How it ended.
        status: PhaseStatus,
        /// One line for people.
        summary: String,
        /// How long it took, in milliseconds.
        duration_ms: u64,
    },
    /// The release finished; `log` is the Markdown log's path.
    Finished {
        /// How it ended.
        status: ReleaseStatus,
        /// Where the Markdown log was written.
        log: Option<String>,
    },
}

/// Runs a release and returns its record. `Err` means it could not start
/// (invalid config or manifest, a refused skip, another release holds the
/// lock); a release that started and failed is `Ok` with
/// [`ReleaseStatus::Failed`].
pub async fn run_release(
    options: &ReleaseOptions,
    on_event: &mut dyn FnMut(&ReleaseEvent),
) -> Result<ReleaseLog, Error> {
    let platform = Platform::load(&options.config)?;
    let env = options.env.as_str();
    let environment = platform.environment(env)?.clone();
    check_skips(options, environment.protected)?;
    let manifest = platform.load_manifest(&options.manifest, Some(env))?;
    let manifest_text = std::fs::read(&options.manifest).map_err(|source| Error::Read {
        path: options.manifest.clone(),
        source,
    })?;
    let manifest_sha256 = hex(&sha2::Sha256::digest(&manifest_text));
    let release_id = manifest.release_id.to_string();
    let run_dir = platform
        .state_dir()
        .join("releases")
        .join(env)
        .join(&release_id);
    let state_path = run_dir.join("state.json");
    let previous = read_state(&state_path)?;

    // One release per environment; the lock is held until this returns.
    let target = platform.target(env).await?;
    let _lock = if options.dry_run {
        None
    } else {
        let holder = format!("preflight release {release_id} by {}", options.operator);
        Some(match target.databases.values().next() {
            Some(Ok(db)) => lock::acquire_database(&db.url, env, &holder).await?,
            Some(Err(why)) => {
                return Err(Error::Refused(format!(
                    "cannot take the release lock of `{env}`: its first database {why}"
                )));
            }
            None => lock::acquire_file(
                platform
                    .state_dir()
                    .join("locks")
                    .join(format!("{env}.lock")),
                env,
                &holder,
            )?,
        })
    };

    let mut log = match (options.resume, previous) {
        (true, None) => {
            return Err(Error::Refused(format!(
                "no failed run of {release_id} in `{env}` to resume ({} is missing)",
                state_path.display()
            )));
        }
        (true, Some(mut log)) => {
            if log.manifest_sha256 != manifest_sha256 {
                return Err(Error::Refused(format!(
                    "{} changed since the failed run of {release_id}; a resumed release must ship the same manifest (run it again without --resume)",
                    options.manifest.display()
                )));
            }
            if log.status == ReleaseStatus::Succeeded {
                return Err(Error::Refused(format!(
                    "release {release_id} already succeeded in `{env}`; nothing to resume"
                )));
            }
            log.resumed += 1;
            log.status = ReleaseStatus::Running;
            log.failed_phase = None;
            log.next_step = None;
            log
        }
        (false, previous) => {
            let mut log = ReleaseLog {
                release_id: release_id.clone(),
                env: env.to_string(),
                platform: platform.config.platform.clone(),
                operator: options.operator.clone(),
                // Absolute, so the archived log names the file wherever it is read.
                manifest: std::path::absolute(&options.manifest)
                    .unwrap_or_else(|_| options.manifest.clone())
                    .display()
                    .to_string(),
                manifest_sha256: manifest_sha256.clone(),
                started_at: jiff::Timestamp::now(),
                finished_at: None,
                status: if options.dry_run {
                    ReleaseStatus::DryRun
                } else {
                    ReleaseStatus::Running
                },
                phases: Phase::ALL
                    .iter()
                    .map(|&p| PhaseRecord::not_run(p))
                    .collect(),
                diff: None,
                failed_phase: None,
                next_step: None,
                checklist_archive: None,
                checklist_anchor: None,
                uploaded_to: Vec::new(),
                notified: None,
                resumed: 0,
                attempt: previous.as_ref().map_or(1, |p| p.attempt + 1),
                protected: environment.protected,
                checklist: None,
                rollback_of: options.rollback_of.clone(),
                playbook: Vec::new(),
            };
            if let Some(prev) = previous {
                // A new attempt: the earlier one keeps its own state file.
                if !options.dry_run {
                    let kept = run_dir.join(format!("attempt-{}.state.json", prev.attempt));
                    std::fs::rename(&state_path, &kept).map_err(|source| Error::Write {
                        path: kept.clone(),
                        source,
                    })?;
                }
                // Guards that passed earlier, for the same manifest, stay passed.
                if prev.manifest_sha256 == manifest_sha256 {
                    for phase in Phase::ALL.into_iter().filter(|p| p.guards()) {
                        if let (Some(old), Some(slot)) = (
                            prev.phase(phase).filter(|p| p.status.done()),
                            log.phases.iter_mut().find(|p| p.phase == phase),
                        ) {
                            *slot = old.clone();
                            slot.carried_from = Some(old.carried_from.unwrap_or(prev.attempt));
                        }
                    }
                }
            }
            log
        }
    };
    if !options.dry_run {
        std::fs::create_dir_all(&run_dir).map_err(|source| Error::Write {
            path: run_dir.clone(),
            source,
        })?;
    }
    // `release status` follows a run through this file (not for dry runs).
    let mut live = (!options.dry_run).then(|| crate::history::LiveWriter::new(&run_dir, &log));
    let on_event = &mut |e: &ReleaseEvent| {
        if let Some(live) = live.as_mut() {
            live.observe(e);
        }
        on_event(e);
    };
    // Announced once the lock is held: a watcher knows the run owns the env.
    on_event(&ReleaseEvent::Started {
        release_id: release_id.clone(),
        env: env.to_string(),
        dry_run: options.dry_run,
        resumed: options.resume,
        attempt: log.attempt,
    });

    let mut pipeline = Pipeline::new(&platform, options, &manifest, &target, &run_dir, on_event)?;
    log.diff = previous_release_diff(&platform, env, &manifest);
    pipeline.remember_frozen(log.phase(Phase::Freeze));
    pipeline.notify_started(&log).await;

    for phase in Phase::ALL {
        if !selected(options, phase, &log) {
            // A rollback runs from the deploy: what comes before is not
            // part of it, which its record says.
            if options.rollback_of.is_some()
                && !options.dry_run
                && let Some(slot) = log.phases.iter_mut().find(|p| p.phase == phase)
                && !slot.status.done()
            {
                slot.status = PhaseStatus::Skipped;
                slot.summary =
                    "not part of a rollback, which redeploys images built and migrated for earlier"
                        .to_string();
            }
            continue;
        }
        (pipeline.on_event)(&ReleaseEvent::PhaseStarted { phase });
        let started_at = jiff::Timestamp::now();
        let clock = Instant::now();
        let mut record = if options.skip.contains(&phase) {
            operator_skip(options, phase)
        } else if let Some(refusal) = unguarded(phase, &log).filter(|_| !options.dry_run) {
            PhaseRecord {
                status: PhaseStatus::Failed,
                summary: refusal,
                ..PhaseRecord::not_run(phase)
            }
        } else if options.dry_run && phase != Phase::Preflight {
            pipeline.plan(phase).await
        } else if is_interrupted(options) {
            interrupted_record(phase)
        } else {
            match options.interrupt.clone() {
                // Migrations stop through their own cancel request (dropping
                // one mid-statement would let the server commit it later).
                Some(mut interrupt) if phase != Phase::Migrate => {
                    let stop = async move {
                        if interrupt.wait_for(|stop| *stop).await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    };
                    tokio::select! {
                        record = pipeline.run(phase) => record,
                        () = stop => interrupted_record(phase),
                    }
                }
                _ => {
                    let record = pipeline.run(phase).await;
                    if phase == Phase::Migrate && is_interrupted(options) {
                        PhaseRecord {
                            steps: record.steps,
                            ..interrupted_record(phase)
                        }
                    } else {
                        record
                    }
                }
            }
        };
        record.started_at = Some(started_at);
        record.duration = clock.elapsed();
        // Steps were redacted as they were recorded; the summary is the rest.
        record.summary = pipeline.redactor.redact(&record.summary);
        // A skipped phase proved nothing: its items stay open, with the reason.
        pipeline.apply_checklist(
            &StepRef::Phase(phase.as_str().to_string()),
            record.status.proved(),
            &record.summary,
        );
        (pipeline.on_event)(&ReleaseEvent::PhaseFinished {
            phase,
            status: record.status,
            summary: record.summary.clone(),
            duration_ms: record.duration.as_millis() as u64,
        });
        let failed = matches!(
            record.status,
            PhaseStatus::Failed | PhaseStatus::Interrupted
        );
        // A failure once canaries serve traffic puts the traffic back.
        let rolled_back = if failed && matches!(phase, Phase::Deploy | Phase::Smoke | Phase::Watch)
        {
            let freeze_done = log
                .phase(Phase::Freeze)
                .is_some_and(|p| matches!(p.status, PhaseStatus::Passed | PhaseStatus::Warned));
            let clock = Instant::now();
            let next = pipeline.after_failure(&mut record, freeze_done).await;
            record.duration += clock.elapsed();
            record.summary = pipeline.redactor.redact(&record.summary);
            next
        } else {
            None
        };
        if let Some(slot) = log.phases.iter_mut().find(|p| p.phase == phase) {
            *slot = record;
        }
        if failed {
            log.failed_phase = Some(phase);
            log.next_step = Some(next_step(phase).to_string());
        }
        if let Some(next) = rolled_back {
            if phase != Phase::Deploy
                && let Some(deploy) = log.phases.iter_mut().find(|p| p.phase == Phase::Deploy)
                && deploy.status.done()
            {
                deploy.status = PhaseStatus::RolledBack;
                deploy.summary = format!("{} — rolled back after {phase} failed", deploy.summary);
            }
            log.next_step = Some(next);
        }
        if !options.dry_run {
            save_state(&state_path, &log)?;
        }
        if failed {
            let summary = log
                .phase(phase)
                .map(|p| p.summary.clone())
                .unwrap_or_default();
            pipeline.notify_failed(&log, phase, &summary).await;
            break;
        }
    }

    log.finished_at = Some(jiff::Timestamp::now());
    log.status = if options.dry_run {
        ReleaseStatus::DryRun
    } else if log.failed_phase.is_some() {
        ReleaseStatus::Failed
    } else if log.phases.iter().all(|p| p.status.done()) {
        ReleaseStatus::Succeeded
    } else {
        ReleaseStatus::Running
    };
    let mut log_path = None;
    if !options.dry_run {
        if log.status == ReleaseStatus::Succeeded {
            log.checklist_archive = pipeline.archive_checklist(&release_id, log.attempt)?;
        }
        log.checklist_anchor = pipeline.checklist.as_ref().map(|run| run.log.anchor());
        log.checklist = pipeline
            .checklist
            .as_ref()
            .map(|run| preflight_checklist::progress(&run.checklist, &run.log.state()).into());
        log.playbook = pipeline.playbook(&log, &options.config);
        log.notified = pipeline.notify(&log).await;
        let written = write_logs(&platform, env, &log)?;
        log.uploaded_to = upload_logs(&target, &release_id, &written).await;
        // Rewrite with the upload locations now known.
        write_logs(&platform, env, &log)?;
        save_state(&state_path, &log)?;
        log_path = written.first().map(|p| p.display().to_string());
    }
    (pipeline.on_event)(&ReleaseEvent::Finished {
        status: log.status,
        log: log_path,
    });
    Ok(log)
}

/// Skips need a reason, never touch the preflight checks, and are refused
/// in a protected environment.
fn check_skips(options: &ReleaseOptions, protected: bool) -> Result<(), Error> {
    if options.skip.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = options.skip.iter().map(|p| p.as_str()).collect();
    if protected {
        return Err(Error::Refused(format!(
            "`{}` is a protected environment: phases cannot be skipped (asked to skip {})",
            options.env,
            names.join(", ")
        )));
    }
    if options.skip.contains(&Phase::Preflight) {
        return Err(Error::Refused(
            "the preflight checks cannot be skipped".to_string(),
        ));
    }
    if options
        .skip_reason
        .as_deref()
        .is_none_or(|r| r.trim().is_empty())
    {
        return Err(Error::Refused(format!(
            "skipping {} needs a reason for the record (--reason TEXT)",
            names.join(", ")
        )));
    }
    Ok(())
}

/// Whether `phase` runs in this invocation.
fn selected(options: &ReleaseOptions, phase: Phase, log: &ReleaseLog) -> bool {
    if phase == Phase::Preflight {
        return true;
    }
    if let Some(only) = options.only {
        return phase == only || options.skip.contains(&phase) && phase < only;
    }
    if let Some(from) = options.from {
        return phase >= from || options.skip.contains(&phase);
    }
    if options.resume {
        return !log.phase(phase).is_some_and(|p| p.status.done());
    }
    true
}

/// Why `phase` must not run yet: a guard before it (hard gate, backup)
/// has neither passed in this release's recorded state nor been skipped
/// by an operator. `None` when it may run.
fn unguarded(phase: Phase, log: &ReleaseLog) -> Option<String> {
    let missing: Vec<Phase> = Phase::ALL
        .into_iter()
        .filter(|g| g.guards() && *g < phase)
        .filter(|g| !log.phase(*g).is_some_and(|p| p.status.done()))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let names: Vec<&str> = missing.iter().map(|p| p.as_str()).collect();
    Some(format!(
        "refusing to run {phase}: {} has not passed in this release's recorded state; run it first (--from {}) or skip it on the record (--skip {} --reason TEXT)",
        names.join(" and "),
        names[0],
        names[0]
    ))
}

fn is_interrupted(options: &ReleaseOptions) -> bool {
    options.interrupt.as_ref().is_some_and(|i| *i.borrow())
}

fn interrupted_record(phase: Phase) -> PhaseRecord {
    PhaseRecord {
        status: PhaseStatus::Interrupted,
        summary: "interrupted (SIGINT/SIGTERM): what ran was stopped and rolled back; --resume runs this phase again".into(),
        ..PhaseRecord::not_run(phase)
    }
}

fn operator_skip(options: &ReleaseOptions, phase: Phase) -> PhaseRecord {
    let reason = options.skip_reason.clone().unwrap_or_default();
    PhaseRecord {
        status: PhaseStatus::SkippedByOperator,
        summary: format!("skipped by {}: {reason}", options.operator),
        decision: Some(OperatorDecision {
            by: options.operator.clone(),
            reason,
            at: jiff::Timestamp::now(),
        }),
        ..PhaseRecord::not_run(phase)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_state(path: &Path) -> Result<Option<ReleaseLog>, Error> {
    crate::history::read_json(path)
}

fn save_state(path: &Path, log: &ReleaseLog) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(log).map_err(Error::Encode)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|source| Error::Write {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// `local` rehearsals log under `.preflight/` (they are not releases);
/// other environments under the config's `release.log_dir`.
pub fn log_dir(platform: &Platform, env: &str) -> PathBuf {
    if env == LOCAL_ENV {
        platform.state_dir().join("release_logs")
    } else {
        platform.root().join(&platform.config.release.log_dir)
    }
}

/// Writes the log as Markdown, JSON and JUnit: `<id>.*` is the latest
/// attempt, `<id>/attempt-<n>.*` each attempt's own (never overwritten by
/// a later attempt).
fn write_logs(platform: &Platform, env: &str, log: &ReleaseLog) -> Result<Vec<PathBuf>, Error> {
    let dir = log_dir(platform, env);
    let attempt_dir = dir.join(&log.release_id);
    std::fs::create_dir_all(&attempt_dir).map_err(|source| Error::Write {
        path: attempt_dir.clone(),
        source,
    })?;
    let mut written = Vec::new();
    let json = serde_json::to_string_pretty(log).map_err(Error::Encode)?;
    for (ext, text) in [
        ("md", log.to_markdown()),
        ("json", json),
        ("junit.xml", log.to_junit()),
        ("html", log.to_html()),
    ] {
        for path in [
            dir.join(format!("{}.{ext}", log.release_id)),
            attempt_dir.join(format!("attempt-{}.{ext}", log.attempt)),
        ] {
            std::fs::write(&path, &text).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Uploads the log files to the environment's artifact store; a failed
/// upload is recorded, not fatal (the files are on disk).
async fn upload_logs(
    target: &crate::target::Target,
    release_id: &str,
    files: &[PathBuf],
) -> Vec<String> {
    let store = match target.artifact_store() {
        Ok(s) => s,
        Err(e) => return vec![format!("not uploaded: {}", crate::error::error_text(&e))],
    };
    let mut out = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = format!("release_logs/{release_id}/{name}");
        match store.put_file(file, &key).await {
            Ok(a) => out.push(a.uri),
            Err(e) => out.push(format!("not uploaded: {}", crate::error::error_text(&e))),
        }
    }
    out
}

/// The manifest diff against the newest earlier manifest for the same env.
fn previous_release_diff(platform: &Platform, env: &str, manifest: &Manifest) -> Option<String> {
    let dir = platform.root().join(&platform.config.manifests_dir);
    let current = manifest.release_id.to_string();
    let mut candidates: Vec<Manifest> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter_map(|p| platform.load_manifest(&p, Some(env)).ok())
        .filter(|m| m.release_id.to_string() < current)
        .collect();
    candidates.sort_by_key(|m| m.release_id.to_string());
    let previous = candidates.pop()?;
    let diff = ManifestDiff::between(&previous, manifest);
    Some(format!(
        "against {}\n{}",
        previous.release_id,
        diff.render()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(statuses: &[(Phase, PhaseStatus)]) -> ReleaseLog {
        let mut phases: Vec<PhaseRecord> = Phase::ALL
            .iter()
            .map(|&p| PhaseRecord::not_run(p))
            .collect();
        for (phase, status) in statuses {
            phases
                .iter_mut()
                .find(|p| p.phase == *phase)
                .unwrap()
                .status = *status;
        }
        ReleaseLog {
            release_id: "2026-02-14-dev".into(),
            env: "dev".into(),
            platform: "p".into(),
            operator: "op".into(),
            manifest: "m.yaml".into(),
            manifest_sha256: String::new(),
            started_at: jiff::Timestamp::UNIX_EPOCH,
            finished_at: None,
            status: ReleaseStatus::Running,
            phases,
            diff: None,
            failed_phase: None,
            next_step: None,
            checklist_archive: None,
            checklist_anchor: None,
            uploaded_to: Vec::new(),
            notified: None,
            resumed: 0,
            attempt: 1,
            protected: false,
            checklist: None,
            rollback_of: None,
            playbook: Vec::new(),
        }
    }

    /// Every value reaches the page as text: step names, summaries,
    /// evidence, operators and the diff cannot add markup or script.
    #[test]
    fn the_html_report_escapes_every_value() {
        let mut log = log_with(&[(Phase::Preflight, PhaseStatus::Failed)]);
        log.operator = "<img src=x onerror=alert(1)>".into();
        log.diff = Some("</pre><script>alert(2)</script>".into());
        let phase = log
            .phases
            .iter_mut()
            .find(|p| p.phase == Phase::Preflight)
            .unwrap();
        phase.started_at = Some(jiff::Timestamp::UNIX_EPOCH);
        phase.summary = "\"><b>bold</b>".into();
        phase.steps.push(StepRecord {
            name: "<script>alert(3)</script>".into(),
            kind: "command".into(),
            target: String::new(),
            severity: preflight_verify::Severity::Hard,
            outcome: preflight_verify::Outcome::Failed,
            attempts: 1,
            duration: std::time::Duration::from_millis(5),
            summary: "exit 1 & more".into(),
            evidence: vec!["<script>alert(4)</script>\u{1b}[31m".into()],
        });
        let html = log.to_html();
        assert!(!html.contains("<script"), "{html}");
        assert!(
            !html.contains("<img") && !html.contains("<b>bold"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;alert(4)&lt;/script&gt;"));
        assert!(!html.contains('\u{1b}'));
        assert!(html.contains("exit 1 &amp; more"));
        // Self-contained: nothing is fetched.
        assert!(!html.contains(" src=\"") && !html.contains("<link"));
    }

    #[test]
    fn no_phase_runs_past_a_guard_that_has_not_passed() {
        let fresh = log_with(&[]);
        assert!(unguarded(Phase::SoftGate, &fresh).is_some());
        assert!(unguarded(Phase::HardGate, &fresh).is_none());
        let why = unguarded(Phase::Migrate, &fresh).unwrap();
        assert!(why.contains("hard-gate and backup"), "{why}");
        let gated = log_with(&[(Phase::HardGate, PhaseStatus::Passed)]);
        assert!(unguarded(Phase::Backup, &gated).is_none());
        assert!(
            unguarded(Phase::Migrate, &gated)
                .unwrap()
                .contains("backup")
        );
        let failed = log_with(&[
            (Phase::HardGate, PhaseStatus::Passed),
            (Phase::Backup, PhaseStatus::Failed),
        ]);
        assert!(unguarded(Phase::Migrate, &failed).is_some());
        let skipped = log_with(&[
            (Phase::HardGate, PhaseStatus::SkippedByOperator),
            (Phase::Backup, PhaseStatus::Passed),
        ]);
        assert!(unguarded(Phase::Smoke, &skipped).is_none());
    }

    #[test]
    fn skips_need_a_reason_and_an_unprotected_environment() {
        let mut o = ReleaseOptions::new("c", "m", "prod");
        o.skip = vec![Phase::Backup];
        assert!(check_skips(&o, false).is_err());
        o.skip_reason = Some("restored from snapshot".into());
        assert!(check_skips(&o, false).is_ok());
        assert!(check_skips(&o, true).is_err());
        o.skip = vec![Phase::Preflight];
        assert!(check_skips(&o, false).is_err());
    }
}
