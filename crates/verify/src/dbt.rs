//! dbt results: fail on any node of `target/run_results.json` whose status
//! is `error`, `fail` or `runtime error` (`dev_dry_run_playbook.md` §5.4).

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;

use crate::probe::{Check, Probe, ProbeContext};

/// The part of dbt's run results this probe reads.
#[derive(Debug, Deserialize)]
struct RunResults {
    results: Vec<NodeResult>,
}

#[derive(Debug, Deserialize)]
struct NodeResult {
    unique_id: String,
    status: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbtResultsProbe {
    pub run_results: PathBuf,
}

#[async_trait]
impl Probe for DbtResultsProbe {
    fn kind(&self) -> &'static str {
        "dbt"
    }
    fn target(&self) -> String {
        self.run_results.display().to_string()
    }
    async fn check(&self, _cx: &ProbeContext) -> Check {
        let path = &self.run_results;
        let text = match tokio::fs::read_to_string(path).await {
            Ok(t) => t,
            Err(e) => return Check::error(format!("cannot read {}: {e}", path.display())),
        };
        let parsed: RunResults = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                return Check::error(format!(
                    "{}:{}:{}: not dbt run results: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                ));
            }
        };
        let bad: Vec<&NodeResult> = parsed
            .results
            .iter()
            .filter(|r| matches!(r.status.as_str(), "error" | "fail" | "runtime error"))
            .collect();
        let warned = parsed.results.iter().filter(|r| r.status == "warn").count();
        let evidence = bad.iter().map(|r| {
            let message = r
                .message
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            format!("{} {}: {message}", r.status, r.unique_id)
        });
        if bad.is_empty() {
            Check::pass(format!(
                "{} nodes, none failed ({warned} warned)",
                parsed.results.len()
            ))
        } else {
            Check::fail(format!(
                "{} of {} nodes failed",
                bad.len(),
                parsed.results.len()
            ))
            .with_evidence(evidence.collect::<Vec<_>>())
        }
    }
}
