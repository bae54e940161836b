//! One module per phase, each with `plan()` (what a dry run and the log's
//! plan show) beside `run()` (what it does), so the two cannot drift.

mod backup;
mod build;
mod commands;
mod freeze;
mod gate;
mod migrate;
mod preflight;
mod probes;
mod rollout;
mod watch;

use std::path::Path;
use std::time::Duration;

use preflight_checklist::{Binding, Evidence, Run, StepOutcome, StepRef};
use preflight_manifest::{BindingStep, Manifest};
use preflight_verify::{
    HttpExpect, HttpProbe, HttpRequest, Outcome as ProbeOutcome, ProbeResult, ProbeSpec, Redactor,
    Report, RetryPolicy, Runner, Severity,
};

use super::{
    Phase, PhaseRecord, PhaseStatus, ReleaseEvent, ReleaseLog, ReleaseOptions, StepRecord,
};
use crate::error::Error;
use crate::platform::Platform;
use crate::target::Target;

/// What phases share for one run.
pub(super) struct Pipeline<'a> {
    pub(super) platform: &'a Platform,
    pub(super) options: &'a ReleaseOptions,
    pub(super) manifest: &'a Manifest,
    pub(super) target: &'a Target,
    pub(super) runner: Runner,
    /// Every secret this run knows; nothing is recorded before passing it.
    pub(super) redactor: Redactor,
    pub(super) checklist: Option<Run>,
    pub(super) bindings: Vec<Binding>,
    /// The schema the manifest's pins build, made before the freeze for
    /// the drift check after migrating.
    pub(super) expected_schemas: Option<Vec<crate::drift::ExpectedSchema>>,
    /// The services this run rolled out as canaries, in deploy order.
    pub(super) canaries: Vec<preflight_gcp::Canary>,
    /// Every canary has all the traffic.
    pub(super) promoted: bool,
    /// What each webhook notification of this run came to.
    pub(super) notifications: Vec<String>,
    /// Every canary this run deployed, rolled back or not: the playbook's
    /// record of the traffic before.
    pub(super) deployed: Vec<preflight_gcp::Canary>,
    /// What the freeze stopped through Google's APIs and was not yet put
    /// back, with its state before, in freeze order.
    pub(super) frozen: Vec<freeze::Frozen>,
    pub(super) on_event: &'a mut dyn FnMut(&ReleaseEvent),
}

/// A phase's status and one-line summary.
pub(super) type Concluded = (PhaseStatus, String);

/// `work` over `items`, at most `jobs` at once (at least one), each timed;
/// the results come back in the items' order whatever finishes first, so
/// the log's order is stable. Backup and migrate run their independent
/// databases through this.
pub(super) async fn bounded<I, T, F, Fut>(items: Vec<I>, jobs: usize, work: F) -> Vec<(T, Duration)>
where
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    use futures_util::StreamExt as _;
    futures_util::stream::iter(items.into_iter().map(|item| {
        let started = std::time::Instant::now();
        let fut = work(item);
        async move {
            let out = fut.await;
            (out, started.elapsed())
        }
    }))
    .buffered(jobs.max(1))
    .collect()
    .await
}

/// A Google Cloud client, or a failed step saying why it could not be built.
fn connected<T>(
    cx: &mut Pipeline<'_>,
    phase: Phase,
    steps: &mut Vec<StepRecord>,
    client: Result<T, preflight_gcp::Error>,
) -> Option<T> {
    match client {
        Ok(client) => Some(client),
        Err(e) => {
            let why = crate::error::error_text(&e);
            let s = cx.own_step(
                phase,
                OwnStep::hard("google cloud client", "connect", false, why).errored(),
            );
            steps.push(s);
            None
        }
    }
}

/// Freeze: the configured commands, then the `gcp.freeze` targets.
async fn run_freeze(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) -> Concluded {
    if freeze::plan_freeze(cx).is_empty() {
        return commands::run(cx, Phase::Freeze, steps).await;
    }
    let (status, summary) = commands::run(cx, Phase::Freeze, steps).await;
    if status == PhaseStatus::Failed {
        return (status, summary);
    }
    freeze::freeze(cx, steps).await;
    conclude(steps, "freeze step(s)")
}

/// Deploy: the configured commands, then the Cloud Run rollout.
async fn deploy(cx: &mut Pipeline<'_>, steps: &mut Vec<StepRecord>) -> Concluded {
    if !rollout::configured(cx) {
        return commands::run(cx, Phase::Deploy, steps).await;
    }
    let (status, summary) = commands::run(cx, Phase::Deploy, steps).await;
    if status == PhaseStatus::Failed {
        return (status, summary);
    }
    rollout::deploy(cx, steps).await;
    conclude(steps, "deploy step(s)")
}

impl Pipeline<'_> {
    /// The target the smoke and watch probes call: each canary's tagged
    /// URL stands in for its service's `{services.NAME}`.
    pub(super) fn probe_target(&self) -> std::borrow::Cow<'_, Target> {
        if self.canaries.is_empty() || self.promoted {
            return std::borrow::Cow::Borrowed(self.target);
        }
        let mut target = self.target.clone();
        for canary in &self.canaries {
            let name = canary.service.rsplit('/').next().unwrap_or_default();
            target
                .env
                .services
                .insert(name.to_string(), canary.url.clone());
        }
        std::borrow::Cow::Owned(target)
    }

    /// Takes what an earlier attempt froze (its recorded freeze), so this
    /// run's unfreeze puts it back.
    pub(super) fn remember_frozen(&mut self, record: Option<&PhaseRecord>) {
        if let Some(record) = record {
            self.frozen = freeze::frozen_in(record);
        }
    }

    /// After `record`'s phase failed: when canaries went out and were not
    /// promoted, their traffic goes back to the revisions that served
    /// before, and workers frozen by this run are unfrozen; the steps join
    /// `record`. Returns what the log's next step should say instead, if
    /// anything was rolled back.
    pub(super) async fn after_failure(
        &mut self,
        record: &mut PhaseRecord,
        freeze_done: bool,
    ) -> Option<String> {
        if self.canaries.is_empty() || self.options.dry_run {
            return None;
        }
        let phase = record.phase;
        let back = rollout::roll_back(self, phase, &mut record.steps).await;
        if !back {
            record.summary = format!(
                "{}; the rollback of the traffic FAILED (see its steps): do it by hand",
                record.summary
            );
            return Some(
                "the traffic could not be put back: run the gcloud commands in the failed rollback steps, then fix and run the release again".to_string(),
            );
        }
        let services = self.canaries.len();
        self.canaries.clear();
        let mut unfrozen = String::new();
        if freeze_done {
            let mut unfreeze = Vec::new();
            let (status, summary) = commands::run_unfreeze(self, phase, &mut unfreeze).await;
            record.steps.extend(unfreeze);
            unfrozen = match status {
                PhaseStatus::Failed => format!("; unfreezing the workers FAILED: {summary}"),
                PhaseStatus::Skipped => String::new(),
                _ => "; workers unfrozen".to_string(),
            };
        }
        record.summary = format!(
            "{}; rolled back: traffic of {services} service(s) as before the deploy{unfrozen}",
            record.summary
        );
        Some(
            "the release was rolled back (traffic as before the deploy); fix what failed, then --resume (it deploys again)".to_string(),
        )
    }

    /// `module`'s migrations at the manifest's pins, or why not, as one line.
    pub(super) fn migrations(
        &self,
        module: &str,
    ) -> Result<crate::modules::ModuleMigrations, String> {
        self.platform
            .module_migrations(
                self.target,
                module,
                Some(self.manifest),
                &self.options.operator,
                Duration::from_secs(120),
            )
            .map_err(|e| crate::error::error_text(&e))
    }
}

impl<'a> Pipeline<'a> {
    pub(super) fn new(
        platform: &'a Platform,
        options: &'a ReleaseOptions,
        manifest: &'a Manifest,
        target: &'a Target,
        run_dir: &Path,
        on_event: &'a mut dyn FnMut(&ReleaseEvent),
    ) -> Result<Pipeline<'a>, Error> {
        let (checklist, bindings) = match &platform.config.checklist {
            Some(c) if !options.dry_run => {
                // A rehearsal fills a scratch copy of the state; real
                // releases fill the team's log beside the document.
                let state = target
                    .is_local()
                    .then(|| run_dir.join("checklist.state.jsonl"));
                if let Some(s) = &state
                    && !options.resume
                {
                    let _ = std::fs::remove_file(s);
                }
                let run = Run::open_keyed(
                    &platform.root().join(&c.file),
                    state.as_deref(),
                    options.checklist_key.clone(),
                )
                .map_err(|e| Error::Checklist(Box::new(e)))?;
                let bindings = c
                    .bindings
                    .iter()
                    .map(|b| Binding {
                        item: b.item.clone(),
                        step: match &b.step {
                            BindingStep::Phase(p) => StepRef::Phase(p.as_str().to_string()),
                            BindingStep::Probe(n) => StepRef::Probe(n.clone()),
                            BindingStep::Migration(n) => StepRef::Migration(n.clone()),
                            BindingStep::Gate(n) => StepRef::Gate(n.clone()),
                        },
                    })
                    .collect();
                (Some(run), bindings)
            }
            _ => (None, Vec::new()),
        };
        let mut redactor = platform.redaction_set(target);
        if let Some(key) = &options.checklist_key {
            key.add_to(&mut redactor);
        }
        let mut checklist = checklist;
        if let Some(run) = checklist.as_mut() {
            run.log.redact_with(&redactor);
        }
        Ok(Pipeline {
            platform,
            options,
            manifest,
            target,
            runner: Runner::new(options.concurrency)
                .map_err(|e| Error::Verify(Box::new(e)))?
                .with_redactor(redactor.clone()),
            redactor,
            checklist,
            bindings,
            expected_schemas: None,
            canaries: Vec::new(),
            promoted: false,
            notifications: Vec::new(),
            deployed: Vec::new(),
            frozen: Vec::new(),
            on_event,
        })
    }

    pub(super) fn env(&self) -> &str {
        self.target.name()
    }

    /// Runs `phase` and returns its record.
    pub(super) async fn run(&mut self, phase: Phase) -> PhaseRecord {
        tracing::info!(phase = phase.as_str(), env = self.env(), "phase starts");
        let mut steps = Vec::new();
        let (status, summary) = match phase {
            Phase::Preflight => preflight::run(self, &mut steps).await,
            Phase::Build => build::run(self, &mut steps).await,
            Phase::Freeze => run_freeze(self, &mut steps).await,
            Phase::Deploy => deploy(self, &mut steps).await,
            Phase::HardGate | Phase::SoftGate => gate::run(self, phase, &mut steps).await,
            Phase::Backup => backup::run(self, &mut steps).await,
            Phase::Migrate => migrate::run(self, &mut steps).await,
            Phase::Verify | Phase::Smoke => probes::run(self, phase, &mut steps).await,
            Phase::Watch => watch::run(self, &mut steps).await,
        };
        PhaseRecord {
            status,
            summary,
            steps,
            ..PhaseRecord::not_run(phase)
        }
    }

    /// What `phase` would do, without doing it.
    pub(super) async fn plan(&mut self, phase: Phase) -> PhaseRecord {
        let lines = match phase {
            Phase::Preflight => Vec::new(),
            Phase::Build => build::plan(self),
            Phase::Freeze => {
                let mut lines = commands::plan(self, phase);
                lines.extend(freeze::plan_freeze(self));
                lines
            }
            Phase::Deploy => {
                let mut lines = commands::plan(self, phase);
                lines.extend(rollout::plan(self));
                lines
            }
            Phase::HardGate | Phase::SoftGate => gate::plan(self, phase),
            Phase::Backup => backup::plan(self).await,
            Phase::Migrate => migrate::plan(self).await,
            Phase::Verify | Phase::Smoke => probes::plan(self, phase),
            Phase::Watch => watch::plan(self),
        };
        // A plan line shows commands with their filled placeholders.
        let lines: Vec<String> = lines.iter().map(|l| self.redactor.redact(l)).collect();
        for line in &lines {
            (self.on_event)(&ReleaseEvent::Step {
                phase,
                name: line.clone(),
                passed: true,
                summary: "would run".into(),
            });
        }
        PhaseRecord {
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
                    severity: Severity::Hard,
                    outcome: ProbeOutcome::Passed,
                    attempts: 0,
                    duration: Duration::ZERO,
                    summary: "would run".into(),
                    evidence: Vec::new(),
                })
                .collect(),
            ..PhaseRecord::not_run(phase)
        }
    }

    fn step(&mut self, phase: Phase, r: &ProbeResult) -> StepRecord {
        // The one door to the log, the state and the events: redacted here.
        let r = &r.clone().redacted(&self.redactor);
        (self.on_event)(&ReleaseEvent::Step {
            phase,
            name: r.name.clone(),
            passed: r.outcome.passed(),
            summary: r.summary.clone(),
        });
        StepRecord::from(r)
    }

    /// Records a step built here (not by the probe runner).
    pub(super) fn own_step(&mut self, phase: Phase, step: OwnStep) -> StepRecord {
        let result = ProbeResult {
            name: step.name,
            kind: step.kind.to_string(),
            target: String::new(),
            severity: step.severity,
            outcome: step.outcome,
            attempts: 1,
            duration: step.duration,
            summary: step.summary,
            evidence: step.evidence,
        };
        self.step(phase, &result)
    }

    /// Checks the items bound to `step` when it passed; otherwise records why they stay open.
    pub(super) fn apply_checklist(&mut self, step: &StepRef, passed: bool, summary: &str) {
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
            evidence: vec![Evidence::from_text(&self.redactor.redact(summary))],
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

    /// Records every result of a runner report, checking bound items.
    pub(super) fn record_report(
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
                record.passed(),
                &format!("{}: {}", r.name, r.summary),
            );
            steps.push(record);
        }
    }

    pub(super) fn archive_checklist(
        &self,
        release_id: &str,
        attempt: u32,
    ) -> Result<Option<String>, Error> {
        let Some(run) = &self.checklist else {
            return Ok(None);
        };
        let dir = super::log_dir(self.platform, self.env());
        // Rehearsals repeat a release id; each keeps its own archive.
        let dir = if self.target.is_local() {
            dir.join("checklists").join(format!(
                "{}-attempt-{attempt}",
                jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S")
            ))
        } else {
            dir
        };
        let path = preflight_checklist::archive(&run.checklist, &run.log, release_id, &dir)
            .map_err(|e| Error::Checklist(Box::new(e)))?;
        Ok(Some(path.display().to_string()))
    }

    /// The manifest's images, for the smoke check that Cloud Run runs them.
    pub(super) fn pinned_images(&self) -> std::collections::BTreeMap<String, String> {
        self.manifest
            .images
            .iter()
            .map(|(name, image)| (name.clone(), image.to_string()))
            .collect()
    }

    /// How to undo this release: each dump the backup phase took (this run
    /// or an earlier attempt) with the commands that rehearse and restore
    /// it, each service's traffic before the deploy with the command that
    /// puts it back, and the rollback to the release before.
    pub(super) fn playbook(&self, log: &ReleaseLog, config: &Path) -> Vec<String> {
        let env = self.env();
        let config = config.display();
        let mut lines = Vec::new();
        if let Some(backup) = log.phase(Phase::Backup) {
            for step in &backup.steps {
                let (Some(db), Some(uri)) = (step.name.strip_prefix("pg_dump "), step.dump_uri())
                else {
                    continue;
                };
                lines.push(format!(
                    "Database `{db}`: the dump taken before migrating is `{uri}`. Rehearse its restore with `preflight backup verify --config {config} --env {env} --database {db} --key {uri}`, then restore it with `preflight backup restore --config {config} --env {env} --database {db} --key {uri} --to <URL> --yes` (into a database you name, never silently the source)."
                ));
            }
        }
        let env_spec = &self.target.env;
        for canary in &self.deployed {
            let service = canary.service.rsplit('/').next().unwrap_or_default();
            let before: Vec<String> = canary
                .previous
                .iter()
                .filter(|s| s.percent > 0)
                .map(|s| format!("{}={}", s.revision, s.percent))
                .collect();
            if before.is_empty() {
                continue;
            }
            lines.push(format!(
                "Service `{service}`: before this release it served {}; put the traffic back with `gcloud run services update-traffic {service} --to-revisions={} --project={} --region={}`.",
                preflight_gcp::describe_traffic(&canary.previous),
                before.join(","),
                env_spec.gcp_project.as_deref().unwrap_or_default(),
                env_spec.region.as_deref().unwrap_or_default()
            ));
        }
        if !self.deployed.is_empty()
            || log
                .phase(Phase::Deploy)
                .is_some_and(|p| p.status.done() && !p.steps.is_empty())
        {
            lines.push(format!(
                "Images: `preflight release rollback --config {config} --env {env}` redeploys the images of the last release that succeeded before this one (`--to RELEASE_ID` for another), smoked and watched as its own recorded run."
            ));
        }
        lines
    }

    /// Where people open the release's report: where the upload will put
    /// it, else the file here.
    fn report_link(&self, release_id: &str) -> String {
        match self.target.artifact_store() {
            Ok(store) => format!(
                "{}/release_logs/{release_id}/{release_id}.html",
                store.location().trim_end_matches('/'),
            ),
            Err(_) => super::log_dir(self.platform, self.env())
                .join(format!("{release_id}.html"))
                .display()
                .to_string(),
        }
    }

    /// Tells the webhook a release started (after it holds the lock).
    pub(super) async fn notify_started(&mut self, log: &ReleaseLog) {
        let what = match &log.rollback_of {
            Some(from) => format!("Rollback of {} from {from}", log.env),
            None => format!("Release {} to {}", log.release_id, log.env),
        };
        let text = format!(
            "{what} started (by {}, attempt {}). Report: {}",
            log.operator,
            log.attempt,
            self.report_link(&log.release_id)
        );
        self.notify_text("start", "running", log, text).await;
    }

    /// Tells the webhook `phase` failed, with why and what to do next.
    pub(super) async fn notify_failed(&mut self, log: &ReleaseLog, phase: Phase, summary: &str) {
        let text = format!(
            "Release {} to {} FAILED at {phase}: {summary}. Next: {}. Report: {}",
            log.release_id,
            log.env,
            log.next_step.as_deref().unwrap_or("see the log"),
            self.report_link(&log.release_id)
        );
        self.notify_text("failed", "failed", log, text).await;
    }

    /// Tells the webhook how the release ended; returns what every
    /// notification of this run came to, for the log.
    pub(super) async fn notify(&mut self, log: &ReleaseLog) -> Option<String> {
        let status = match log.status {
            super::ReleaseStatus::Succeeded => "succeeded".to_string(),
            _ => format!("FAILED at {}", log.failed_phase.map_or("?", Phase::as_str)),
        };
        let text = format!(
            "Release {} to {} {status} (by {}, attempt {}). Report: {} Log: {}",
            log.release_id,
            log.env,
            log.operator,
            log.attempt,
            self.report_link(&log.release_id),
            super::log_dir(self.platform, self.env())
                .join(format!("{}.md", log.release_id))
                .display()
        );
        let status = match log.status {
            super::ReleaseStatus::Succeeded => "succeeded",
            _ => "failed",
        };
        self.notify_text("end", status, log, text).await;
        (!self.notifications.is_empty()).then(|| self.notifications.join("; "))
    }

    /// Tells the configured webhook and Pub/Sub topic about `event`.
    /// Webhook: Slack-compatible JSON, one POST per event; a 5xx or a lost
    /// connection is tried twice more, a 4xx is not (the message itself was
    /// refused). Pub/Sub: one message, the event, release, environment and
    /// status as attributes. What came of each is kept for the log, never
    /// the webhook URL, which is a secret.
    async fn notify_text(&mut self, event: &str, status: &str, log: &ReleaseLog, text: String) {
        let env = self.env().to_string();
        let Some(notify) = self
            .platform
            .config
            .release
            .notify
            .clone()
            .filter(|n| n.envs.is_empty() || n.envs.contains(&env))
        else {
            return;
        };
        if self.options.dry_run {
            return;
        }
        let text = self.redactor.redact(&text);
        if let Some(webhook) = &notify.webhook {
            let outcome = self.post_webhook(webhook, &text).await;
            self.notifications.push(format!("{event}: {outcome}"));
        }
        if let Some(topic) = &notify.pubsub {
            let data = serde_json::json!({
                "event": event,
                "release_id": log.release_id,
                "env": env,
                "attempt": log.attempt,
                "status": status,
                "report": self.report_link(&log.release_id),
                "text": text,
            })
            .to_string();
            let attributes = std::collections::BTreeMap::from([
                ("event".to_string(), event.to_string()),
                ("release_id".to_string(), log.release_id.clone()),
                ("env".to_string(), env.clone()),
                ("status".to_string(), status.to_string()),
            ]);
            let published = async {
                let notifier = preflight_gcp::PubSubNotifier::connect(
                    &preflight_gcp::ClientOptions::from_env(),
                    topic,
                )
                .await?;
                notifier.publish(&data, &attributes).await
            }
            .await;
            self.notifications.push(match published {
                Ok(id) => format!("{event}: published to {topic} (message {id})"),
                Err(e) => format!(
                    "{event}: Pub/Sub failed: {}",
                    self.redactor.redact(&crate::error::error_text(&e))
                ),
            });
        }
    }

    /// One POST of `text` to the webhook; what came of it, in a few words.
    async fn post_webhook(&mut self, webhook: &str, text: &str) -> String {
        let url = match webhook.strip_prefix("env:") {
            Some(var) => match std::env::var(var) {
                Ok(u) => u,
                Err(_) => return format!("not sent, ${var} is not set"),
            },
            None => webhook.to_string(),
        };
        let probe = HttpProbe {
            request: HttpRequest {
                method: "POST".into(),
                url,
                headers: vec![("content-type".into(), "application/json".into())],
                body: Some(serde_json::json!({ "text": text }).to_string()),
            },
            expect: HttpExpect {
                final_on_4xx: true,
                ..HttpExpect::default()
            },
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
        if r.outcome.passed() {
            "webhook notified".to_string()
        } else {
            format!("webhook failed ({})", r.outcome.as_str())
        }
    }
}

/// A step the engine builds itself (a checkout, a backup, a migration).
pub(super) struct OwnStep {
    pub(super) name: String,
    pub(super) kind: &'static str,
    pub(super) outcome: ProbeOutcome,
    pub(super) severity: Severity,
    pub(super) summary: String,
    pub(super) evidence: Vec<String>,
    pub(super) duration: Duration,
}

impl OwnStep {
    /// A hard step that passed or failed.
    pub(super) fn hard(
        name: impl Into<String>,
        kind: &'static str,
        passed: bool,
        summary: String,
    ) -> OwnStep {
        OwnStep {
            name: name.into(),
            kind,
            outcome: if passed {
                ProbeOutcome::Passed
            } else {
                ProbeOutcome::Failed
            },
            severity: Severity::Hard,
            summary,
            evidence: Vec::new(),
            duration: Duration::ZERO,
        }
    }

    /// The same step, but what it could not check is an error (fails closed).
    pub(super) fn errored(mut self) -> OwnStep {
        self.outcome = ProbeOutcome::Errored;
        self
    }

    pub(super) fn soft(mut self) -> OwnStep {
        self.severity = Severity::Soft;
        self
    }

    pub(super) fn evidence(mut self, evidence: Vec<String>) -> OwnStep {
        self.evidence = evidence;
        self
    }

    pub(super) fn took(mut self, duration: Duration) -> OwnStep {
        self.duration = duration;
        self
    }
}

/// A phase's status from its steps: any hard failure fails it, soft ones warn.
pub(super) fn conclude(steps: &[StepRecord], what: &str) -> Concluded {
    let failed_hard = |s: &&StepRecord| !s.passed() && s.severity == Severity::Hard;
    let hard = steps.iter().filter(failed_hard).count();
    let soft = steps
        .iter()
        .filter(|s| !s.passed() && s.severity == Severity::Soft)
        .count();
    let passed = steps.iter().filter(|s| s.passed()).count();
    if hard > 0 {
        let first = steps
            .iter()
            .find(failed_hard)
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
