//! Google Cloud for Preflight, on Google's official Rust SDK.
//!
//! Owns every call Preflight makes to Google Cloud: Cloud Storage as an
//! artifact store ([`GcsStore`], `gs://bucket/prefix`), Secret Manager
//! references ([`SecretResolver`]), Cloud Run services and jobs
//! ([`CloudRun`]; canary rollouts with [`Rollout`] and [`Canary`]), a
//! revision's request metrics from Cloud Monitoring ([`CloudMonitoring`]),
//! release notifications on Pub/Sub ([`PubSubNotifier`]), schedules paused
//! for a freeze ([`CloudScheduler`]), Cloud Build ([`CloudBuild`],
//! [`build_config`]) and the
//! readiness checks a release needs first ([`Readiness`]: APIs enabled,
//! IAM permissions held, Cloud SQL instance and databases present, buckets
//! with lifecycle rules, a secret for every `.env.example` key).
//!
//! Each Google client is a Cargo feature (`storage`, `secretmanager`,
//! `run`, `build`, `resourcemanager`, `serviceusage`, `sql`, `monitoring`,
//! `pubsub`, `scheduler`; `full` for
//! all), so a tool pays only for what it uses. Every client takes an
//! endpoint override and anonymous credentials ([`ClientOptions`]), which
//! is how the tests point it at fake-gcs-server and at local servers.
//! Calls retry 429 (and 503 when idempotent) with backoff; long-running
//! operations are polled with backoff up to a deadline; 403 and 404 become
//! errors that name the resource, the project and what is missing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), preflight_gcp::Error> {
//! use preflight_gcp::{ClientOptions, SecretResolver};
//! use preflight_manifest::SecretRef;
//!
//! let options = ClientOptions::from_env();
//! let secrets = SecretResolver::connect(&options).await?;
//! let reference = SecretRef::parse("secret://projects/mobius-prod/secrets/db-url").unwrap();
//! let url = secrets.resolve(&reference).await?;
//! assert!(!format!("{url:?}").contains("postgres")); // Debug never shows it
//! # Ok(()) }
//! ```

// Helpers shared by the client features are unused in builds without them.
#![cfg_attr(
    not(all(
        feature = "storage",
        feature = "secretmanager",
        feature = "run",
        feature = "build",
        feature = "resourcemanager",
        feature = "serviceusage",
        feature = "sql",
        feature = "monitoring",
        feature = "pubsub",
        feature = "scheduler"
    )),
    allow(dead_code)
)]

#[cfg(feature = "build")]
mod build;
mod build_config;
mod client;
mod error;
#[cfg(feature = "monitoring")]
mod monitoring;
mod poll;
#[cfg(feature = "pubsub")]
mod pubsub;
mod readiness;
#[cfg(feature = "run")]
mod rollout;
#[cfg(feature = "run")]
mod run;
#[cfg(feature = "scheduler")]
mod scheduler;
#[cfg(feature = "secretmanager")]
mod secrets;
#[cfg(feature = "storage")]
mod storage;

#[cfg(feature = "build")]
pub use build::{BuildOutcome, CloudBuild};
pub use build_config::{BuildConfigOptions, build_config};
pub use client::{
    ClientOptions, CredentialsSource, ENDPOINT_ENV, PUBSUB_EMULATOR_ENV, STORAGE_EMULATOR_ENV,
};
pub use error::Error;
#[cfg(feature = "monitoring")]
pub use monitoring::{CloudMonitoring, RevisionMetrics};
#[cfg(feature = "pubsub")]
pub use pubsub::PubSubNotifier;
pub use readiness::{Readiness, ReadinessCheck, ReadinessOptions, ReadinessStatus};
#[cfg(feature = "run")]
pub use rollout::{Canary, Rollout, ServiceScale, TrafficShare, describe_traffic};
#[cfg(feature = "run")]
pub use run::{CloudRun, ExecutionOutcome, JobRun, ServiceState, VpcRoute};
#[cfg(feature = "scheduler")]
pub use scheduler::{CloudScheduler, ScheduleState};
#[cfg(feature = "secretmanager")]
pub use secrets::{SecretResolver, SecretValue, secret_id_for};
#[cfg(feature = "storage")]
pub use storage::{BucketStatus, GcsLocation, GcsStore, check_bucket};
