//! `preflight release run|rollback|status|list|show` and `preflight doctor`.

use std::time::Duration;

use preflight_release::{
    DoctorState, PhaseStatus, Platform, ReleaseEvent, ReleaseOptions, ReleaseStatus,
    RollbackOptions, operator, rollback_release, run_release,
};

use crate::args::{
    DoctorArgs, ReleaseCommand, ReleaseEnvArgs, ReleaseRollbackArgs, ReleaseShowArgs,
};

/// What a run drives: a release, or a rollback (a release run too).
enum Job {
    Release(ReleaseOptions),
    Rollback(RollbackOptions),
}
use crate::{Outcome, Output};

pub(crate) fn run(command: ReleaseCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let args = match command {
        ReleaseCommand::Run(args) => args,
        ReleaseCommand::Status(args) => return status(args, output),
        ReleaseCommand::List(args) => return list(args, output),
        ReleaseCommand::Show(args) => return show(args, output),
        ReleaseCommand::Rollback(args) => return rollback(args, output),
    };
    let junit = args.junit.clone();
    let options = ReleaseOptions {
        config: args.config,
        manifest: args.manifest,
        env: args.env,
        dry_run: args.dry_run,
        resume: args.resume,
        only: args.only,
        from: args.from,
        skip: args.skip,
        skip_reason: args.reason,
        operator: operator(),
        concurrency: args.concurrency,
        jobs: args.jobs,
        interrupt: None,
        checklist_key: super::checklist::signing_key()?,
        rollback_of: None,
    };
    drive(Job::Release(options), junit, output)
}

fn rollback(args: ReleaseRollbackArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let junit = args.junit.clone();
    let options = RollbackOptions {
        config: args.config,
        env: args.env,
        to: args.to,
        operator: operator(),
        dry_run: args.dry_run,
        interrupt: None,
        checklist_key: super::checklist::signing_key()?,
    };
    drive(Job::Rollback(options), junit, output)
}

/// Runs `job`, printing its events as they come, then its outcome.
fn drive(
    job: Job,
    junit: Option<std::path::PathBuf>,
    output: &mut Output<'_>,
) -> anyhow::Result<Outcome> {
    let (config, env) = match &job {
        Job::Release(o) => (o.config.clone(), o.env.clone()),
        Job::Rollback(o) => (o.config.clone(), o.env.clone()),
    };
    let runtime = super::runtime()?;
    let json = output.json();
    let quiet = output.quiet;
    // A spinner only on a terminal: elsewhere each line is written as it happens.
    let live = output.color && !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let spinner = live.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let color = output.color;
    let out = output.live();
    let mut on_event = |e: &ReleaseEvent| {
        if json {
            if let Ok(line) = serde_json::to_string(e) {
                let _ = writeln!(out, "{line}");
            }
            return;
        }
        let line = match e {
            ReleaseEvent::Started {
                release_id,
                env,
                dry_run,
                resumed,
                attempt,
            } => Some(format!(
                "release {release_id} → {env} (attempt {attempt}){}{}",
                if *dry_run {
                    " (dry run: nothing will change)"
                } else {
                    ""
                },
                if *resumed { " (resumed)" } else { "" }
            )),
            ReleaseEvent::PhaseStarted { phase } => {
                if let Some(bar) = &spinner {
                    bar.set_message(phase.as_str().to_string());
                }
                None
            }
            ReleaseEvent::Step {
                phase,
                name,
                passed,
                summary,
            } => {
                if let Some(bar) = &spinner {
                    bar.set_message(format!("{}: {name}", phase.as_str()));
                }
                (!quiet).then(|| {
                    format!(
                        "    {} {name}: {summary}",
                        if *passed { "ok  " } else { "FAIL" }
                    )
                })
            }
            ReleaseEvent::PhaseFinished {
                phase,
                status,
                summary,
                duration_ms,
            } => {
                let word = paint(color, *status);
                Some(format!(
                    "{word} {:<10} {summary} ({duration_ms} ms)",
                    phase.as_str()
                ))
            }
            ReleaseEvent::WatchRound {
                round,
                passed,
                total,
                remaining_secs,
            } => (!quiet).then(|| {
                format!("    watch round {round}: {passed}/{total} probes passed, {remaining_secs} s left")
            }),
            ReleaseEvent::Finished { .. } => None,
        };
        if let Some(line) = line {
            match &spinner {
                Some(bar) => bar.println(line),
                None => {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    };
    let result = runtime.block_on(async {
        // Ctrl-C or SIGTERM stop the running phase cleanly and record it.
        let interrupt = Some(preflight_migrate::interrupt_on_signals());
        match &job {
            Job::Release(o) => {
                let options = ReleaseOptions {
                    interrupt,
                    ..o.clone()
                };
                run_release(&options, &mut on_event).await
            }
            Job::Rollback(o) => {
                let options = RollbackOptions {
                    interrupt,
                    ..o.clone()
                };
                rollback_release(&options, &mut on_event).await
            }
        }
    });
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    let log = result?;
    if let Some(path) = &junit {
        std::fs::write(path, log.to_junit())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if json {
        output.print_json(&log)?;
    } else {
        let dir = Platform::load(&config)
            .ok()
            .map(|p| preflight_release::log_dir(&p, &env));
        match log.status {
            ReleaseStatus::Succeeded if log.rollback_of.is_some() => writeln!(
                output.out,
                "\n{} rolled back from {} to {}",
                log.env,
                log.rollback_of.as_deref().unwrap_or_default(),
                log.release_id
            )?,
            ReleaseStatus::Succeeded => writeln!(
                output.out,
                "\nrelease {} to {} succeeded",
                log.release_id, log.env
            )?,
            ReleaseStatus::DryRun => writeln!(output.out, "\ndry run: nothing was changed")?,
            ReleaseStatus::Running => writeln!(
                output.out,
                "\nthe selected phases ran; the release is not complete"
            )?,
            ReleaseStatus::Failed => {
                let phase = log.failed_phase.map_or("?", |p| p.as_str());
                writeln!(
                    output.out,
                    "\nrelease {} to {} FAILED at {phase}",
                    log.release_id, log.env
                )?;
                if let Some(next) = &log.next_step {
                    writeln!(output.out, "next: {next}")?;
                }
                writeln!(
                    output.out,
                    "resume: preflight release run --config {} --manifest {} --env {env} --resume",
                    config.display(),
                    log.manifest,
                )?;
            }
        }
        if let Some(dir) = dir
            && log.status != ReleaseStatus::DryRun
        {
            writeln!(
                output.out,
                "log: {}",
                dir.join(format!("{}.md", log.release_id)).display()
            )?;
        }
    }
    // A dry run whose preflight checks fail says the release would not start.
    let interrupted = log
        .phases
        .iter()
        .any(|p| p.status == PhaseStatus::Interrupted);
    Ok(match log.status {
        _ if interrupted => Outcome::Interrupted,
        ReleaseStatus::Failed => Outcome::NotOk,
        _ if log.failed_phase.is_some() => Outcome::NotOk,
        ReleaseStatus::Succeeded | ReleaseStatus::DryRun | ReleaseStatus::Running => Outcome::Ok,
    })
}

fn paint(color: bool, status: PhaseStatus) -> String {
    let (word, code) = match status {
        PhaseStatus::Passed => ("ok  ", "32"),
        PhaseStatus::Warned => ("warn", "33"),
        PhaseStatus::Failed => ("FAIL", "1;31"),
        PhaseStatus::Skipped => ("skip", "2"),
        PhaseStatus::NotRun => ("plan", "36"),
        PhaseStatus::SkippedByOperator => ("SKIP", "1;33"),
        PhaseStatus::Interrupted => ("INT ", "1;31"),
        PhaseStatus::RolledBack => ("BACK", "1;33"),
    };
    if color {
        format!("\x1b[{code}m{word}\x1b[0m")
    } else {
        word.to_string()
    }
}

pub(crate) fn doctor(args: DoctorArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let checks = runtime.block_on(preflight_release::doctor(
        &args.config,
        &args.env,
        args.manifest.as_deref(),
    ));
    if output.json() {
        output.print_json(&checks)?;
    } else {
        let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &checks {
            writeln!(
                output.out,
                "{:<7} {:<width$}  {}",
                c.state.as_str(),
                c.name,
                c.detail
            )?;
        }
    }
    Ok(if checks.iter().any(|c| c.state == DoctorState::Failed) {
        Outcome::NotOk
    } else {
        Outcome::Ok
    })
}

/// `12 s`, `4 min 05 s`, `1 h 02 min`.
fn elapsed(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {:02} s", s / 60, s % 60),
        s => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

fn status(args: ReleaseEnvArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let platform = Platform::load(&args.config)?;
    let status =
        super::runtime()?.block_on(preflight_release::release_status(&platform, &args.env))?;
    if output.json() {
        output.print_json(&status)?;
        return Ok(Outcome::Ok);
    }
    if status.in_flight.is_empty() {
        writeln!(output.out, "no release in flight in {}", status.env)?;
    }
    for f in &status.in_flight {
        let p = &f.progress;
        writeln!(
            output.out,
            "release {} → {} (attempt {}) by {}, running for {}",
            p.release_id,
            p.env,
            p.attempt,
            p.operator,
            elapsed(f.elapsed_secs)
        )?;
        let phase = p.phase.map_or("starting", |ph| ph.as_str());
        match &p.step {
            Some(step) => writeln!(output.out, "  phase {phase}, last step: {step}")?,
            None => writeln!(output.out, "  phase {phase}")?,
        }
        if let Some(holder) = &f.lock_holder {
            writeln!(output.out, "  lock: {holder}")?;
        }
        if !f.process_alive {
            writeln!(
                output.out,
                "  its process (pid {}) is gone on this machine: it died or runs elsewhere; `release show {}` says where it stopped",
                p.pid, p.release_id
            )?;
        }
    }
    if let Some(last) = &status.last {
        writeln!(
            output.out,
            "last: {} {} (attempt {}, {}, {})",
            last.release_id,
            last.status.as_str(),
            last.attempt,
            elapsed(last.duration_secs),
            last.finished_at.map(|t| t.to_string()).unwrap_or_default()
        )?;
    }
    Ok(Outcome::Ok)
}

fn list(args: ReleaseEnvArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let platform = Platform::load(&args.config)?;
    let (releases, store_problem) =
        super::runtime()?.block_on(preflight_release::list_releases(&platform, &args.env))?;
    if output.json() {
        output.print_json(&serde_json::json!({
            "releases": releases,
            "store_problem": store_problem,
        }))?;
    } else {
        if releases.is_empty() {
            writeln!(output.out, "no releases of {} on record", args.env)?;
        }
        for r in &releases {
            let outcome = match (r.status, r.failed_phase) {
                (_, Some(phase)) => format!("failed at {}", phase.as_str()),
                (ReleaseStatus::Running, None) if r.finished_at.is_none() => "in flight".into(),
                (ReleaseStatus::Running, None) => "partial".into(),
                (status, None) => status.as_str().to_string(),
            };
            let manifest = std::path::Path::new(&r.manifest)
                .file_name()
                .map_or(r.manifest.clone(), |n| n.to_string_lossy().into_owned());
            writeln!(
                output.out,
                "{:<28} {:<22} attempt {:<3} {:>12}  {}  {manifest} ({})  by {}",
                r.release_id,
                outcome,
                r.attempt,
                elapsed(r.duration_secs),
                r.started_at.strftime("%Y-%m-%d %H:%M"),
                &r.manifest_sha256[..r.manifest_sha256.len().min(12)],
                r.operator
            )?;
        }
        if let Some(problem) = &store_problem {
            writeln!(
                output.err,
                "warning: the artifact store was not read: {problem}"
            )?;
        }
    }
    Ok(Outcome::Ok)
}

fn show(args: ReleaseShowArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let platform = Platform::load(&args.config)?;
    let log = super::runtime()?.block_on(preflight_release::show_release(
        &platform,
        args.env.as_deref(),
        &args.release_id,
    ))?;
    if output.json() {
        output.print_json(&log)?;
    } else {
        write!(output.out, "{}", log.to_markdown())?;
    }
    Ok(Outcome::Ok)
}
