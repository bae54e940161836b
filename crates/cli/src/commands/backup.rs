//! `preflight backup list | verify | restore`.

use preflight_release::{Platform, list_backups, restore_backup, verify_backup};

use crate::args::BackupCommand;
use crate::{Outcome, Output};

pub(crate) fn run(command: BackupCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let runtime = super::runtime()?;
    match command {
        BackupCommand::List(args) => {
            let platform = Platform::load(&args.config)?;
            let entries =
                runtime.block_on(list_backups(&platform, &args.env, args.database.as_deref()))?;
            if output.json() {
                output.print_json(&entries)?;
                return Ok(Outcome::Ok);
            }
            if entries.is_empty() {
                writeln!(output.out, "no backups in `{}`", args.env)?;
            }
            for e in &entries {
                writeln!(
                    output.out,
                    "{:<14} {}  {:>10} bytes  sha256 {}  {}",
                    e.database,
                    e.taken_at.map_or_else(
                        || "?".to_string(),
                        |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string()
                    ),
                    e.size,
                    &e.sha256[..e.sha256.len().min(16)],
                    e.release_id
                        .as_deref()
                        .map_or_else(|| e.uri.clone(), |r| format!("{r}  {}", e.uri))
                )?;
            }
            Ok(Outcome::Ok)
        }
        BackupCommand::Verify(args) => {
            let platform = Platform::load(&args.config)?;
            let check = runtime.block_on(verify_backup(
                &platform,
                &args.env,
                &args.database,
                args.key.as_deref(),
            ))?;
            let passed = check.passed();
            if output.json() {
                output.print_json(&check)?;
            } else {
                writeln!(output.out, "backup {}", check.backup.uri)?;
                let ok = output.ok();
                let mark = |passed: bool| if passed { ok } else { "FAIL" };
                writeln!(
                    output.out,
                    "  {} sha256 {}",
                    mark(check.sha256_matches),
                    check.backup.sha256
                )?;
                if check.sha256_matches {
                    writeln!(
                        output.out,
                        "  {} restored into a throwaway database ({} tables)",
                        mark(check.restored),
                        check.tables
                    )?;
                }
                for c in &check.contracts {
                    let word = if c.outcome.passed() {
                        "matches"
                    } else {
                        "differs from"
                    };
                    writeln!(output.out, "  {word} contract {}: {}", c.probe, c.summary)?;
                }
                if let Some(problem) = &check.problem {
                    writeln!(output.out, "  {problem}")?;
                }
                let verdict = match (passed, check.matches_contracts()) {
                    (false, _) => "NOT usable",
                    (true, true) => "usable",
                    (true, false) => {
                        "usable; its schema is not the current contract's (a dump taken before a release's migrations holds the schema before them)"
                    }
                };
                writeln!(output.out, "{verdict}")?;
            }
            Ok(if passed { Outcome::Ok } else { Outcome::NotOk })
        }
        BackupCommand::Restore(args) => {
            let platform = Platform::load(&args.pick.config)?;
            let to = match args.to.strip_prefix("env:") {
                Some(var) => std::env::var(var)
                    .map_err(|_| anyhow::anyhow!("--to reads ${var}, which is not set"))?,
                None => args.to.clone(),
            };
            let restored = runtime.block_on(restore_backup(
                &platform,
                &args.pick.env,
                &args.pick.database,
                args.pick.key.as_deref(),
                &to,
                args.yes,
            ))?;
            if output.json() {
                output.print_json(&restored)?;
            } else {
                writeln!(
                    output.out,
                    "restored {} into {}",
                    restored.uri,
                    preflight_manifest::redact_url(&to)
                )?;
            }
            Ok(Outcome::Ok)
        }
    }
}
