//! `preflight repo check`.

use preflight_release::{Platform, RepoOptions, RepoState};

use crate::args::RepoCommand;
use crate::{Outcome, Output};

pub(crate) fn run(command: RepoCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let RepoCommand::Check(args) = command;
    let platform = Platform::load(&args.config)?;
    let manifest = platform.load_manifest(&args.manifest, None)?;
    // The environment the manifest is for decides whether checkouts are verified.
    let policy = platform
        .config
        .environment(&manifest.release_id.env)
        .map(|e| e.checkout)
        .unwrap_or_default();
    let checks = platform.check_repos(
        &manifest,
        RepoOptions {
            fetch: args.fetch,
            policy,
        },
    );
    if output.json() {
        output.print_json(&checks)?;
    } else {
        let width = checks.iter().map(|c| c.module.len()).max().unwrap_or(6);
        for c in &checks {
            let word = match c.state {
                RepoState::Ready => "ok",
                RepoState::NotReady => "FAIL",
                RepoState::Skipped => "skip",
            };
            writeln!(output.out, "{word:<4} {:<width$}  {}", c.module, c.detail)?;
        }
    }
    Ok(if checks.iter().any(|c| c.state == RepoState::NotReady) {
        Outcome::NotOk
    } else {
        Outcome::Ok
    })
}
