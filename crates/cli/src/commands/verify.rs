//! `preflight verify --config --env [--only NAME]… [--junit F] [--json F] [--markdown F]`.

use std::path::Path;

use anyhow::Context as _;
use preflight_manifest::ProbePhase;
use preflight_verify::{Outcome as ProbeOutcome, ProbeResult, Report, Runner, Severity};

use crate::args::{PhaseArg, VerifyArgs};
use crate::{Outcome, Output};
use preflight_release::{Platform, ProbeSelection};

pub(crate) fn run(args: VerifyArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let platform = Platform::load(&args.config)?;
    let selection = ProbeSelection {
        phase: args.phase.map(|p| match p {
            PhaseArg::Verify => ProbePhase::Verify,
            PhaseArg::Smoke => ProbePhase::Smoke,
        }),
        only: args.only.clone(),
        gates: args.gates,
        probes: true,
        readiness: true,
        images: Default::default(),
    };
    let runtime = super::runtime()?;
    let report = runtime.block_on(async {
        let target = platform.target(&args.env).await?;
        let specs = platform.probe_specs(&target, &selection)?;
        let runner = Runner::new(args.concurrency)?;
        let cancel = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let progress = !output.quiet && !output.json();
        let err = &mut *output.err;
        let report = runner
            .run_until(specs, cancel, |r| {
                if progress {
                    let _ = writeln!(err, "{} {}", mark(r), r.name);
                }
            })
            .await;
        anyhow::Ok(report)
    })?;
    write_reports(&report, &args, output)?;
    Ok(if report.gate_passed() {
        Outcome::Ok
    } else {
        Outcome::NotOk
    })
}

/// Writes the requested report files, then the report to the terminal.
fn write_reports(
    report: &Report,
    args: &VerifyArgs,
    output: &mut Output<'_>,
) -> anyhow::Result<()> {
    let suite = format!("preflight verify {}", args.env);
    for (path, text) in [
        (&args.junit, report.to_junit(&suite)),
        (&args.json, report.to_json()),
        (&args.markdown, report.to_markdown()),
    ] {
        if let Some(path) = path {
            write(path, &text)?;
        }
    }
    if output.json() {
        output.print_json(report)?;
    } else if report.results.is_empty() {
        writeln!(output.err, "no probes configured for `{}`", args.env)?;
    } else {
        let color = output.color;
        let table = report.to_table(&|r, cell| paint(color, r, cell));
        write!(output.out, "{table}")?;
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn mark(r: &ProbeResult) -> &'static str {
    match (r.outcome, r.severity) {
        (ProbeOutcome::Passed, _) => "ok  ",
        (_, Severity::Soft) => "warn",
        _ => "FAIL",
    }
}

/// Green for passed, yellow for soft failures, red for hard ones.
pub(crate) fn paint(color: bool, r: &ProbeResult, cell: &str) -> String {
    if !color {
        return cell.to_string();
    }
    let code = match (r.outcome.passed(), r.severity) {
        (true, _) => "32",
        (false, Severity::Soft) => "33",
        (false, Severity::Hard) => "1;31",
    };
    format!("\x1b[{code}m{cell}\x1b[0m")
}
