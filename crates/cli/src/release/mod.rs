//! The release pipeline: B3 (`release_runbook_b3.md` §3) from a manifest,
//! composing the library crates. Preflight checks, freeze, hard gate, soft
//! gate, backup, migrate, verify, deploy, smoke and an optional watch; a
//! failed hard step stops the run and leaves the state for `--resume`.

mod doctor;
mod lock;
mod record;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use preflight_checklist::{Binding, Evidence, Requirement, Run, StepOutcome, StepRef};
use preflight_manifest::{GitRef, Manifest, ManifestDiff, ProbePhase, ReleaseStep};
use preflight_verify::{
    CommandProbe, HttpExpect, HttpProbe, HttpRequest, Outcome as ProbeOutcome, ProbeResult,
    ProbeSpec, Report, RetryPolicy, Runner, Severity,
};
use serde::Serialize;
use sha2::Digest as _;

pub use doctor::{DoctorCheck, doctor};
pub use record::{Phase, PhaseRecord, PhaseStatus, ReleaseLog, ReleaseStatus, StepRecord};

use crate::probes::ProbeSelection;
use crate::project::{LOCAL_ENV, Project, error_text, load_manifest};

/// What `preflight release run` was asked to do.
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    pub config: PathBuf,
    pub manifest: PathBuf,
    pub env: String,
    /// Print every step, change nothing.
    pub dry_run: bool,
    /// Continue a failed release from its failed phase.
    pub resume: bool,
    /// Run only this phase (after the preflight checks).
    pub only: Option<Phase>,
    /// Start at this phase (after the preflight checks).
    pub from: Option<Phase>,
    /// Who runs it, for the log, ledgers and checklist.
    pub operator: String,
    /// How many probes run at once.
    pub concurrency: usize,
}

/// Progress, for a live view or JSON lines.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ReleaseEvent {
    Started {
        release_id: String,
        env: String,
        dry_run: bool,
        resumed: bool,
    },
    PhaseStarted {
        phase: Phase,
    },
    Step {
        phase: Phase,
        name: String,
        passed: bool,
        summary: String,
    },
    PhaseFinished {
        phase: Phase,
        status: PhaseStatus,
        summary: String,
        duration_ms: u64,
    },
    Finished {
        status: ReleaseStatus,
        log: Option<String>,
    },
}

/// Runs a release and returns its record. `Err` means it could not start
/// (invalid config or manifest, another release holds the lock); a release
/// that started and failed is `Ok` with [`ReleaseStatus::Failed`].
pub async fn run_release(
    options: &ReleaseOptions,
    on_event: &mut dyn FnMut(&ReleaseEvent),
) -> anyhow::Result<ReleaseLog> {
    let project = Project::load(&options.config)?;
    let env = options.env.as_str();
    let manifest = load_manifest(&project, &options.manifest, env)?;
    let manifest_text = std::fs::read(&options.manifest)
        .with_context(|| format!("cannot read {}", options.manifest.display()))?;
    let manifest_sha256 = hex(&sha2::Sha256::digest(&manifest_text));
    let release_id = manifest.release_id.to_string();
    let run_dir = project
        .state_dir()
        .join("releases")
        .join(env)
        .join(&release_id);
    let state_path = run_dir.join("state.json");

    let mut log = if options.resume {
        let text = std::fs::read_to_string(&state_path).with_context(|| {
            format!(
                "no failed run of {release_id} in `{env}` to resume ({} is missing)",
                state_path.display()
            )
        })?;
        let mut log: ReleaseLog = serde_json::from_str(&text)
            .with_context(|| format!("cannot read the release state {}", state_path.display()))?;
        if log.manifest_sha256 != manifest_sha256 {
            bail!(
                "{} changed since the failed run of {release_id}; a resumed release must ship the same manifest (run it again without --resume)",
                options.manifest.display()
            );
        }
        if log.status == ReleaseStatus::Succeeded {
            bail!("release {release_id} already succeeded in `{env}`; nothing to resume");
        }
        log.resumed += 1;
        log.status = ReleaseStatus::Running;
        log.failed_phase = None;
        log.next_step = None;
        log
    } else {
        ReleaseLog {
            release_id: release_id.clone(),
            env: env.to_string(),
            platform: project.config.platform.clone(),
            operator: options.operator.clone(),
            manifest: options.manifest.display().to_string(),
            manifest_sha256,
            started_at: jiff::Timestamp::now(),
            finished_at: None,
            status: if options.dry_run {
                ReleaseStatus::DryRun
            } else {
                ReleaseStatus::Running
            },
            phases: Phase::ALL
                .iter()
                .map(|&phase| PhaseRecord {
                    phase,
                    status: PhaseStatus::NotRun,
                    started_at: None,
                    duration: Duration::ZERO,
                    summary: String::new(),
                    steps: Vec::new(),
                })
                .collect(),
            diff: None,
            failed_phase: None,
            next_step: None,
            checklist_archive: None,
            uploaded_to: Vec::new(),
            notified: None,
            resumed: 0,
        }
    };
    // One release per environment; the lock is held until this returns.
    let _lock = if options.dry_run {
        None
    } else {
        let holder = format!("preflight release {release_id} by {}", options.operator);
        Some(
            match project
                .config
                .environment(env)
                .and_then(|e| e.databases.keys().next())
            {
                Some(db) => {
                    let db = project.database(env, db)?;
                    lock::acquire_database(&db.url, env, &holder).await?
                }
                None => lock::acquire_file(
                    project
                        .state_dir()
                        .join("locks")
                        .join(format!("{env}.lock")),
                    env,
                    &holder,
                )?,
            },
        )
    };
    // Announced once the lock is held: a watcher knows the run owns the env.
    on_event(&ReleaseEvent::Started {
        release_id: release_id.clone(),
        env: env.to_string(),
        dry_run: options.dry_run,
        resumed: options.resume,
    });
    if !options.dry_run {
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("cannot create {}", run_dir.display()))?;
    }

    let mut pipeline = Pipeline::new(&project, options, &manifest, &run_dir, on_event)?;
    log.diff = previous_release_diff(&project, env, &manifest);

    let selected = |phase: Phase, log: &ReleaseLog| -> bool {
        if phase == Phase::Preflight {
            return true;
        }
        if let Some(only) = options.only {
            return phase == only;
        }
        if let Some(from) = options.from {
            return phase >= from;
        }
        if options.resume {
            return !log.phase(phase).is_some_and(|p| p.status.done());
        }
        true
    };
    for phase in Phase::ALL {
        if !selected(phase, &log) {
            continue;
        }
        (pipeline.on_event)(&ReleaseEvent::PhaseStarted { phase });
        let started_at = jiff::Timestamp::now();
        let clock = Instant::now();
        let mut record = if options.dry_run && phase != Phase::Preflight {
            pipeline.describe(phase).await
        } else {
            pipeline.run(phase).await
        };
        record.started_at = Some(started_at);
        record.duration = clock.elapsed();
        // A skipped phase proved nothing: its items stay open, with the reason.
        let proved = matches!(record.status, PhaseStatus::Passed | PhaseStatus::Warned);
        pipeline.apply_checklist(
            &StepRef::Phase(phase.as_str().to_string()),
            proved,
            &record.summary,
        );
        (pipeline.on_event)(&ReleaseEvent::PhaseFinished {
            phase,
            status: record.status,
            summary: record.summary.clone(),
            duration_ms: record.duration.as_millis() as u64,
        });
        let failed = record.status == PhaseStatus::Failed;
        if let Some(slot) = log.phases.iter_mut().find(|p| p.phase == phase) {
            *slot = record;
        }
        if failed {
            log.failed_phase = Some(phase);
            log.next_step = Some(phase.next_step().to_string());
        }
        if !options.dry_run {
            save_state(&state_path, &log)?;
        }
        if failed {
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
            log.checklist_archive = pipeline.archive_checklist(&release_id)?;
        }
        log.notified = pipeline.notify(&log).await;
        let written = write_logs(&project, env, &log)?;
        log.uploaded_to = upload_logs(&project, env, &release_id, &written).await;
        // Rewrite with the upload locations now known.
        write_logs(&project, env, &log)?;
        save_state(&state_path, &log)?;
        log_path = written.first().map(|p| p.display().to_string());
    }
    (pipeline.on_event)(&ReleaseEvent::Finished {
        status: log.status,
        log: log_path,
    });
    Ok(log)
}

/// Where the log of a run with these options is written, if the config loads.
pub fn log_dir_for(options: &ReleaseOptions) -> Option<PathBuf> {
    Project::load(&options.config)
        .ok()
        .map(|p| log_dir(&p, &options.env))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn save_state(path: &Path, log: &ReleaseLog) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(log)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// `local` rehearsals log under `.preflight/` (they are not releases);
/// other environments under the config's `release.log_dir`.
pub fn log_dir(project: &Project, env: &str) -> PathBuf {
    if env == LOCAL_ENV {
        project.state_dir().join("release_logs")
    } else {
        project.root().join(&project.config.release.log_dir)
    }
}

fn write_logs(project: &Project, env: &str, log: &ReleaseLog) -> anyhow::Result<Vec<PathBuf>> {
    let dir = log_dir(project, env);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (ext, text) in [
        ("md", log.to_markdown()),
        ("json", serde_json::to_string_pretty(log)?),
        ("junit.xml", log.to_junit()),
    ] {
        let path = dir.join(format!("{}.{ext}", log.release_id));
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Uploads the log files to the environment's artifact store; a failed
/// upload is recorded, not fatal (the files are on disk).
async fn upload_logs(
    project: &Project,
    env: &str,
    release_id: &str,
    files: &[PathBuf],
) -> Vec<String> {
    let store = match project.artifact_store(env) {
        Ok(s) => s,
        Err(e) => return vec![format!("not uploaded: {e:#}")],
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
            Err(e) => out.push(format!("not uploaded: {}", error_text(&e))),
        }
    }
    out
}

/// The manifest diff against the newest earlier manifest for the same env.
fn previous_release_diff(project: &Project, env: &str, manifest: &Manifest) -> Option<String> {
    let dir = project.root().join(&project.config.manifests_dir);
    let current = manifest.release_id.to_string();
    let mut candidates: Vec<Manifest> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter_map(|p| load_manifest(project, &p, env).ok())
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

/// Runs phases; holds what they share.
struct Pipeline<'a> {
    project: &'a Project,
    options: &'a ReleaseOptions,
    manifest: &'a Manifest,
    runner: Runner,
    checklist: Option<Run>,
    bindings: Vec<Binding>,
    on_event: &'a mut dyn FnMut(&ReleaseEvent),
}

impl<'a> Pipeline<'a> {
    fn new(
        project: &'a Project,
        options: &'a ReleaseOptions,
        manifest: &'a Manifest,
        run_dir: &Path,
        on_event: &'a mut dyn FnMut(&ReleaseEvent),
    ) -> anyhow::Result<Pipeline<'a>> {
        let (checklist, bindings) = match &project.config.checklist {
            Some(c) if !options.dry_run => {
                // A rehearsal fills a scratch copy of the state; real
                // releases fill the team's log beside the document.
                let state =
                    (options.env == LOCAL_ENV).then(|| run_dir.join("checklist.state.jsonl"));
                if let Some(s) = &state
                    && !options.resume
                {
                    let _ = std::fs::remove_file(s);
                }
                let run = Run::open(&project.root().join(&c.file), state.as_deref())?;
                let bindings = c
                    .bindings
                    .iter()
                    .map(|b| Binding {
                        item: b.item.clone(),
                        step: match b.step_kind.as_str() {
                            "probe" => StepRef::Probe(b.step.clone()),
                            "migration" => StepRef::Migration(b.step.clone()),
                            "gate" => StepRef::Gate(b.step.clone()),
                            _ => StepRef::Phase(b.step.clone()),
                        },
                    })
                    .collect();
                (Some(run), bindings)
            }
            _ => (None, Vec::new()),
        };
        Ok(Pipeline {
            project,
            options,
            manifest,
            runner: Runner::new(options.concurrency)?,
            checklist,
            bindings,
            on_event,
        })
    }

    fn env(&self) -> &str {
        &self.options.env
    }

    fn step(&mut self, phase: Phase, r: &ProbeResult) -> StepRecord {
        (self.on_event)(&ReleaseEvent::Step {
            phase,
            name: r.name.clone(),
            passed: r.outcome.passed(),
            summary: r.summary.clone(),
        });
        StepRecord::from(r)
    }

    /// Checks the items bound to `step` when it passed; otherwise records why they stay open.
    fn apply_checklist(&mut self, step: &StepRef, passed: bool, summary: &str) {
        let Some(run) = self.checklist.as_mut() else {
            return;
        };
        if !self.bindings.iter().any(|b| &b.step == step) {
            return;
        }
        let by = format!(
            "preflight release {} ({})",
            self.manifest.release_id, self.options.operator
        );
        let outcome = StepOutcome {
            passed,
            evidence: vec![Evidence::from_text(summary)],
        };
        let _ = preflight_checklist::apply_step(
            run,
            &self.bindings,
            step,
            &outcome,
            &by,
            jiff::Timestamp::now(),
        );
    }

    fn archive_checklist(&self, release_id: &str) -> anyhow::Result<Option<String>> {
        let Some(run) = &self.checklist else {
            return Ok(None);
        };
        let dir = log_dir(self.project, self.env());
        // Rehearsals repeat a release id; each keeps its own archive.
        let dir = if self.env() == LOCAL_ENV {
            dir.join("checklists")
                .join(jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S").to_string())
        } else {
            dir
        };
        let path = preflight_checklist::archive(&run.checklist, &run.log, release_id, &dir)?;
        Ok(Some(path.display().to_string()))
    }

    async fn run(&mut self, phase: Phase) -> PhaseRecord {
        let mut steps = Vec::new();
        let (status, summary) = match phase {
            Phase::Preflight => self.preflight(&mut steps).await,
            Phase::Freeze => {
                self.commands(
                    phase,
                    &self.project.config.release.freeze.clone(),
                    &mut steps,
                )
                .await
            }
            Phase::HardGate => self.gates(phase, Severity::Hard, &mut steps).await,
            Phase::SoftGate => self.gates(phase, Severity::Soft, &mut steps).await,
            Phase::Backup => self.backup(&mut steps).await,
            Phase::Migrate => self.migrate(&mut steps).await,
            Phase::Verify => self.probes(phase, ProbePhase::Verify, &mut steps).await,
            Phase::Deploy => {
                self.commands(
                    phase,
                    &self.project.config.release.deploy.clone(),
                    &mut steps,
                )
                .await
            }
            Phase::Smoke => self.smoke(&mut steps).await,
            Phase::Watch => self.watch(&mut steps).await,
        };
        PhaseRecord {
            phase,
            status,
            started_at: None,
            duration: Duration::ZERO,
            summary,
            steps,
        }
    }

    /// Records a probe-shaped step built here (not by the runner).
    // One call shape for every step the pipeline builds by hand.
    #[allow(clippy::too_many_arguments)]
    fn own_step(
        &mut self,
        phase: Phase,
        name: &str,
        kind: &str,
        passed: bool,
        summary: String,
        evidence: Vec<String>,
        hard: bool,
    ) -> StepRecord {
        let result = ProbeResult {
            name: name.to_string(),
            kind: kind.to_string(),
            target: String::new(),
            severity: if hard { Severity::Hard } else { Severity::Soft },
            outcome: if passed {
                ProbeOutcome::Passed
            } else {
                ProbeOutcome::Failed
            },
            attempts: 1,
            duration: Duration::ZERO,
            summary,
            evidence,
        };
        self.step(phase, &result)
    }

    async fn preflight(&mut self, steps: &mut Vec<StepRecord>) -> (PhaseStatus, String) {
        let env = self.env().to_string();
        let m = self.manifest;
        let s = self.own_step(
            Phase::Preflight,
            "manifest",
            "manifest",
            true,
            format!(
                "{} valid for `{env}`: {} commits, {} images, {} flags",
                m.release_id,
                m.commits.len(),
                m.images.len(),
                m.feature_flags.len()
            ),
            Vec::new(),
            true,
        );
        steps.push(s);
        // Every database of the environment resolves and answers.
        let dbs: Vec<String> = self
            .project
            .config
            .environment(&env)
            .map(|e| e.databases.keys().cloned().collect())
            .unwrap_or_default();
        for db in dbs {
            let (passed, summary) = match reach_database(self.project, &env, &db).await {
                Ok(detail) => (true, format!("{db} {detail}")),
                Err(why) => (false, format!("{db} {why}")),
            };
            let s = self.own_step(
                Phase::Preflight,
                &format!("database {db}"),
                "postgres",
                passed,
                summary,
                Vec::new(),
                true,
            );
            steps.push(s);
        }
        // Checkouts, where configured, are at the pinned commits.
        for module in self.project.config.modules.clone() {
            let dir = self.project.root().join(&module.repo);
            let Some(pin) = m
                .commits
                .get(&module.repo.display().to_string())
                .or(m.commits.get(&module.name))
            else {
                continue;
            };
            if !dir.join(".git").exists() {
                continue;
            }
            let (passed, summary) = match repo_at(&dir, pin) {
                Ok(head) => (
                    true,
                    format!("{} at {pin} ({})", module.name, &head[..12.min(head.len())]),
                ),
                Err(why) => (false, format!("{}: {why}", module.name)),
            };
            let s = self.own_step(
                Phase::Preflight,
                &format!("checkout {}", module.name),
                "git",
                passed,
                summary,
                Vec::new(),
                true,
            );
            steps.push(s);
        }
        // Checklist sections required before the build.
        if let (Some(run), Some(config)) = (&self.checklist, &self.project.config.checklist) {
            let mut problems = Vec::new();
            if let Err(e) = preflight_checklist::check_bindings(run, &self.bindings) {
                problems.push(format!("checklist binding: {e}"));
            }
            let gate = config.before_build.as_deref().map(|text| {
                Requirement::parse(text).and_then(|req| {
                    preflight_checklist::gate(&run.checklist, &run.log.state(), &req)
                })
            });
            let bindings_ok = problems.is_empty();
            let s = self.own_step(
                Phase::Preflight,
                "checklist bindings",
                "checklist",
                bindings_ok,
                if bindings_ok {
                    format!("{} bindings valid", self.bindings.len())
                } else {
                    problems.join("; ")
                },
                Vec::new(),
                true,
            );
            steps.push(s);
            if let Some(gate) = gate {
                let before = config.before_build.clone().unwrap_or_default();
                // A rehearsal has no people filling the checklist: it reports, it does not block.
                let hard = env != LOCAL_ENV;
                let (passed, summary, evidence) = match gate {
                    Ok(g) if g.passed => (true, format!("sections {before} complete"), Vec::new()),
                    Ok(g) => (
                        false,
                        format!(
                            "{} item(s) open in sections {before}{}",
                            g.open.len(),
                            if hard {
                                ""
                            } else {
                                " (a rehearsal only reports this)"
                            }
                        ),
                        g.open
                            .iter()
                            .take(20)
                            .map(|o| {
                                format!(
                                    "{} {} ({})",
                                    o.id,
                                    o.action,
                                    o.owner.as_deref().unwrap_or("no owner")
                                )
                            })
                            .collect(),
                    ),
                    Err(e) => (
                        false,
                        format!("cannot evaluate the checklist gate: {e}"),
                        Vec::new(),
                    ),
                };
                let s = self.own_step(
                    Phase::Preflight,
                    "checklist before build",
                    "checklist",
                    passed,
                    summary,
                    evidence,
                    hard,
                );
                steps.push(s);
            }
        }
        conclude(steps, "preflight checks")
    }

    async fn commands(
        &mut self,
        phase: Phase,
        configured: &[ReleaseStep],
        steps: &mut Vec<StepRecord>,
    ) -> (PhaseStatus, String) {
        let env = self.env().to_string();
        let list: Vec<&ReleaseStep> = configured.iter().filter(|s| s.runs_in(&env)).collect();
        if list.is_empty() {
            return (
                PhaseStatus::Skipped,
                format!("no {} steps configured for `{env}`", phase.as_str()),
            );
        }
        for step in list {
            let spec = match self.command_spec(step) {
                Ok(spec) => spec,
                Err(why) => {
                    let s =
                        self.own_step(phase, &step.name, "command", false, why, Vec::new(), true);
                    steps.push(s);
                    break;
                }
            };
            let report = self.runner.run(vec![spec]).await;
            let r = &report.results[0];
            let record = self.step(phase, r);
            let passed = record.passed;
            steps.push(record);
            if !passed {
                break; // later steps depend on earlier ones
            }
        }
        conclude(steps, &format!("{} step(s)", phase.as_str()))
    }

    /// A release step with its placeholders filled.
    fn command_spec(&self, step: &ReleaseStep) -> Result<ProbeSpec, String> {
        let argv = step
            .command
            .iter()
            .map(|a| fill_placeholders(a, self.env(), self.project, self.manifest))
            .collect::<Result<Vec<_>, _>>()?;
        let mut probe = CommandProbe::new(argv);
        probe.dir = Some(step.dir.as_ref().map_or_else(
            || self.project.root().to_path_buf(),
            |d| self.project.root().join(d),
        ));
        Ok(ProbeSpec {
            name: step.name.clone(),
            severity: Severity::Hard,
            timeout: Duration::from_secs(step.timeout_secs.unwrap_or(900)),
            retry: RetryPolicy::none(),
            probe: Arc::new(probe),
        })
    }

    async fn gates(
        &mut self,
        phase: Phase,
        severity: Severity,
        steps: &mut Vec<StepRecord>,
    ) -> (PhaseStatus, String) {
        let env = self.env().to_string();
        let specs: Vec<ProbeSpec> = self
            .project
            .config
            .gates
            .iter()
            .filter(|g| g.severity == severity && g.runs_in(&env))
            .map(|g| self.project.gate_spec(g))
            .collect();
        if specs.is_empty() {
            return (
                PhaseStatus::Skipped,
                format!(
                    "no {} gates for `{env}`",
                    if severity == Severity::Hard {
                        "hard"
                    } else {
                        "soft"
                    }
                ),
            );
        }
        // Test suites compete for the same CPUs and fixtures; run them one at a time.
        let report = Runner::new(1).expect("HTTP client builds").run(specs).await;
        self.record_report(phase, &report, steps, |name| {
            StepRef::Gate(name.to_string())
        });
        conclude(steps, "gate(s)")
    }

    fn record_report(
        &mut self,
        phase: Phase,
        report: &Report,
        steps: &mut Vec<StepRecord>,
        step_ref: impl Fn(&str) -> StepRef,
    ) {
        for r in &report.results {
            let record = self.step(phase, r);
            self.apply_checklist(
                &step_ref(&r.name),
                record.passed,
                &format!("{}: {}", r.name, r.summary),
            );
            steps.push(record);
        }
    }

    async fn backup(&mut self, steps: &mut Vec<StepRecord>) -> (PhaseStatus, String) {
        let env = self.env().to_string();
        let checks = match self
            .project
            .check_migrations(&env, Some(self.manifest), None)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                let s = self.own_step(
                    Phase::Backup,
                    "ledgers",
                    "migrate",
                    false,
                    format!("{e:#}"),
                    Vec::new(),
                    true,
                );
                steps.push(s);
                return conclude(steps, "backup(s)");
            }
        };
        let mut databases = BTreeSet::new();
        for c in &checks {
            if c.state == "error" {
                let s = self.own_step(
                    Phase::Backup,
                    &c.module,
                    "migrate",
                    false,
                    format!("cannot read the ledger: {}", c.detail),
                    Vec::new(),
                    true,
                );
                steps.push(s);
                return conclude(steps, "backup(s)");
            }
            if !c.pending.is_empty()
                && let Some(db) = self
                    .project
                    .config
                    .module(&c.module)
                    .and_then(|m| m.database.clone())
            {
                databases.insert(db);
            }
        }
        if databases.is_empty() {
            return (
                PhaseStatus::Skipped,
                "nothing to migrate, so nothing to back up".into(),
            );
        }
        let store = match self.project.artifact_store(&env) {
            Ok(s) => s,
            Err(e) => {
                let s = self.own_step(
                    Phase::Backup,
                    "artifact store",
                    "backup",
                    false,
                    format!("{e:#}"),
                    Vec::new(),
                    true,
                );
                steps.push(s);
                return conclude(steps, "backup(s)");
            }
        };
        for db in databases {
            let clock = Instant::now();
            let result = match self.project.database(&env, &db) {
                Ok(resolved) => {
                    let key = preflight_migrate::backup_key(&db, jiff::Timestamp::now());
                    preflight_migrate::backup_database(&resolved.url, &*store, &key)
                        .await
                        .map_err(|e| error_text(&e))
                }
                Err(e) => Err(format!("{e:#}")),
            };
            let (passed, summary) = match &result {
                Ok(b) => (
                    true,
                    format!(
                        "{} ({} bytes, sha256 {})",
                        b.artifact.uri,
                        b.artifact.size,
                        &b.artifact.sha256[..16]
                    ),
                ),
                Err(e) => (false, e.clone()),
            };
            let mut s = self.own_step(
                Phase::Backup,
                &format!("pg_dump {db}"),
                "backup",
                passed,
                summary,
                Vec::new(),
                true,
            );
            s.duration = clock.elapsed();
            steps.push(s);
            if !passed {
                break;
            }
        }
        conclude(steps, "backup(s)")
    }

    async fn migrate(&mut self, steps: &mut Vec<StepRecord>) -> (PhaseStatus, String) {
        let env = self.env().to_string();
        let modules: Vec<String> = self
            .project
            .migrating_modules()
            .iter()
            .map(|m| m.name.clone())
            .collect();
        for module in modules {
            let clock = Instant::now();
            let result = match self.project.module_migrations(
                &env,
                &module,
                Some(self.manifest),
                &self.options.operator,
                Duration::from_secs(120),
            ) {
                Ok((migrations, db)) => migrations
                    .apply()
                    .await
                    .map(|applied| (applied, db))
                    .map_err(|e| error_text(&e)),
                Err(e) => Err(format!("{e:#}")),
            };
            let (passed, summary, evidence) = match result {
                Ok((applied, db)) if applied.is_empty() => (
                    true,
                    format!("{} already at the manifest", db.name),
                    Vec::new(),
                ),
                Ok((applied, db)) => (
                    true,
                    format!("applied {} to {}", applied.len(), db.name),
                    applied,
                ),
                Err(e) => (
                    false,
                    e.lines().next().unwrap_or_default().to_string(),
                    e.lines().skip(1).map(str::to_string).collect(),
                ),
            };
            let mut s = self.own_step(
                Phase::Migrate,
                &module,
                "migration",
                passed,
                summary.clone(),
                evidence,
                true,
            );
            s.duration = clock.elapsed();
            self.apply_checklist(
                &StepRef::Migration(module.clone()),
                passed,
                &format!("{module}: {summary}"),
            );
            steps.push(s);
            if !passed {
                return conclude(steps, "module(s)");
            }
        }
        // Every ledger must now be exactly at the manifest's pins.
        match self
            .project
            .check_migrations(&env, Some(self.manifest), None)
            .await
        {
            Ok(checks) => {
                let off: Vec<String> = checks
                    .iter()
                    .filter(|c| !c.ok())
                    .map(|c| format!("{}: {} ({})", c.module, c.state, c.detail))
                    .collect();
                let s = self.own_step(
                    Phase::Migrate,
                    "ledgers at manifest",
                    "migration",
                    off.is_empty(),
                    if off.is_empty() {
                        format!("{} module(s) at the manifest", checks.len())
                    } else {
                        format!("{} module(s) not at the manifest", off.len())
                    },
                    off,
                    true,
                );
                steps.push(s);
            }
            Err(e) => {
                let s = self.own_step(
                    Phase::Migrate,
                    "ledgers at manifest",
                    "migration",
                    false,
                    format!("{e:#}"),
                    Vec::new(),
                    true,
                );
                steps.push(s);
            }
        }
        conclude(steps, "module(s)")
    }

    async fn probes(
        &mut self,
        phase: Phase,
        probe_phase: ProbePhase,
        steps: &mut Vec<StepRecord>,
    ) -> (PhaseStatus, String) {
        let selection = ProbeSelection {
            phase: Some(probe_phase),
            only: Vec::new(),
            gates: false,
            probes: true,
            images: self.pinned_images(),
        };
        let specs = match self.project.probe_specs(self.env(), &selection) {
            Ok(s) => s,
            Err(e) => {
                let s = self.own_step(
                    phase,
                    "probes",
                    "config",
                    false,
                    format!("{e:#}"),
                    Vec::new(),
                    true,
                );
                steps.push(s);
                return conclude(steps, "probe(s)");
            }
        };
        if specs.is_empty() {
            return (
                PhaseStatus::Skipped,
                format!("no {} probes for `{}`", phase.as_str(), self.env()),
            );
        }
        let report = self.runner.run(specs).await;
        self.record_report(phase, &report, steps, |name| {
            StepRef::Probe(name.to_string())
        });
        conclude(steps, "probe(s)")
    }

    async fn smoke(&mut self, steps: &mut Vec<StepRecord>) -> (PhaseStatus, String) {
        let (status, summary) = self.probes(Phase::Smoke, ProbePhase::Smoke, steps).await;
        if status == PhaseStatus::Failed {
            return (status, format!("{summary}; workers stay frozen"));
        }
        let unfreeze = self.project.config.release.unfreeze.clone();
        let mut unfreeze_steps = Vec::new();
        let (u_status, u_summary) = self
            .commands(Phase::Smoke, &unfreeze, &mut unfreeze_steps)
            .await;
        steps.extend(unfreeze_steps);
        match (status, u_status) {
            (_, PhaseStatus::Failed) => (PhaseStatus::Failed, u_summary),
            (PhaseStatus::Skipped, PhaseStatus::Skipped) => {
                (PhaseStatus::Skipped, format!("{summary}; {u_summary}"))
            }
            (PhaseStatus::Skipped, _) => conclude(steps, "step(s)"),
            _ => (status, summary),
        }
    }

    /// The manifest's images, for the smoke check that Cloud Run runs them.
    fn pinned_images(&self) -> std::collections::BTreeMap<String, String> {
        self.manifest
            .images
            .iter()
            .map(|(name, image)| (name.clone(), image.to_string()))
            .collect()
    }

    async fn watch(&mut self, steps: &mut Vec<StepRecord>) -> (PhaseStatus, String) {
        let env = self.env().to_string();
        let Some(watch) = self
            .project
            .config
            .release
            .watch
            .clone()
            .filter(|w| w.envs.is_empty() || w.envs.contains(&env))
        else {
            return (PhaseStatus::Skipped, format!("no watch window for `{env}`"));
        };
        let selection = ProbeSelection {
            phase: Some(ProbePhase::Smoke),
            only: Vec::new(),
            gates: false,
            probes: true,
            images: self.pinned_images(),
        };
        let deadline = Instant::now() + Duration::from_secs(watch.window_secs);
        let mut rounds = 0;
        loop {
            rounds += 1;
            let specs = match self.project.probe_specs(&env, &selection) {
                Ok(s) if !s.is_empty() => s,
                Ok(_) => return (PhaseStatus::Skipped, "no smoke probes to watch".into()),
                Err(e) => return (PhaseStatus::Failed, format!("{e:#}")),
            };
            let report = self.runner.run(specs).await;
            if !report.gate_passed() {
                self.record_report(Phase::Watch, &report, steps, |n| {
                    StepRef::Probe(n.to_string())
                });
                return (
                    PhaseStatus::Failed,
                    format!("smoke probes failed in round {rounds} of the watch window"),
                );
            }
            if Instant::now() + Duration::from_secs(watch.interval_secs) > deadline {
                self.record_report(Phase::Watch, &report, steps, |n| {
                    StepRef::Probe(n.to_string())
                });
                return (
                    PhaseStatus::Passed,
                    format!("{rounds} round(s) healthy over {} s", watch.window_secs),
                );
            }
            tokio::time::sleep(Duration::from_secs(watch.interval_secs)).await;
        }
    }

    /// What a phase would do, without doing it.
    async fn describe(&mut self, phase: Phase) -> PhaseRecord {
        let env = self.env().to_string();
        let mut lines: Vec<String> = Vec::new();
        let release = self.project.config.release.clone();
        let commands = |list: &[ReleaseStep], lines: &mut Vec<String>, this: &Self| {
            for s in list.iter().filter(|s| s.runs_in(&env)) {
                let argv: Vec<String> = s
                    .command
                    .iter()
                    .map(|a| {
                        fill_placeholders(a, &env, this.project, this.manifest)
                            .unwrap_or_else(|e| format!("<{e}>"))
                    })
                    .collect();
                lines.push(format!("{}: {}", s.name, argv.join(" ")));
            }
        };
        match phase {
            Phase::Freeze => commands(&release.freeze, &mut lines, self),
            Phase::Deploy => commands(&release.deploy, &mut lines, self),
            Phase::HardGate | Phase::SoftGate => {
                let severity = if phase == Phase::HardGate {
                    Severity::Hard
                } else {
                    Severity::Soft
                };
                for g in self
                    .project
                    .config
                    .gates
                    .iter()
                    .filter(|g| g.severity == severity && g.runs_in(&env))
                {
                    lines.push(format!(
                        "{}: {} (in {})",
                        g.name,
                        g.command.join(" "),
                        g.dir.as_deref().unwrap_or(Path::new(".")).display()
                    ));
                }
            }
            Phase::Backup | Phase::Migrate => match self
                .project
                .check_migrations(&env, Some(self.manifest), None)
                .await
            {
                Ok(checks) => {
                    for c in checks {
                        if phase == Phase::Backup {
                            if !c.pending.is_empty() {
                                lines.push(format!(
                                    "pg_dump {} before migrating {}",
                                    c.database, c.module
                                ));
                            }
                        } else if c.pending.is_empty() {
                            lines.push(format!("{}: {} ({})", c.module, c.state, c.detail));
                        } else {
                            lines.push(format!("{}: apply {}", c.module, c.pending.join(", ")));
                        }
                    }
                }
                Err(e) => lines.push(format!("cannot read the ledgers: {e:#}")),
            },
            Phase::Verify | Phase::Smoke | Phase::Watch => {
                let probe_phase = if phase == Phase::Verify {
                    ProbePhase::Verify
                } else {
                    ProbePhase::Smoke
                };
                for p in self
                    .project
                    .config
                    .probes
                    .iter()
                    .filter(|p| p.phase == probe_phase && p.runs_in(&env))
                {
                    lines.push(format!("probe {}", p.name));
                }
                if phase == Phase::Smoke {
                    commands(&release.unfreeze, &mut lines, self);
                }
                if phase == Phase::Watch
                    && release
                        .watch
                        .as_ref()
                        .is_none_or(|w| !(w.envs.is_empty() || w.envs.contains(&env)))
                {
                    lines.clear();
                }
            }
            Phase::Preflight => {}
        }
        for line in &lines {
            (self.on_event)(&ReleaseEvent::Step {
                phase,
                name: line.clone(),
                passed: true,
                summary: "would run".into(),
            });
        }
        PhaseRecord {
            phase,
            status: PhaseStatus::NotRun,
            started_at: None,
            duration: Duration::ZERO,
            summary: if lines.is_empty() {
                "nothing to do".into()
            } else {
                format!("would run {} step(s)", lines.len())
            },
            steps: lines
                .into_iter()
                .map(|l| StepRecord {
                    name: l,
                    kind: "plan".into(),
                    target: String::new(),
                    severity: "hard".into(),
                    outcome: "not run".into(),
                    passed: true,
                    attempts: 0,
                    duration: Duration::ZERO,
                    summary: "would run".into(),
                    evidence: Vec::new(),
                })
                .collect(),
        }
    }

    /// Posts the outcome to the configured webhook (Slack-compatible JSON).
    async fn notify(&mut self, log: &ReleaseLog) -> Option<String> {
        let env = self.env().to_string();
        let notify = self
            .project
            .config
            .release
            .notify
            .clone()
            .filter(|n| n.envs.is_empty() || n.envs.contains(&env))?;
        let url = match notify.webhook.strip_prefix("env:") {
            Some(var) => match std::env::var(var) {
                Ok(u) => u,
                Err(_) => return Some(format!("not sent: ${var} is not set")),
            },
            None => notify.webhook.clone(),
        };
        let status = match log.status {
            ReleaseStatus::Succeeded => "succeeded".to_string(),
            _ => format!("FAILED at {}", log.failed_phase.map_or("?", Phase::as_str)),
        };
        let text = format!(
            "Release {} to {} {status} (by {}). Log: {}",
            log.release_id,
            env,
            log.operator,
            log_dir(self.project, &env)
                .join(format!("{}.md", log.release_id))
                .display()
        );
        let probe = HttpProbe {
            request: HttpRequest {
                method: "POST".into(),
                url,
                headers: vec![("content-type".into(), "application/json".into())],
                body: Some(serde_json::json!({ "text": text }).to_string()),
            },
            expect: HttpExpect::default(),
        };
        let report = self
            .runner
            .run(vec![
                ProbeSpec::new("notify", probe)
                    .timeout(Duration::from_secs(15))
                    .retry(RetryPolicy::retries(2)),
            ])
            .await;
        let r = &report.results[0];
        // The webhook URL is a secret: report the outcome only.
        Some(if r.outcome.passed() {
            "webhook notified".to_string()
        } else {
            format!("webhook failed: {}", r.outcome.as_str())
        })
    }
}

/// A phase's status from its steps: any hard failure fails it, soft ones warn.
fn conclude(steps: &[StepRecord], what: &str) -> (PhaseStatus, String) {
    let hard = steps
        .iter()
        .filter(|s| !s.passed && s.severity == "hard")
        .count();
    let soft = steps
        .iter()
        .filter(|s| !s.passed && s.severity != "hard")
        .count();
    let passed = steps.iter().filter(|s| s.passed).count();
    if hard > 0 {
        let first = steps
            .iter()
            .find(|s| !s.passed && s.severity == "hard")
            .map(|s| format!(": {} — {}", s.name, s.summary))
            .unwrap_or_default();
        (
            PhaseStatus::Failed,
            format!("{hard} of {} {what} failed{first}", steps.len()),
        )
    } else if soft > 0 {
        (
            PhaseStatus::Warned,
            format!(
                "{passed} of {} {what} passed, {soft} soft failure(s)",
                steps.len()
            ),
        )
    } else {
        (PhaseStatus::Passed, format!("{passed} {what} passed"))
    }
}

/// Whether `db` of `env` resolves and answers within 15 s: `Ok("reachable
/// via local (PostgreSQL 15.18 …)")` or why not. Used by the preflight
/// phase and by `doctor`.
pub(crate) async fn reach_database(
    project: &Project,
    env: &str,
    db: &str,
) -> Result<String, String> {
    let resolved = project.database(env, db).map_err(|e| format!("{e:#}"))?;
    let via = &resolved.via;
    match tokio::time::timeout(Duration::from_secs(15), ping(&resolved.url)).await {
        Ok(Ok(version)) => Ok(format!("reachable via {via} ({version})")),
        Ok(Err(e)) => Err(format!("via {via}: {e}")),
        Err(_) => Err(format!("via {via}: no answer in 15 s")),
    }
}

async fn ping(url: &str) -> Result<String, String> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| preflight_manifest::redact_url(&error_text(&e)))?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| error_text(&e))?;
    let _ = conn.close().await;
    Ok(format!("PostgreSQL {version}"))
}

/// HEAD of the checkout at `dir`, if it is the pinned commit or tag.
fn repo_at(dir: &Path, pin: &GitRef) -> Result<String, String> {
    let git = |args: &[&str]| -> Result<String, String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    };
    let head = git(&["rev-parse", "HEAD"])?;
    let wanted = match pin {
        GitRef::Sha(s) | GitRef::ShortSha(s) => s.clone(),
        GitRef::Tag(t) => git(&["rev-parse", "--verify", &format!("{t}^{{commit}}")])
            .map_err(|_| format!("tag {t} is not in the checkout"))?,
    };
    if head.starts_with(&wanted) || wanted.starts_with(&head) {
        Ok(head)
    } else {
        Err(format!(
            "checkout is at {}, the manifest pins {pin}",
            &head[..12.min(head.len())]
        ))
    }
}

/// Fills `{release_id}`, `{env}`, `{gcp_project}`, `{region}`,
/// `{image:NAME}` and `{commit:REPO}`.
fn fill_placeholders(
    arg: &str,
    env: &str,
    project: &Project,
    manifest: &Manifest,
) -> Result<String, String> {
    let environment = project.config.environment(env);
    let mut out = arg.to_string();
    for ph in preflight_manifest::placeholders(arg) {
        let value = match ph.split_once(':') {
            None => match ph {
                "release_id" => manifest.release_id.to_string(),
                "env" => env.to_string(),
                "gcp_project" => environment
                    .and_then(|e| e.gcp_project.clone())
                    .ok_or_else(|| format!("`{env}` has no gcp_project for {{gcp_project}}"))?,
                "region" => environment
                    .and_then(|e| e.region.clone())
                    .ok_or_else(|| format!("`{env}` has no region for {{region}}"))?,
                other => return Err(format!("unknown placeholder {{{other}}}")),
            },
            Some(("image", name)) => manifest
                .images
                .get(name)
                .map(ToString::to_string)
                .ok_or_else(|| format!("the manifest pins no image `{name}`"))?,
            Some(("commit", repo)) => manifest
                .commits
                .get(repo)
                .map(ToString::to_string)
                .ok_or_else(|| format!("the manifest pins no commit for `{repo}`"))?,
            Some((other, _)) => return Err(format!("unknown placeholder {{{other}:…}}")),
        };
        out = out.replace(&format!("{{{ph}}}"), &value);
    }
    Ok(out)
}
