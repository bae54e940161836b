//! Integration tests of preflight-gcp.
//!
//! What runs against what:
//! - Cloud Storage object uploads, downloads, listing and bucket reads run
//!   against a real fake-gcs-server (installed into `.venv` by
//!   `scripts/setup`, started here on loopback). It serves the JSON API the
//!   store uses; it does not serve the gRPC Storage Control API (which the
//!   store does not use) and does not keep bucket lifecycle rules, so a
//!   bucket *with* rules is checked against a recorded `buckets.get` body.
//! - Secret Manager, Cloud Run, Cloud Build, Cloud Scheduler, Service
//!   Usage, Resource Manager, Cloud SQL Admin and Cloud Monitoring have no
//!   emulator: the official clients
//!   talk to a local HTTP server that answers with REST bodies recorded in
//!   `tests/fixtures/` (see its README for the API references), errors
//!   included.

mod apis;
mod build_config;
mod emulator;
mod grpc;
mod rollout;
mod scheduler;
mod server;
mod storage;

use std::time::Duration;

use preflight_gcp::ClientOptions;

/// Client options for a local server: anonymous, quick retries.
pub fn local_options(url: &str) -> ClientOptions {
    let mut options = ClientOptions::default().with_endpoint(url);
    options.initial_delay = Duration::from_millis(10);
    options.max_delay = Duration::from_millis(50);
    options
}
