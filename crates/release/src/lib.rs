//! The platform resolved for an environment, and the B3 release engine.
//!
//! This crate sits between the domain crates (`preflight-manifest`,
//! `-migrate`, `-verify`, `-checklist`, `-gcp`) and the `preflight`
//! binary: it composes them into a release that fails closed on every path.
//! It never prints and never exits; progress arrives as [`ReleaseEvent`]s
//! and the outcome as a [`ReleaseLog`].
//!
//! Main types:
//! - [`Platform`]: the validated `preflight.yaml` with its (absolute,
//!   never empty) root; [`Platform::load_manifest`] validates a manifest on
//!   its own and against the config (every module exists, each pin fits
//!   its module's flavour, every migrated database has a URL).
//! - [`Target`]: one environment resolved once by [`Platform::target`]:
//!   every database URL (`local`, `env:`, `secret://`, literal) and the
//!   artifact store. Phases, probes and commands take it.
//! - [`ModuleMigrations`] and [`ModuleCheck`]: a module's migrations as
//!   `preflight_migrate::Migrations`, and its typed state against the manifest.
//! - [`run_release`] with [`ReleaseOptions`]: the B3 pipeline (preflight,
//!   build, freeze, hard gate, soft gate, backup, migrate, verify, deploy,
//!   smoke, watch), with typed [`Phase`], [`PhaseStatus`] and
//!   [`StepRecord`]s. In a Google Cloud environment the build runs the
//!   Cloud Build trigger, migrations can run in their Cloud Run job, and
//!   the deploy rolls services out as canaries that the watch promotes or
//!   a failure rolls back.
//! - [`rollback_release`]: the environment back to the images of an
//!   earlier release that succeeded, as its own recorded run.
//! - [`doctor`] and [`Platform::check_repos`]: readiness, changing nothing.
//! - [`Platform::schema_drift`]: each database against the schema its
//!   migrations build in a throwaway database ([`DatabaseDrift`]), and
//!   [`compare_databases`] for two live ones.
//! - [`Platform::lint_migrations`]: squawk's rules over what a release
//!   will apply ([`ModuleLint`]), blocking per the environment.
//! - [`checklist_signing_key`]: the state log's key, given as text or as a
//!   `secret://` reference read through Secret Manager.
//!
//! ```no_run
//! # async fn demo() -> Result<(), preflight_release::Error> {
//! use preflight_release::{ReleaseOptions, ReleaseStatus, run_release};
//!
//! let options = ReleaseOptions::new(
//!     "examples/mobius/preflight.yaml",
//!     "examples/mobius/release-manifests/2026-02-14-local.yaml",
//!     "local",
//! );
//! let log = run_release(&options, &mut |_event| {}).await?;
//! assert_eq!(log.status, ReleaseStatus::Succeeded);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod backups;
mod doctor;
mod drift;
mod engine;
mod error;
mod gcp;
mod history;
mod init;
mod lint;
mod modules;
mod platform;
mod probes;
mod repo;
mod rollback;
mod signing;
mod target;

pub use backups::{BackupCheck, BackupEntry, list_backups, restore_backup, verify_backup};
pub use doctor::{DoctorCheck, DoctorState, doctor};
pub use drift::{
    DatabaseDrift, DriftOptions, DriftState, ExpectedSchema, FolderMigrations, ShadowContract,
    ShadowTarget, compare_databases, folder_drift,
};
pub use engine::{
    ChecklistSection, ChecklistState, OperatorDecision, Phase, PhaseRecord, PhaseStatus,
    ReleaseEvent, ReleaseLog, ReleaseOptions, ReleaseStatus, StepRecord, log_dir, next_step,
    run_release,
};
pub use error::Error;
pub use history::{
    EnvStatus, InFlight, LiveProgress, ReleaseSummary, list_releases, release_status, show_release,
};
pub use init::{InitOptions, InitReport, init};
pub use lint::{LintOptions, ModuleLint, lint_one};
pub use modules::{ModuleCheck, ModuleMigrations};
pub use platform::{LOCAL_ENV, Platform, operator};
pub use preflight_lint::{LintPolicy, Verdict, Violation, rule_names as lint_rule_names};
pub use preflight_schema::{Difference, Finding, ObjectKind};
pub use probes::ProbeSelection;
pub use repo::{RepoCheck, RepoOptions, RepoState};
pub use rollback::{RollbackOptions, rollback_release};
pub use signing::checklist_signing_key;
pub use target::{ResolvedDatabase, Target};
