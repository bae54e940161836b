//! `preflight db diff`.

use preflight_release::{DatabaseDrift, DriftOptions, DriftState, Finding, Platform};

use crate::args::{DbCommand, DbDiffArgs};
use crate::{Outcome, Output};

pub(crate) fn run(command: DbCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let DbCommand::Diff(args) = command;
    let runtime = super::runtime()?;
    if let (Some(from), Some(to)) = (&args.from, &args.to) {
        let findings = runtime.block_on(preflight_release::compare_databases(
            from,
            to,
            args.with_privileges,
        ))?;
        if output.json() {
            output.print_json(&findings)?;
        } else {
            print_findings(output, &findings)?;
            writeln!(output.out, "{}", verdict(findings.len()))?;
        }
        return Ok(if findings.is_empty() {
            Outcome::Ok
        } else {
            Outcome::NotOk
        });
    }
    let reports = runtime.block_on(check(&args))?;
    if output.json() {
        output.print_json(&reports)?;
    } else {
        for r in &reports {
            print_report(output, r)?;
        }
    }
    Ok(
        if reports.iter().any(|r| r.state == DriftState::Unchecked) {
            Outcome::CouldNotCheck
        } else if reports.iter().any(|r| r.state == DriftState::Drift) {
            Outcome::NotOk
        } else {
            Outcome::Ok
        },
    )
}

async fn check(args: &DbDiffArgs) -> anyhow::Result<Vec<DatabaseDrift>> {
    let platform = Platform::load(&args.config)?;
    let env = args.env.as_deref().unwrap_or_default();
    let manifest = match &args.manifest {
        Some(path) => Some(platform.load_manifest(path, Some(env))?),
        None => None,
    };
    let target = platform.target(env).await?;
    let options = DriftOptions {
        module: args.module.clone(),
        privileges: args.with_privileges,
    };
    Ok(platform
        .schema_drift(&target, manifest.as_ref(), &options)
        .await?)
}

fn verdict(n: usize) -> String {
    if n == 0 {
        "no drift".to_string()
    } else {
        format!("{n} difference(s)")
    }
}

fn print_report(output: &mut Output<'_>, r: &DatabaseDrift) -> anyhow::Result<()> {
    let up_to = match r.shadow {
        preflight_release::ShadowTarget::LiveLedger => "what the live ledger says is applied",
        preflight_release::ShadowTarget::Manifest => "the manifest's pins",
    };
    writeln!(
        output.out,
        "database {} ({}): migrations of {} up to {up_to}",
        r.database,
        r.via,
        r.modules.join(", ")
    )?;
    match r.state {
        DriftState::Unchecked => {
            writeln!(
                output.out,
                "  cannot check: {}",
                r.problem.as_deref().unwrap_or("unknown")
            )?;
        }
        _ => {
            print_findings(output, &r.findings)?;
            let unrecorded = r
                .findings
                .iter()
                .filter(|f| f.label() == "unrecorded")
                .count();
            let note = if unrecorded > 0 {
                format!(
                    "; {unrecorded} not in any migration: a Prime Directive violation (a manual change)"
                )
            } else {
                String::new()
            };
            writeln!(output.out, "  {}{note}", verdict(r.findings.len()))?;
        }
    }
    Ok(())
}

/// Grouped by object: its kind and name once, then each difference.
fn print_findings(output: &mut Output<'_>, findings: &[Finding]) -> anyhow::Result<()> {
    let mut last: Option<(&str, &str)> = None;
    for f in findings {
        let object = (f.kind.as_str(), f.name.as_str());
        if last != Some(object) {
            writeln!(output.out, "  {:<10} {}", object.0, object.1)?;
            last = Some(object);
        }
        writeln!(output.out, "    {:<10} {}", f.label(), f.describe())?;
    }
    Ok(())
}
