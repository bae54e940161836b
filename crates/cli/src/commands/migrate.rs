//! `preflight migrate status | plan | up | baseline | repair | new | rollback`.

use std::io::{IsTerminal as _, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use preflight_migrate::{
    AlembicMigrator, AlembicProject, ArtifactStore, BackupTo, LocalDirStore, MigrationState,
    Migrations, Migrator, ModuleState, RepairStatus, SourceKind, SqlDir, Status, SupabaseDir,
    UpEvent, UpOptions,
};
use preflight_release::{LOCAL_ENV, ModuleCheck, Platform, operator};

use crate::args::{
    GraphArgs, MigrateArgs, MigrateCommand, MigrationKindArg, RepairStatusArg, SourceArgs, UpArgs,
};
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
                run_up(resolve(&args).await?, &options, false, true, output).await
            }
            MigrateCommand::Up(args) => up_command(&args, output).await,
            MigrateCommand::Baseline(args) => {
                let target = resolve(&args.migrate).await?;
                let changes = files_only(&target)?.baseline(&args.up_to).await;
                ledger_changes(changes, output)
            }
            MigrateCommand::Repair(args) => {
                let target = resolve(&args.migrate).await?;
                let status = match args.status {
                    RepairStatusArg::Applied => RepairStatus::Applied,
                    RepairStatusArg::Reverted => RepairStatus::Reverted,
                };
                let changes = files_only(&target)?.repair(status, &args.versions).await;
                ledger_changes(changes, output)
            }
            MigrateCommand::Lint(args) => lint(&args, output).await,
            MigrateCommand::Heads(args) => heads(&args, false, output),
            MigrateCommand::History(args) => heads(&args, true, output),
            MigrateCommand::New(args) => {
                let source = source_dir(&args.source)?;
                let kind = file_kind(source.kind, "`migrate new`")?;
                let dir = source.dir()?;
                let path =
                    preflight_migrate::new_migration(kind, &dir, &args.name, jiff::Timestamp::now())
                        .await?;
                writeln!(output.out, "{}", path.display())?;
                Ok(Outcome::Ok)
            }
            MigrateCommand::Rollback(args) => {
                let source = source_dir(&args.source)?;
                let kind = file_kind(source.kind, "`migrate rollback`")?;
                let dir = source.dir()?;
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

/// What a command migrates and where it points.
struct Target {
    migrations: Migrations,
    /// The config's environment, when one was named.
    env: Option<String>,
    /// Where backups go.
    store: Result<Arc<dyn ArtifactStore>, String>,
    /// The database, for people.
    database: String,
}

fn files_only(target: &Target) -> anyhow::Result<&Migrator> {
    match &target.migrations {
        Migrations::Files { migrator, .. } => Ok(migrator),
        Migrations::Alembic { .. } => {
            bail!(
                "baseline and repair are for sql and supabase ledgers; for Alembic use `alembic stamp`"
            )
        }
        Migrations::Scripts(_) => {
            bail!("baseline and repair are for sql and supabase ledgers")
        }
    }
}

/// The migrations of `--kind/--dir` or `--config/--module`: the flavour
/// and every folder (several only for Alembic).
struct Source {
    kind: MigrationKindArg,
    dirs: Vec<PathBuf>,
    recursive: bool,
}

impl Source {
    /// The one folder of a file flavour.
    fn dir(&self) -> anyhow::Result<PathBuf> {
        match self.dirs.as_slice() {
            [one] => Ok(one.clone()),
            _ => bail!("sql and supabase migrations are read from one folder; give --dir once"),
        }
    }

    /// The Alembic project of these folders, as `alembic.ini` describes it.
    fn alembic(&self) -> anyhow::Result<AlembicProject> {
        Ok(AlembicProject::locate(&self.dirs, self.recursive)?)
    }
}

fn source_dir(args: &SourceArgs) -> anyhow::Result<Source> {
    match (&args.config, args.kind, args.dir.as_slice()) {
        (Some(config), _, _) => {
            let platform = Platform::load(config)?;
            let module = args.module.as_deref().context("--config needs --module")?;
            let (m, source, _) = platform.migrations_dir(module)?;
            let kind = match source.kind {
                preflight_manifest::MigrationKind::Sql => MigrationKindArg::Sql,
                preflight_manifest::MigrationKind::Supabase => MigrationKindArg::Supabase,
                preflight_manifest::MigrationKind::Alembic => MigrationKindArg::Alembic,
                preflight_manifest::MigrationKind::Python => {
                    bail!(
                        "module `{module}` migrates with Python scripts; this command does not apply"
                    )
                }
            };
            let repo = platform.root().join(&m.repo);
            Ok(Source {
                kind,
                dirs: source.dirs().into_iter().map(|d| repo.join(d)).collect(),
                recursive: source.recursive || args.recursive,
            })
        }
        (None, Some(kind), dirs) if !dirs.is_empty() => {
            if args.recursive && kind != MigrationKindArg::Alembic {
                bail!("--recursive is for Alembic versions folders");
            }
            Ok(Source {
                kind,
                dirs: dirs.to_vec(),
                recursive: args.recursive,
            })
        }
        _ => bail!("name the migrations with --kind and --dir, or --config and --module"),
    }
}

fn file_kind(kind: MigrationKindArg, what: &str) -> anyhow::Result<SourceKind> {
    match kind {
        MigrationKindArg::Sql => Ok(SourceKind::Sql),
        MigrationKindArg::Supabase => Ok(SourceKind::Supabase),
        MigrationKindArg::Alembic => {
            bail!("{what} is for sql and supabase folders; use `alembic revision` for Alembic")
        }
    }
}

async fn resolve(args: &MigrateArgs) -> anyhow::Result<Target> {
    let lock_timeout = Duration::from_secs(args.lock_timeout);
    let applied_by = operator();
    if let Some(config) = &args.source.config {
        let platform = Platform::load(config)?;
        let env = args.env.as_deref().context("--config needs --env")?;
        let module = args
            .source
            .module
            .as_deref()
            .context("--config needs --module")?;
        let manifest = match &args.manifest {
            Some(path) => Some(platform.load_manifest(path, Some(env))?),
            None => None,
        };
        // Resolve only this module's database: no other secret is read.
        let databases: Vec<String> = platform.module(module)?.database.iter().cloned().collect();
        let target = platform.target_for(env, Some(&databases)).await?;
        let resolved = platform.module_migrations(
            &target,
            module,
            manifest.as_ref(),
            &applied_by,
            lock_timeout,
        )?;
        return Ok(Target {
            migrations: resolved.migrations,
            env: Some(env.to_string()),
            store: target
                .artifact_store()
                .map_err(|e| preflight_migrate::error_text(&e)),
            database: format!("{} ({})", resolved.database, resolved.via),
        });
    }
    let source = source_dir(&args.source)?;
    let url = args
        .database_url
        .clone()
        .context("name the database with --database-url (or DATABASE_URL)")?;
    // The name only: hosts and users stay out of logs.
    let database = preflight_migrate::database_name(&url).unwrap_or_else(|| "the database".into());
    let migrations = match source.kind {
        MigrationKindArg::Alembic => Migrations::Alembic {
            migrator: AlembicMigrator {
                project: source.alembic()?,
                database_url: url,
                lock_timeout,
            },
            target: "heads".into(),
        },
        _ => {
            let kind = file_kind(source.kind, "this")?;
            let dir = source.dir()?;
            Migrations::Files {
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
                pins: Vec::new(),
            }
        }
    };
    Ok(Target {
        migrations,
        env: None,
        store: Err("no artifact store".into()),
        database,
    })
}

/// `migrate lint`: squawk's rules over what `up` would apply.
async fn lint(args: &crate::args::LintArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let reports = if let Some(config) = &args.migrate.source.config {
        let platform = Platform::load(config)?;
        let env = args
            .migrate
            .env
            .as_deref()
            .context("--config needs --env")?;
        let manifest = match &args.migrate.manifest {
            Some(path) => Some(platform.load_manifest(path, Some(env))?),
            None => None,
        };
        let target = platform.target(env).await?;
        let options = preflight_release::LintOptions {
            module: args.migrate.source.module.clone(),
            all: args.all,
        };
        platform
            .lint_migrations(&target, manifest.as_ref(), &options)
            .await?
    } else {
        // Without an environment's policy every violation blocks, as squawk's own CLI fails on any.
        let policy = preflight_release::LintPolicy {
            block: preflight_release::lint_rule_names(),
            pg_version: None,
        };
        let source = source_dir(&args.migrate.source)?;
        let name = source
            .dirs
            .first()
            .map_or_else(String::new, |d| d.display().to_string());
        let migrations = if args.all && source.kind != MigrationKindArg::Alembic {
            // No database needed to read the files.
            let dir = source.dir()?;
            let kind = file_kind(source.kind, "this")?;
            Migrations::Files {
                migrator: Migrator {
                    kind,
                    source: match kind {
                        SourceKind::Sql => Box::new(SqlDir { dir }),
                        SourceKind::Supabase => Box::new(SupabaseDir { dir }),
                    },
                    database_url: String::new(),
                    applied_by: operator(),
                    lock_timeout: Duration::from_secs(args.migrate.lock_timeout),
                },
                pins: Vec::new(),
            }
        } else {
            resolve(&args.migrate).await?.migrations
        };
        vec![preflight_release::lint_one(&name, &migrations, args.all, &policy).await]
    };
    let blocking: usize = reports.iter().map(|r| r.blocking()).sum();
    let total: usize = reports.iter().map(|r| r.violations.len()).sum();
    let problems = reports.iter().filter(|r| r.problem.is_some()).count();
    if output.json() {
        output.print_json(&reports)?;
    } else {
        for r in &reports {
            for v in &r.violations {
                writeln!(output.out, "{}", v.render())?;
            }
            if let Some(why) = &r.problem {
                writeln!(output.out, "error: {}: cannot lint: {why}", r.module)?;
            }
        }
        let linted: usize = reports.iter().map(|r| r.linted.len()).sum();
        writeln!(
            output.out,
            "{linted} migration(s) linted: {total} violation(s), {blocking} blocking"
        )?;
    }
    Ok(if problems > 0 {
        Outcome::CouldNotCheck
    } else if blocking > 0 {
        Outcome::NotOk
    } else {
        Outcome::Ok
    })
}

/// `migrate heads` / `migrate history` for Alembic, from the files alone.
fn heads(args: &GraphArgs, history: bool, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let source = source_dir(&args.source)?;
    if source.kind != MigrationKindArg::Alembic {
        bail!("heads and history read Alembic revisions; this module is not Alembic");
    }
    let (graph, warnings) = source.alembic()?.graph()?;
    for w in &warnings {
        writeln!(
            output.err,
            "warning: {}:{}: {}",
            w.path.display(),
            w.line,
            w.message
        )?;
    }
    let branch_points = graph.branch_points();
    let merge_points = graph.merge_points();
    let head_ids = if args.resolve_dependencies {
        graph.real_heads()
    } else {
        graph.heads()
    };
    if history {
        let revs = graph.history();
        if output.json() {
            output.print_json(&revs)?;
            return Ok(Outcome::Ok);
        }
        // `alembic history`'s own line: parents (and dependencies) -> id
        // (branch labels) (head | effective head) (branchpoint) (mergepoint), doc.
        let real_heads = graph.real_heads();
        let heads = graph.heads();
        for r in revs {
            let mut down = match &r.down_revision {
                None => "<base>".to_string(),
                Some(d) if d.is_empty() => "<base>".to_string(),
                Some(d) => d.join(", "),
            };
            if let Some(deps) = r.depends_on.as_ref().filter(|d| !d.is_empty()) {
                down.push_str(&format!(" ({})", deps.join(", ")));
            }
            let mut marks = String::new();
            let labels = graph.labels(&r.id);
            if !labels.is_empty() {
                marks.push_str(&format!(" ({})", labels.join(", ")));
            }
            if real_heads.contains(&r.id.as_str()) {
                marks.push_str(" (head)");
            } else if heads.contains(&r.id.as_str()) {
                marks.push_str(" (effective head)");
            }
            if branch_points.contains(&r.id.as_str()) {
                marks.push_str(" (branchpoint)");
            }
            if merge_points.contains(&r.id.as_str()) {
                marks.push_str(" (mergepoint)");
            }
            writeln!(output.out, "{down} -> {}{marks}, {}", r.id, r.message)?;
        }
    } else if output.json() {
        output.print_json(&head_ids)?;
    } else {
        for id in head_ids {
            let labels = graph.labels(id);
            if labels.is_empty() {
                writeln!(output.out, "{id} (head)")?;
            } else {
                writeln!(output.out, "{id} ({}) (head)", labels.join(", "))?;
            }
        }
    }
    Ok(Outcome::Ok)
}

async fn status(args: &MigrateArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    // With a config: one table for every module (or the one named), against the manifest.
    if let Some(config) = &args.source.config {
        let platform = Platform::load(config)?;
        let env = args.env.as_deref().context("--config needs --env")?;
        let manifest = match &args.manifest {
            Some(path) => Some(platform.load_manifest(path, Some(env))?),
            None => None,
        };
        let target = platform.target(env).await?;
        let checks = platform
            .check_migrations(&target, manifest.as_ref(), args.source.module.as_deref())
            .await?;
        if output.json() {
            output.print_json(&checks)?;
        } else {
            print_checks(output, &checks)?;
        }
        return Ok(if checks.iter().any(|c| c.state == ModuleState::Error) {
            Outcome::CouldNotCheck
        } else if checks.iter().all(ModuleCheck::ok) {
            Outcome::Ok
        } else {
            Outcome::NotOk
        });
    }
    match resolve(args).await?.migrations {
        Migrations::Files { migrator, .. } => report_status(output, &migrator.status().await?),
        Migrations::Alembic { migrator, target } => {
            let status = migrator.status(&target).await?;
            if output.json() {
                output.print_json(&status)?;
            } else {
                let current = if status.current.is_empty() {
                    "(empty)".to_string()
                } else {
                    status.current.join(", ")
                };
                writeln!(output.out, "current  {current}")?;
                writeln!(
                    output.out,
                    "target   {} ({})",
                    status.target,
                    status.target_heads.join(", ")
                )?;
                for p in &status.pending {
                    writeln!(output.out, "pending  {p}")?;
                }
                let verdict = if status.at_target() {
                    "at target"
                } else {
                    "not at target"
                };
                writeln!(output.out, "{verdict}")?;
            }
            Ok(if status.at_target() {
                Outcome::Ok
            } else {
                Outcome::NotOk
            })
        }
        Migrations::Scripts(list) => report_status(output, &list.status().await?),
    }
}

fn print_checks(output: &mut Output<'_>, checks: &[ModuleCheck]) -> anyhow::Result<()> {
    let width = checks
        .iter()
        .map(|c| c.module.len())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        output.out,
        "{:<width$}  {:<8}  {:<12}  {:<28}  detail",
        "module", "kind", "state", "database"
    )?;
    for c in checks {
        writeln!(
            output.out,
            "{:<width$}  {:<8}  {:<12}  {:<28}  {}",
            c.module,
            c.kind,
            c.state.as_str(),
            c.database,
            c.detail
        )?;
    }
    let ok = checks.iter().filter(|c| c.ok()).count();
    writeln!(
        output.out,
        "{ok} of {} module(s) at the manifest",
        checks.len()
    )?;
    Ok(())
}

/// A file or script list's status, as JSON or a table; exit 1 unless clean.
fn report_status(output: &mut Output<'_>, status: &Status) -> anyhow::Result<Outcome> {
    if output.json() {
        output.print_json(status)?;
    } else {
        print_status(output, status)?;
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
    for (label, list) in [("unusable", &status.unusable), ("skipped", &status.skipped)] {
        for u in list {
            writeln!(
                output.out,
                "{:<14} {:<16} {}",
                label,
                u.path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                u.reason
            )?;
        }
    }
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

/// `up`: to exactly the target (the manifest's pins, or everything on
/// disk) through the one "back up, then apply, then prove the target" path;
/// a backup first except on `local` or with `--no-backup`. Exit 1 unless
/// the database ends exactly at the target.
async fn up_command(args: &UpArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let mut target = resolve(&args.migrate).await?;
    let options = UpOptions {
        target: args.target.clone(),
        allow_out_of_order: args.allow_out_of_order,
        dry_run: args.dry_run || args.sql,
        interrupt: Some(preflight_migrate::interrupt_on_signals()),
    };
    if let (Migrations::Alembic { target: t, .. }, Some(explicit)) =
        (&mut target.migrations, &args.target)
    {
        *t = explicit.clone();
    }
    let explicit_files = matches!(target.migrations, Migrations::Files { .. })
        && (args.target.is_some() || args.allow_out_of_order);
    if options.dry_run || explicit_files {
        return run_up(target, &options, args.sql, args.no_backup, output).await;
    }
    let is_local = target.env.as_deref() == Some(LOCAL_ENV);
    let store: Option<Arc<dyn ArtifactStore>> = if args.no_backup || is_local {
        None
    } else {
        Some(match (&target.store, &target.env) {
            (Ok(store), Some(_)) => store.clone(),
            (Err(why), Some(_)) => bail!("cannot back up before migrating: {why}"),
            _ => Arc::new(LocalDirStore {
                root: args
                    .backup_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(".preflight/artifacts")),
            }),
        })
    };
    let name = preflight_migrate::database_name(target.migrations.database_url())
        .unwrap_or_else(|| "database".into());
    let backup = store.as_deref().map(|store| BackupTo {
        store,
        database: &name,
    });
    let progress = Progress::new(output);
    let result = {
        let err = &mut *output.err;
        let mut on_event = |e: UpEvent| progress.event(e, err);
        target
            .migrations
            .up_with(backup, options.interrupt.clone(), &mut on_event)
            .await
    };
    progress.finish();
    let applied = match result {
        Ok(a) => a,
        Err(e) => {
            let code = match &e {
                preflight_migrate::Error::Backup { .. } => {
                    writeln!(
                        output.err,
                        "error: the backup failed, so nothing was migrated (use --no-backup to skip it deliberately)"
                    )?;
                    Outcome::NotOk
                }
                preflight_migrate::Error::Connect(_)
                | preflight_migrate::Error::ConnectTimeout { .. }
                | preflight_migrate::Error::Unchecked { .. } => Outcome::CouldNotCheck,
                preflight_migrate::Error::Interrupted { .. } => Outcome::Interrupted,
                _ => Outcome::NotOk,
            };
            writeln!(output.err, "error: {}", preflight_migrate::error_text(&e))?;
            return Ok(code);
        }
    };
    if output.json() {
        output.print_json(&applied)?;
        return Ok(Outcome::Ok);
    }
    if let Some(b) = &applied.backup {
        writeln!(
            output.err,
            "backup: {} ({} bytes, sha256 {})",
            b.artifact.uri, b.artifact.size, b.artifact.sha256
        )?;
    }
    if output.verbose && !applied.output.is_empty() {
        writeln!(output.err, "{}", applied.output.trim_end())?;
    }
    if !output.quiet {
        writeln!(
            output.out,
            "applied {} migration(s) to {}; {} ({})",
            applied.applied.len(),
            target.database,
            applied.after.state.as_str(),
            applied.after.detail
        )?;
    }
    Ok(Outcome::Ok)
}

/// Live progress of `up`: a bar on a terminal, lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Progress {
    fn new(output: &Output<'_>) -> Progress {
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
        Progress { bar, quiet }
    }

    fn event(&self, e: UpEvent, err: &mut (dyn Write + Send)) {
        if self.quiet {
            return;
        }
        // A reader that went away loses progress lines only; the result
        // is still written (and its failure reported) after the run.
        let _ = match (e, &self.bar) {
            (UpEvent::Locked { waited }, _) if waited > Duration::from_millis(500) => {
                let line = format!("waited {:.1}s for the migration lock", waited.as_secs_f64());
                match &self.bar {
                    Some(bar) => {
                        bar.println(line);
                        Ok(())
                    }
                    None => writeln!(err, "{line}"),
                }
            }
            (UpEvent::Planned { count }, Some(bar)) => {
                bar.set_length(count as u64);
                Ok(())
            }
            (UpEvent::Applying { version, name, .. }, Some(bar)) => {
                bar.set_message(format!("{version} {name}"));
                Ok(())
            }
            (UpEvent::Applied { .. }, Some(bar)) => {
                bar.inc(1);
                Ok(())
            }
            (
                UpEvent::Applying {
                    index,
                    count,
                    version,
                    name,
                },
                None,
            ) => writeln!(err, "[{}/{count}] applying {version} {name}", index + 1),
            (UpEvent::Applied { version, elapsed }, None) => {
                writeln!(
                    err,
                    "        applied {version} in {} ms",
                    elapsed.as_millis()
                )
            }
            _ => Ok(()),
        };
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `plan`, `up --dry-run`/`--sql`, and `up --target`/`--allow-out-of-order`
/// on a file folder (a deliberate target other than the manifest's).
async fn run_up(
    target: Target,
    options: &UpOptions,
    sql: bool,
    no_backup: bool,
    output: &mut Output<'_>,
) -> anyhow::Result<Outcome> {
    match &target.migrations {
        Migrations::Files { migrator, .. } => {
            let is_local = target.env.as_deref() == Some(LOCAL_ENV);
            if !options.dry_run && !no_backup && !is_local {
                let pending = migrator
                    .status()
                    .await?
                    .pending(options.target.as_deref(), options.allow_out_of_order)
                    .len();
                if pending > 0 {
                    let store = target
                        .store
                        .as_ref()
                        .map_err(|why| anyhow::anyhow!("cannot back up before migrating: {why}"))?;
                    let name = preflight_migrate::database_name(&migrator.database_url)
                        .unwrap_or_else(|| "database".into());
                    let backup = target
                        .migrations
                        .backup(BackupTo {
                            store: &**store,
                            database: &name,
                        })
                        .await
                        .context("the backup failed, so nothing was migrated (use --no-backup to skip it deliberately)")?;
                    writeln!(
                        output.err,
                        "backup: {} ({} bytes, sha256 {})",
                        backup.artifact.uri, backup.artifact.size, backup.artifact.sha256
                    )?;
                }
            }
            up(migrator, &target.database, options, output).await
        }
        Migrations::Alembic {
            migrator,
            target: revision,
        } => {
            if sql {
                write!(output.out, "{}", migrator.offline_sql(revision).await?)?;
                return Ok(Outcome::Ok);
            }
            if options.dry_run {
                let status = migrator.status(revision).await?;
                if output.json() {
                    output.print_json(&status)?;
                } else {
                    writeln!(
                        output.out,
                        "{} revision(s) would be applied (alembic upgrade {revision}):",
                        status.pending.len()
                    )?;
                    for p in &status.pending {
                        writeln!(output.out, "  {p}")?;
                    }
                }
                return Ok(Outcome::Ok);
            }
            match migrator.upgrade(revision).await {
                Ok(report) => {
                    if output.json() {
                        output.print_json(&report)?;
                    } else {
                        if output.verbose {
                            write!(output.err, "{}", report.output)?;
                        }
                        if !output.quiet {
                            writeln!(
                                output.out,
                                "applied {} revision(s) to {}; alembic_version is [{}]",
                                report.applied.len(),
                                target.database,
                                report.heads.join(", ")
                            )?;
                        }
                    }
                    Ok(Outcome::Ok)
                }
                Err(
                    e @ (preflight_migrate::Error::AlembicFailed { .. }
                    | preflight_migrate::Error::AlembicVersionMismatch { .. }),
                ) => {
                    writeln!(output.err, "error: {e}")?;
                    Ok(Outcome::NotOk)
                }
                Err(e) => Err(e.into()),
            }
        }
        Migrations::Scripts(list) => {
            if options.dry_run {
                let status = list.status().await?;
                if output.json() {
                    output.print_json(&status)?;
                } else {
                    print_status(output, &status)?;
                }
                return Ok(Outcome::Ok);
            }
            match list.up().await {
                Ok(report) => {
                    if output.json() {
                        output.print_json(&report)?;
                    } else {
                        if output.verbose {
                            for (entry, text) in &report.outputs {
                                writeln!(output.err, "{entry}:\n{text}")?;
                            }
                        }
                        if !output.quiet {
                            writeln!(
                                output.out,
                                "ran {} script migration(s) on {}",
                                report.applied.len(),
                                target.database
                            )?;
                        }
                    }
                    Ok(Outcome::Ok)
                }
                Err(
                    e @ (preflight_migrate::Error::Refused { .. }
                    | preflight_migrate::Error::ScriptFailed { .. }
                    | preflight_migrate::Error::MigrationFailed { .. }),
                ) => {
                    writeln!(output.err, "error: {e}")?;
                    Ok(Outcome::NotOk)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

async fn up(
    migrator: &Migrator,
    database: &str,
    options: &UpOptions,
    output: &mut Output<'_>,
) -> anyhow::Result<Outcome> {
    let progress = Progress::new(output);
    let result = {
        let err = &mut *output.err;
        let mut on_event = |e: UpEvent| progress.event(e, err);
        migrator.up(options, &mut on_event).await
    };
    progress.finish();
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
            database
        )?;
    }
    Ok(Outcome::Ok)
}
