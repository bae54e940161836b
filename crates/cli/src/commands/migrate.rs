//! `preflight migrate status | plan | up | baseline | repair | new | rollback`.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use preflight_migrate::{
    ArtifactStore, LocalDirStore, MigrationState, Migrator, RepairStatus, SourceKind, SqlDir,
    Status, SupabaseDir, UpEvent, UpOptions,
};

use crate::args::{
    MigrateArgs, MigrateCommand, MigrationKindArg, RepairStatusArg, SourceArgs, UpArgs,
};
use crate::project::{LOCAL_ENV, Project, operator};
use crate::{Outcome, Output};

pub(crate) fn run(command: MigrateCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            MigrateCommand::Status(args) => status(&args, output).await,
            MigrateCommand::Plan(args) => {
                let target = resolve(&args)?;
                let options = UpOptions {
                    dry_run: true,
                    ..Default::default()
                };
                up(&target, &options, output).await
            }
            MigrateCommand::Up(args) => up_command(&args, output).await,
            MigrateCommand::Baseline(args) => {
                let target = resolve(&args.migrate)?;
                let changes = target.migrator.baseline(&args.up_to).await;
                ledger_changes(changes, output)
            }
            MigrateCommand::Repair(args) => {
                let target = resolve(&args.migrate)?;
                let status = match args.status {
                    RepairStatusArg::Applied => RepairStatus::Applied,
                    RepairStatusArg::Reverted => RepairStatus::Reverted,
                };
                let changes = target.migrator.repair(status, &args.versions).await;
                ledger_changes(changes, output)
            }
            MigrateCommand::New(args) => {
                let (kind, dir) = source_dir(&args.source)?;
                let path =
                    preflight_migrate::new_migration(kind, &dir, &args.name, jiff::Timestamp::now())
                        .await?;
                writeln!(output.out, "{}", path.display())?;
                Ok(Outcome::Ok)
            }
            MigrateCommand::Rollback(args) => {
                let (kind, dir) = source_dir(&args.source)?;
                let path = preflight_migrate::rollback_migration(
                    kind,
                    &dir,
                    &args.target,
                    jiff::Timestamp::now(),
                )
                .await?;
                writeln!(output.out, "{}", path.display())?;
                if !output.quiet {
                    writeln!(
                        output.err,
                        "finish the statements in it, review, then `migrate up`; the reverted file is unchanged"
                    )?;
                }
                Ok(Outcome::Ok)
            }
        }
    })
}

/// A migrator and what the command needs to know about where it points.
struct Target {
    migrator: Migrator,
    /// The config's environment, when one was named.
    env: Option<String>,
    project: Option<Project>,
    /// The database, for people.
    database: String,
}

fn kind_of(arg: MigrationKindArg) -> SourceKind {
    match arg {
        MigrationKindArg::Sql => SourceKind::Sql,
        MigrationKindArg::Supabase => SourceKind::Supabase,
    }
}

/// The migrations folder of `--kind/--dir` or `--config/--module`.
fn source_dir(args: &SourceArgs) -> anyhow::Result<(SourceKind, PathBuf)> {
    match (&args.config, args.kind, &args.dir) {
        (Some(config), _, _) => {
            let project = Project::load(config)?;
            let module = args.module.as_deref().context("--config needs --module")?;
            let m = project.module(module)?;
            let source = m
                .migrations
                .as_ref()
                .with_context(|| format!("module `{module}` declares no migrations"))?;
            let kind = match source.kind {
                preflight_manifest::MigrationKind::Sql => SourceKind::Sql,
                preflight_manifest::MigrationKind::Supabase => SourceKind::Supabase,
                other => bail!(
                    "module `{module}` migrates with {}; create its files with that tool",
                    other.as_str()
                ),
            };
            Ok((kind, project.root().join(&m.repo).join(&source.dir)))
        }
        (None, Some(kind), Some(dir)) => Ok((kind_of(kind), dir.clone())),
        _ => bail!("name the migrations with --kind and --dir, or --config and --module"),
    }
}

fn resolve(args: &MigrateArgs) -> anyhow::Result<Target> {
    let lock_timeout = Duration::from_secs(args.lock_timeout);
    let applied_by = operator();
    if let Some(config) = &args.source.config {
        let project = Project::load(config)?;
        let env = args.env.as_deref().context("--config needs --env")?;
        let module = args
            .source
            .module
            .as_deref()
            .context("--config needs --module")?;
        let (migrator, db) = project.migrator(env, module, &applied_by, lock_timeout)?;
        return Ok(Target {
            migrator,
            env: Some(env.to_string()),
            project: Some(project),
            database: format!("{} ({})", db.name, db.via),
        });
    }
    let (kind, dir) = source_dir(&args.source)?;
    let url = args
        .database_url
        .clone()
        .context("name the database with --database-url (or DATABASE_URL)")?;
    // The name only: hosts and users stay out of logs.
    let database = preflight_migrate::database_name(&url).unwrap_or_else(|| "the database".into());
    Ok(Target {
        migrator: Migrator {
            kind,
            source: match kind {
                SourceKind::Sql => Box::new(SqlDir { dir }),
                SourceKind::Supabase => Box::new(SupabaseDir { dir }),
            },
            database_url: url,
            applied_by,
            lock_timeout,
        },
        env: None,
        project: None,
        database,
    })
}

async fn status(args: &MigrateArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let status = resolve(args)?.migrator.status().await?;
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

fn ledger_changes(
    changes: Result<Vec<preflight_migrate::LedgerChange>, preflight_migrate::Error>,
    output: &mut Output<'_>,
) -> anyhow::Result<Outcome> {
    let changes = match changes {
        Ok(c) => c,
        Err(e @ preflight_migrate::Error::Refused { .. }) => {
            writeln!(output.err, "error: {e}")?;
            return Ok(Outcome::NotOk);
        }
        Err(e) => return Err(e.into()),
    };
    if output.json() {
        output.print_json(&changes)?;
    } else {
        for c in &changes {
            writeln!(output.out, "{:<16} {:<16} {}", c.action, c.version, c.name)?;
        }
        if !output.quiet {
            writeln!(output.out, "{} ledger row(s) changed", changes.len())?;
        }
    }
    Ok(Outcome::Ok)
}

/// `up`: a backup first (except on `local`, or with --no-backup), then apply.
async fn up_command(args: &UpArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let target = resolve(&args.migrate)?;
    let options = UpOptions {
        target: args.target.clone(),
        allow_out_of_order: args.allow_out_of_order,
        dry_run: args.dry_run,
    };
    let is_local = target.env.as_deref() == Some(LOCAL_ENV);
    if !args.dry_run && !args.no_backup && !is_local {
        let pending = target
            .migrator
            .status()
            .await?
            .pending(options.target.as_deref(), options.allow_out_of_order)
            .len();
        if pending > 0 {
            let store: Box<dyn ArtifactStore> = match (&target.project, &target.env) {
                (Some(project), Some(env)) => project.artifact_store(env)?,
                _ => Box::new(LocalDirStore {
                    root: args
                        .backup_dir
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(".preflight/artifacts")),
                }),
            };
            let name = preflight_migrate::database_name(&target.migrator.database_url)
                .unwrap_or_else(|| "database".into());
            let key = preflight_migrate::backup_key(&name, jiff::Timestamp::now());
            if !output.quiet && !output.json() {
                writeln!(
                    output.err,
                    "backing up {} before migrating…",
                    target.database
                )?;
            }
            let backup =
                preflight_migrate::backup_database(&target.migrator.database_url, &*store, &key)
                    .await
                    .context("the backup failed, so nothing was migrated (use --no-backup to skip it deliberately)")?;
            if !output.json() {
                writeln!(
                    output.err,
                    "backup: {} ({} bytes, sha256 {})",
                    backup.artifact.uri, backup.artifact.size, backup.artifact.sha256
                )?;
            }
        }
    }
    up(&target, &options, output).await
}

async fn up(
    target: &Target,
    options: &UpOptions,
    output: &mut Output<'_>,
) -> anyhow::Result<Outcome> {
    let migrator = &target.migrator;
    let quiet = output.quiet || output.json();
    let bar = (!quiet && output.color && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let mut lines: Vec<String> = Vec::new();
    let mut on_event = |e: UpEvent| {
        if quiet {
            return;
        }
        match (e, &bar) {
            (UpEvent::Locked { waited }, _) if waited > Duration::from_millis(500) => {
                lines.push(format!(
                    "waited {:.1}s for the migration lock",
                    waited.as_secs_f64()
                ));
            }
            (UpEvent::Planned { count }, Some(bar)) => bar.set_length(count as u64),
            (UpEvent::Applying { version, name, .. }, Some(bar)) => {
                bar.set_message(format!("{version} {name}"));
            }
            (UpEvent::Applied { .. }, Some(bar)) => bar.inc(1),
            (
                UpEvent::Applying {
                    index,
                    count,
                    version,
                    name,
                },
                None,
            ) => {
                lines.push(format!("[{}/{count}] applying {version} {name}", index + 1));
            }
            (UpEvent::Applied { version, elapsed }, None) => {
                lines.push(format!(
                    "        applied {version} in {} ms",
                    elapsed.as_millis()
                ));
            }
            _ => {}
        }
    };
    let result = migrator.up(options, &mut on_event).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    for line in &lines {
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
        writeln!(
            output.out,
            "applied {} migration(s) to {}",
            report.applied.len(),
            target.database
        )?;
    }
    Ok(Outcome::Ok)
}
