//! `preflight migrate status | plan | up`.

use std::time::Duration;

use preflight_migrate::{
    MigrationState, Migrator, SourceKind, SqlDir, Status, SupabaseDir, UpEvent, UpOptions,
};

use crate::args::{MigrateArgs, MigrateCommand, MigrationKindArg};
use crate::{Outcome, Output};

pub(crate) fn run(command: MigrateCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            MigrateCommand::Status(args) => status(&args, output).await,
            MigrateCommand::Plan(args) => {
                let options = UpOptions {
                    dry_run: true,
                    ..Default::default()
                };
                up(&args, &options, output).await
            }
            MigrateCommand::Up(args) => {
                let options = UpOptions {
                    target: args.target.clone(),
                    allow_out_of_order: args.allow_out_of_order,
                    dry_run: args.dry_run,
                };
                up(&args.migrate, &options, output).await
            }
        }
    })
}

fn migrator(args: &MigrateArgs) -> Migrator {
    let kind = match args.kind {
        MigrationKindArg::Sql => SourceKind::Sql,
        MigrationKindArg::Supabase => SourceKind::Supabase,
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    Migrator {
        kind,
        source: match kind {
            SourceKind::Sql => Box::new(SqlDir {
                dir: args.dir.clone(),
            }),
            SourceKind::Supabase => Box::new(SupabaseDir {
                dir: args.dir.clone(),
            }),
        },
        database_url: args.database_url.clone(),
        applied_by: if host.is_empty() {
            user
        } else {
            format!("{user}@{host}")
        },
        lock_timeout: Duration::from_secs(args.lock_timeout),
    }
}

async fn status(args: &MigrateArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let status = migrator(args).status().await?;
    if output.json() {
        output.print_json(&status)?;
    } else {
        print_status(output, &status)?;
    }
    Ok(if status.is_clean() {
        Outcome::Ok
    } else {
        Outcome::NotOk
    })
}

fn print_status(output: &mut Output<'_>, status: &Status) -> anyhow::Result<()> {
    for e in &status.entries {
        let state = e.state.as_str();
        writeln!(output.out, "{:<14} {:<16} {}", state, e.version, e.name)?;
    }
    let counts: Vec<String> = [
        MigrationState::Applied,
        MigrationState::Pending,
        MigrationState::Modified,
        MigrationState::Missing,
        MigrationState::OutOfOrder,
        MigrationState::Failed,
    ]
    .into_iter()
    .filter_map(|s| {
        let n = status.count(s);
        (n > 0).then(|| format!("{n} {}", s.as_str()))
    })
    .collect();
    writeln!(
        output.out,
        "{}",
        if counts.is_empty() {
            "no migrations".to_string()
        } else {
            counts.join(", ")
        }
    )?;
    Ok(())
}

async fn up(
    args: &MigrateArgs,
    options: &UpOptions,
    output: &mut Output<'_>,
) -> anyhow::Result<Outcome> {
    let migrator = migrator(args);
    let quiet = output.quiet || output.json();
    let mut progress: Vec<String> = Vec::new();
    let mut on_event = |e: UpEvent| {
        if quiet {
            return;
        }
        match e {
            UpEvent::Locked { waited } if waited > Duration::from_millis(500) => {
                progress.push(format!(
                    "waited {:.1}s for the migration lock",
                    waited.as_secs_f64()
                ));
            }
            UpEvent::Applying {
                index,
                count,
                version,
                name,
            } => progress.push(format!("[{}/{count}] applying {version} {name}", index + 1)),
            UpEvent::Applied { version, elapsed } => progress.push(format!(
                "        applied {version} in {} ms",
                elapsed.as_millis()
            )),
            _ => {}
        }
    };
    let result = migrator.up(options, &mut on_event).await;
    for line in &progress {
        writeln!(output.err, "{line}")?;
    }
    let report = match result {
        Ok(r) => r,
        Err(
            e @ (preflight_migrate::Error::Refused { .. }
            | preflight_migrate::Error::MigrationFailed { .. }),
        ) => {
            writeln!(output.err, "error: {e}")?;
            return Ok(Outcome::NotOk);
        }
        Err(e) => return Err(e.into()),
    };
    if output.json() {
        output.print_json(&report)?;
    } else if report.dry_run {
        writeln!(
            output.out,
            "{} migration(s) would be applied:",
            report.plan.len()
        )?;
        let (migrations, _) = migrator.source.list().await?;
        for (version, name) in &report.plan {
            writeln!(output.out, "-- {version} {name}")?;
            if let Some(m) = migrations.iter().find(|m| &m.version == version) {
                writeln!(output.out, "{}", m.sql.trim_end())?;
            }
        }
    } else if !output.quiet {
        writeln!(output.out, "applied {} migration(s)", report.applied.len())?;
    }
    Ok(Outcome::Ok)
}
