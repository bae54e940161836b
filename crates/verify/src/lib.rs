//! Verification for Preflight: probes, a concurrent runner and reports.
//!
//! After a deploy the runbooks check health by hand: `curl` a health URL,
//! `POST /chat` then poll for the answer, look for canonical RPC signatures
//! and the tables each worker needs, run test suites as gates, compare
//! `.env` files. This crate does all of it, concurrently, with evidence.
//!
//! Main types:
//! - [`Probe`]: one check (async-trait, so you can add your own). Built in:
//!   [`HttpProbe`], [`PollProbe`], [`ContractProbe`] (a PostgreSQL
//!   [`Contract`]), [`CommandProbe`], [`EnvParityProbe`], [`TcpProbe`],
//!   [`DbtResultsProbe`].
//! - [`Runner`]: runs [`ProbeSpec`]s with bounded concurrency, a time budget
//!   per probe, retries with backoff and jitter, and hard or soft severity.
//! - [`Report`]: the results, rendered as a terminal table, Markdown, JSON
//!   or JUnit XML, with secrets redacted. An unknown outcome is a failure.
//!
//! ```no_run
//! # async fn example() -> Result<(), preflight_verify::Error> {
//! use std::time::Duration;
//! use preflight_verify::{HttpExpect, HttpProbe, HttpRequest, ProbeSpec, RetryPolicy, Runner};
//!
//! let health = HttpProbe {
//!     request: HttpRequest::get("https://rag.example.com/health"),
//!     expect: HttpExpect::default(),
//! };
//! let probes = vec![ProbeSpec::new("rag-health", health)
//!     .timeout(Duration::from_secs(10))
//!     .retry(RetryPolicy::retries(2))];
//! let report = Runner::new(50)?.run(probes).await;
//! if !report.gate_passed() {
//!     eprintln!("{}", report.to_table(&|_, s| s.to_string()));
//! }
//! # Ok(()) }
//! ```

mod command;
mod contract;
mod dbt;
mod envfile;
mod error;
mod http;
mod probe;
mod report;
mod runner;
mod tcp;

pub use command::{CommandProbe, OUTPUT_TAIL};
pub use contract::{
    Contract, ContractProbe, FunctionSignature, LedgerExpectation, LedgerKind, SnapshotLedger,
    TableContract, TypeName, snapshot_contract,
};
pub use dbt::DbtResultsProbe;
pub use envfile::{EnvDiff, EnvFile, EnvKey, EnvParityProbe};
pub use error::Error;
pub use http::{HttpExpect, HttpProbe, HttpRequest, JsonEquals, PollProbe};
pub use preflight_manifest::GateSeverity as Severity;
pub use preflight_redact::Redactor;
pub use probe::{Check, CheckStatus, Probe, ProbeContext};
pub use report::{JunitSuite, Outcome, ProbeResult, Report, Tally, junit, md_cell};
pub use runner::{ProbeSpec, RetryPolicy, Runner};
pub use tcp::TcpProbe;
