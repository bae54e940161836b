//! `preflight release run` and `preflight doctor`.

use std::time::Duration;

use preflight_release::{
    DoctorState, PhaseStatus, Platform, ReleaseEvent, ReleaseOptions, ReleaseStatus, operator,
    run_release,
};

use crate::args::{DoctorArgs, ReleaseCommand};
use crate::{Outcome, Output};

pub(crate) fn run(command: ReleaseCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let ReleaseCommand::Run(args) = command;
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
    let out = &mut *output.out;
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
        let options = ReleaseOptions {
            interrupt: Some(preflight_migrate::interrupt_on_signals()),
            ..options.clone()
        };
        run_release(&options, &mut on_event).await
    });
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    let log = result?;
    if !json {
        let dir = Platform::load(&options.config)
            .ok()
            .map(|p| preflight_release::log_dir(&p, &options.env));
        match log.status {
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
                    "resume: preflight release run --config {} --manifest {} --env {} --resume",
                    options.config.display(),
                    options.manifest.display(),
                    options.env
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
