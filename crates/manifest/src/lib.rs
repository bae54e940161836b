//! Release manifests and the platform config: parse, validate, diff, promote.
//!
//! A **release manifest** pins what a release ships: each repository's
//! commit, the container images, the migrations each module must reach and
//! the feature flags (`dev_dry_run_playbook.md` §3). The **platform config**
//! (`preflight.yaml`) describes the platform those releases run against:
//! modules, databases, environments, gates and probes.
//!
//! Main types:
//! - [`Manifest`]: a validated manifest; [`Manifest::check`] reports every
//!   problem at once as [`Diagnostic`]s with file, line, column, a stable
//!   [`Code`] and a hint, inside a [`Checked`].
//! - [`PlatformConfig`]: the validated `preflight.yaml`.
//! - [`ManifestDiff`] and [`promote`]: what changed between releases, and
//!   the same release made for another environment.
//!
//! This crate does no I/O beyond reading files and asking `git` for a
//! checkout's HEAD; it needs no async runtime, database or cloud SDK.
//!
//! ```
//! use std::path::Path;
//! use preflight_manifest::{Manifest, ValidateOptions};
//!
//! let text = "release_id: 2026-02-14-prod\n\
//!             commits:\n  mobius-chat: v1.4.2\n\
//!             images:\n  mobius-chat-api: gcr.io/mobius-prod/mobius-chat-api:latest\n";
//! let checked = Manifest::check(Path::new("prod.yaml"), text, &ValidateOptions::default());
//! assert!(checked.has_errors());
//! assert_eq!(checked.diagnostics[0].code.as_str(), "mutable-image-tag");
//! assert_eq!((checked.diagnostics[0].line, checked.diagnostics[0].column), (5, 20));
//! ```

mod config;
mod diagnostic;
mod diff;
mod error;
mod gcp;
mod gitref;
mod image;
mod manifest;
mod new;
mod probes;
mod promote;
mod reader;
mod release;
mod schema;
mod yaml;

pub use config::{
    BindingStep, ChecklistBinding, ChecklistConfig, CheckoutPolicy, Database, DriftPolicy,
    Environment, Gate, MigrationSource, Module, PlatformConfig, SecretRef,
    Severity as GateSeverity, UrlSource, redact_url, valid_project_id,
};
pub use diagnostic::{Code, Diagnostic, Pos, Severity, render_diagnostics};
pub use diff::{Change, ChangeKind, ManifestDiff};
pub use error::{Error, error_text};
pub use gcp::{
    BuildTrigger, FreezeTarget, GCP_PLACEHOLDERS, GcpConfig, RolloutPolicy, RunJob, RunService,
    SecretMapping,
};
pub use gitref::GitRef;
pub use image::{ImageRef, ImageRefError};
pub use manifest::{
    Checked, FlagValue, Manifest, MigrationKind, MigrationPin, ModuleFacts, PlatformFacts,
    ReleaseId, ValidateOptions,
};
pub use new::{NewOptions, TEMPLATE, TEMPLATE_REPOS, head_commit, new_manifest};
pub use probes::{ExpectConfig, JsonCondition, ProbeCheck, ProbeConfig, ProbePhase, RequestConfig};
pub use promote::{ImageRewrite, PromoteOptions, Promotion, promote};
pub use release::{
    MetricThresholds, NotifyConfig, Phase, ReleaseConfig, ReleaseStep, STEP_PLACEHOLDERS,
    WatchConfig, placeholders,
};
pub use schema::{RawConfig, RawManifest, config_schema, manifest_schema, reference_markdown};

/// Reads a UTF-8 file, naming it in the error.
fn read_file(path: &std::path::Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}
