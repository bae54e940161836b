//! `release rollback`: an environment back to the images of the last
//! release that succeeded there (or one named), as its own recorded run.
//!
//! The rollback is a new attempt of the earlier release, from its deploy
//! phase: its manifest (unchanged since it shipped: the SHA-256 recorded
//! then must match), its images at once (no canary), smoke and watch as
//! for any release. Migrations are not undone: a schema only moves
//! forward, and a database goes back through `backup restore`.

use std::path::PathBuf;

use sha2::Digest as _;

use crate::engine::{Phase, ReleaseEvent, ReleaseLog, ReleaseOptions, ReleaseStatus, run_release};
use crate::error::Error;
use crate::history::list_releases;
use crate::platform::Platform;

/// What `release rollback` is asked to do.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// The platform config.
    pub config: PathBuf,
    /// The environment to roll back.
    pub env: String,
    /// The release to go back to; default: the newest that succeeded in
    /// `env` before the release in place.
    pub to: Option<String>,
    /// Who runs it.
    pub operator: String,
    /// Plan it, change nothing.
    pub dry_run: bool,
    /// Stops the run on SIGINT/SIGTERM, as for a release.
    pub interrupt: Option<preflight_migrate::Interrupt>,
    /// The checklist state log's signing key.
    pub checklist_key: Option<preflight_checklist::SigningKey>,
}

/// Rolls `options.env` back and returns the rollback's record.
pub async fn rollback_release(
    options: &RollbackOptions,
    on_event: &mut dyn FnMut(&ReleaseEvent),
) -> Result<ReleaseLog, Error> {
    let platform = Platform::load(&options.config)?;
    let env = options.env.as_str();
    let (releases, _) = list_releases(&platform, env).await?;
    let Some(current) = releases.first().map(|r| r.release_id.clone()) else {
        return Err(Error::Refused(format!(
            "no release has run in `{env}`: there is nothing to roll back"
        )));
    };
    let chosen = match &options.to {
        Some(id) => {
            let found = releases
                .iter()
                .find(|r| &r.release_id == id)
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "release {id} never ran in `{env}`; `release list --env {env}` shows those that did"
                    ))
                })?;
            if found.release_id == current {
                return Err(Error::Refused(format!(
                    "{id} is the release in place in `{env}`; name an earlier one"
                )));
            }
            found
        }
        None => releases
            .iter()
            .find(|r| r.status == ReleaseStatus::Succeeded && r.release_id != current)
            .ok_or_else(|| {
                Error::Refused(format!(
                    "no release before {current} succeeded in `{env}`: there is nothing to roll back to"
                ))
            })?,
    };
    if chosen.status != ReleaseStatus::Succeeded {
        return Err(Error::Refused(format!(
            "release {} did not succeed in `{env}` (its last run is {}); a rollback goes back only to a release that succeeded",
            chosen.release_id,
            chosen.status.as_str()
        )));
    }
    // The manifest as it shipped, or no rollback: its images are the point.
    let manifest = PathBuf::from(&chosen.manifest);
    let text = std::fs::read(&manifest).map_err(|source| Error::Read {
        path: manifest.clone(),
        source,
    })?;
    let sha = sha2::Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    if sha != chosen.manifest_sha256 {
        return Err(Error::Refused(format!(
            "{} changed since release {} shipped (sha256 {}, recorded {}); restore it from git before rolling back to it",
            manifest.display(),
            chosen.release_id,
            &sha[..12],
            &chosen.manifest_sha256[..12.min(chosen.manifest_sha256.len())]
        )));
    }
    let mut release = ReleaseOptions::new(&options.config, &manifest, env);
    release.from = Some(Phase::Deploy);
    release.rollback_of = Some(current);
    release.operator = options.operator.clone();
    release.dry_run = options.dry_run;
    release.interrupt = options.interrupt.clone();
    release.checklist_key = options.checklist_key.clone();
    run_release(&release, on_event).await
}
