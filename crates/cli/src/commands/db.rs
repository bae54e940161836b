//! `preflight db diff`.

use anyhow::Context as _;
use preflight_migrate::SourceKind;
use preflight_release::{
    DatabaseDrift, DriftOptions, DriftState, Finding, FolderMigrations, Platform,
};

use crate::args::MigrationKindArg;

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
    let reports = match args.kind {
        Some(kind) => {
            let url = args
                .database_url
                .clone()
                .context("name the live database with --database-url (or DATABASE_URL)")?;
            let migrations = match (kind, args.dir.as_slice()) {
                (MigrationKindArg::Alembic, dirs) => FolderMigrations::Alembic {
                    dirs: dirs.to_vec(),
                    recursive: args.recursive,
                },
                (MigrationKindArg::Sql, [dir]) => FolderMigrations::Files {
                    kind: SourceKind::Sql,
                    dir: dir.clone(),
                },
                (MigrationKindArg::Supabase, [dir]) => FolderMigrations::Files {
                    kind: SourceKind::Supabase,
                    dir: dir.clone(),
                },
                _ => anyhow::bail!(
                    "sql and supabase migrations are read from one folder; give --dir once"
                ),
            };
            vec![runtime.block_on(preflight_release::folder_drift(
                &migrations,
                &url,
                args.with_privileges,
            ))]
        }
        None => runtime.block_on(check(&args))?,
    };
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
    let of = if r.modules.is_empty() {
        "its migrations".to_string()
    } else {
        format!("migrations of {}", r.modules.join(", "))
    };
    writeln!(
        output.out,
        "database {} ({}): {of} up to {up_to}",
        r.database, r.via
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
