//! `preflight doctor`: whether a release could run, changing nothing.

use std::path::Path;

use serde::Serialize;

use crate::project::{Project, error_text, load_manifest};

/// One readiness check.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorCheck {
    pub name: String,
    /// `ok`, `failed` or `skipped`.
    pub state: &'static str,
    pub detail: String,
}

impl DoctorCheck {
    fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> DoctorCheck {
        DoctorCheck {
            name: name.into(),
            state: if ok { "ok" } else { "failed" },
            detail: detail.into(),
        }
    }
}

/// Config, manifest, database connectivity, ledger states and probe
/// configuration for `env`, and for an environment with a GCP project the
/// `gcp.*` readiness checks (an unknown state is a failure).
pub async fn doctor(config: &Path, env: &str, manifest: Option<&Path>) -> Vec<DoctorCheck> {
    let mut checks = Vec::new();
    let project = match Project::load(config) {
        Ok(p) => {
            checks.push(DoctorCheck::new(
                "config",
                true,
                format!("{} is valid", config.display()),
            ));
            p
        }
        Err(e) => {
            checks.push(DoctorCheck::new("config", false, format!("{e:#}")));
            return checks;
        }
    };
    let Some(environment) = project.config.environment(env) else {
        checks.push(DoctorCheck::new(
            "environment",
            false,
            format!(
                "no environment `{env}` (environments: {})",
                project.config.env_names().join(", ")
            ),
        ));
        return checks;
    };
    let manifest = match manifest {
        Some(path) => match load_manifest(&project, path, env) {
            Ok(m) => {
                checks.push(DoctorCheck::new(
                    "manifest",
                    true,
                    format!("{} valid for `{env}`", m.release_id),
                ));
                Some(m)
            }
            Err(e) => {
                checks.push(DoctorCheck::new("manifest", false, format!("{e:#}")));
                None
            }
        },
        None => None,
    };
    for db in environment.databases.keys() {
        let check = match super::reach_database(&project, env, db).await {
            Ok(detail) => DoctorCheck::new(format!("database {db}"), true, detail),
            Err(why) => DoctorCheck::new(format!("database {db}"), false, why),
        };
        checks.push(check);
    }
    match project.check_migrations(env, manifest.as_ref(), None).await {
        Ok(list) => {
            for c in list {
                // Pending is what a release is for; drift and errors block it.
                let ok = matches!(c.state.as_str(), "at manifest" | "pending");
                let detail = format!("{}: {}", c.state, c.detail);
                checks.push(DoctorCheck::new(format!("ledger {}", c.module), ok, detail));
            }
        }
        Err(e) => checks.push(DoctorCheck::new("ledgers", false, format!("{e:#}"))),
    }
    let selection = crate::probes::ProbeSelection {
        phase: None,
        only: Vec::new(),
        gates: true,
        probes: true,
        images: Default::default(),
    };
    match project.probe_specs(env, &selection) {
        Ok(specs) => {
            let unresolved: Vec<String> = specs
                .iter()
                .filter(|s| s.probe.target() == "(unresolved)")
                .map(|s| s.name.clone())
                .collect();
            let detail = if unresolved.is_empty() {
                format!("{} probe(s) and gate(s) resolve", specs.len())
            } else {
                format!("cannot resolve: {}", unresolved.join(", "))
            };
            checks.push(DoctorCheck::new("probes", unresolved.is_empty(), detail));
        }
        Err(e) => checks.push(DoctorCheck::new("probes", false, format!("{e:#}"))),
    }
    // Google Cloud readiness: every `gcp.*` check, run, not assumed.
    let gcp = project.gcp_specs(environment, &Default::default());
    if environment.gcp_project.is_none() {
        checks.push(DoctorCheck {
            name: "gcp readiness".into(),
            state: "skipped",
            detail: format!("`{env}` has no gcp_project"),
        });
    } else if gcp.is_empty() {
        checks.push(DoctorCheck {
            name: "gcp readiness".into(),
            state: "skipped",
            detail: "the config has no `gcp:` section".into(),
        });
    } else {
        match preflight_verify::Runner::new(4) {
            Ok(runner) => {
                let report = runner.run(gcp).await;
                for r in &report.results {
                    checks.push(DoctorCheck::new(
                        r.name.clone(),
                        r.outcome == preflight_verify::Outcome::Passed,
                        r.summary.clone(),
                    ));
                }
            }
            Err(e) => checks.push(DoctorCheck::new("gcp readiness", false, error_text(&e))),
        }
    }
    checks
}
