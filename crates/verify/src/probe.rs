//! The probe trait and what one attempt of a probe returns.

use std::fmt;

use async_trait::async_trait;

/// One check of something that must be true for a release to go on.
///
/// Implement it to add your own probes; the [`Runner`](crate::Runner) gives
/// every probe a timeout, retries, a severity and a place in the report.
#[async_trait]
pub trait Probe: Send + Sync + fmt::Debug {
    /// A short kind name for reports: `http`, `postgres`…
    fn kind(&self) -> &'static str;
    /// What is probed, safe to print (no passwords or tokens).
    fn target(&self) -> String;
    /// Values that must never appear in any output (tokens, passwords,
    /// header values). The runner redacts them from every result.
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
    /// What the attempt that ran out of time had found by then (a
    /// command's output tail); the runner keeps it as evidence.
    fn evidence_so_far(&self) -> Vec<String> {
        Vec::new()
    }
    /// Runs one attempt. Must not panic; anything it could not determine is
    /// [`Check::error`], which counts as a failure.
    async fn check(&self, cx: &ProbeContext) -> Check;
}

/// Shared resources for probes: one HTTP client, so connections are pooled
/// across hundreds of probes.
#[derive(Debug, Clone)]
pub struct ProbeContext {
    pub http: reqwest::Client,
}

impl ProbeContext {
    /// A context with an HTTP client that verifies TLS and follows no redirects
    /// (a redirect is reported, not hidden).
    pub fn new() -> Result<ProbeContext, crate::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("preflight/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(256)
            .build()
            .map_err(crate::Error::HttpClient)?;
        Ok(ProbeContext { http })
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub status: CheckStatus,
    /// One line saying what was found.
    pub summary: String,
    /// Lines kept as evidence (a response excerpt, output tail, differences).
    pub evidence: Vec<String>,
    /// Another attempt cannot change the answer (a 4xx from a webhook):
    /// the runner does not retry it.
    pub permanent: bool,
}

/// Whether the attempt passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Pass,
    /// The thing probed is not as required.
    Fail,
    /// The probe could not tell (connection refused, unreadable file…); a failure.
    Error,
}

impl Check {
    pub fn pass(summary: impl Into<String>) -> Check {
        Check::new(CheckStatus::Pass, summary)
    }
    pub fn fail(summary: impl Into<String>) -> Check {
        Check::new(CheckStatus::Fail, summary)
    }
    pub fn error(summary: impl Into<String>) -> Check {
        Check::new(CheckStatus::Error, summary)
    }
    fn new(status: CheckStatus, summary: impl Into<String>) -> Check {
        Check {
            status,
            summary: summary.into(),
            evidence: Vec::new(),
            permanent: false,
        }
    }
    /// The same answer, marked as one another attempt cannot change.
    pub fn permanent(mut self) -> Check {
        self.permanent = true;
        self
    }
    pub fn with_evidence(mut self, lines: impl IntoIterator<Item = String>) -> Check {
        self.evidence.extend(lines);
        self
    }
    pub fn passed(&self) -> bool {
        self.status == CheckStatus::Pass
    }
}
