//! `doctor`: whether a release could run, changing nothing.

use std::path::Path;

use preflight_migrate::ModuleState;
use serde::Serialize;

use crate::error::error_text;
use crate::platform::Platform;
use crate::repo::{RepoOptions, RepoState};

/// How one readiness check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DoctorState {
    /// Ready.
    Ok,
    /// Not ready, or could not tell (fails closed).
    Failed,
    /// Does not apply here; the detail says why.
    Skipped,
}

impl DoctorState {
    /// `ok`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            DoctorState::Ok => "ok",
            DoctorState::Failed => "failed",
            DoctorState::Skipped => "skipped",
        }
    }
}

/// One readiness check.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorCheck {
    /// What was checked (`database mobius`, `ledger mobius-chat`).
    pub name: String,
    /// How it ended.
    pub state: DoctorState,
    /// Why, for people.
    pub detail: String,
}

impl DoctorCheck {
    fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> DoctorCheck {
        DoctorCheck {
            name: name.into(),
            state: if ok {
                DoctorState::Ok
            } else {
                DoctorState::Failed
            },
            detail: detail.into(),
        }
    }

    fn skipped(name: impl Into<String>, detail: impl Into<String>) -> DoctorCheck {
        DoctorCheck {
            name: name.into(),
            state: DoctorState::Skipped,
            detail: detail.into(),
        }
    }
}

/// Config, manifest (against the config), database connectivity, checkouts,
/// ledger states and probe configuration for `env`, and for an environment
/// with a GCP project the `gcp.*` readiness checks (an unknown state is a
/// failure).
pub async fn doctor(config: &Path, env: &str, manifest: Option<&Path>) -> Vec<DoctorCheck> {
    let mut checks = Vec::new();
    let platform = match Platform::load(config) {
        Ok(p) => {
            checks.push(DoctorCheck::new(
                "config",
                true,
                format!("{} is valid", config.display()),
            ));
            p
        }
        Err(e) => {
            checks.push(DoctorCheck::new("config", false, error_text(&e)));
            return checks;
        }
    };
    let target = match platform.target(env).await {
        Ok(t) => t,
        Err(e) => {
            checks.push(DoctorCheck::new("environment", false, error_text(&e)));
            return checks;
        }
    };
    let manifest = match manifest {
        Some(path) => match platform.load_manifest(path, Some(env)) {
            Ok(m) => {
                checks.push(DoctorCheck::new(
                    "manifest",
                    true,
                    format!("{} valid for `{env}` and its config", m.release_id),
                ));
                Some(m)
            }
            Err(e) => {
                checks.push(DoctorCheck::new("manifest", false, error_text(&e)));
                None
            }
        },
        None => None,
    };
    for db in target.env.databases.keys() {
        let check = match target.reach(db).await {
            Ok(detail) => DoctorCheck::new(format!("database {db}"), true, detail),
            Err(why) => DoctorCheck::new(format!("database {db}"), false, why),
        };
        checks.push(check);
    }
    if let Some(m) = &manifest {
        let options = RepoOptions {
            fetch: false,
            policy: target.env.checkout,
        };
        for r in platform.check_repos(m, options) {
            let name = format!("checkout {}", r.module);
            checks.push(match r.state {
                RepoState::Ready => DoctorCheck::new(name, true, r.detail),
                RepoState::NotReady => DoctorCheck::new(name, false, r.detail),
                RepoState::Skipped => DoctorCheck::skipped(name, r.detail),
            });
        }
    }
    match platform
        .check_migrations(&target, manifest.as_ref(), None)
        .await
    {
        Ok(list) => {
            for c in list {
                // Pending is what a release is for; drift and errors block it.
                let ok = matches!(c.state, ModuleState::AtTarget | ModuleState::Pending);
                let detail = format!("{}: {}", c.state.as_str(), c.detail);
                checks.push(DoctorCheck::new(format!("ledger {}", c.module), ok, detail));
            }
        }
        Err(e) => checks.push(DoctorCheck::new("ledgers", false, error_text(&e))),
    }
    // Schema drift: each database against its migrations, up to its ledger.
    if target.env.drift == preflight_manifest::DriftPolicy::Off {
        checks.push(DoctorCheck::skipped(
            "schema drift",
            format!("`{env}` says `drift: off`"),
        ));
    } else {
        match platform
            .schema_drift(&target, None, &crate::drift::DriftOptions::default())
            .await
        {
            Ok(reports) => {
                for r in reports {
                    checks.push(DoctorCheck::new(
                        format!("drift {}", r.database),
                        r.state == crate::drift::DriftState::Clean,
                        r.summary(),
                    ));
                }
            }
            Err(e) => checks.push(DoctorCheck::new("schema drift", false, error_text(&e))),
        }
        // With a manifest: do the contracts hold on what its pins build? A
        // mismatch here is one the pending migrations do not explain.
        if let Some(m) = &manifest {
            match platform
                .expected_schemas(&target, Some(m), &crate::drift::DriftOptions::default())
                .await
            {
                Ok(expected) => {
                    for c in expected.iter().flat_map(|e| e.contracts.iter()) {
                        let detail = match c.evidence.first() {
                            Some(first) => format!("{}: {first}", c.summary),
                            None => c.summary.clone(),
                        };
                        checks.push(DoctorCheck::new(
                            format!("contract {} after the release", c.probe),
                            c.outcome == preflight_verify::Outcome::Passed,
                            format!("on the schema the manifest's pins build: {detail}"),
                        ));
                    }
                }
                Err(e) => checks.push(DoctorCheck::new("contracts", false, error_text(&e))),
            }
        }
    }
    let selection = crate::probes::ProbeSelection {
        phase: None,
        only: Vec::new(),
        gates: true,
        probes: true,
        readiness: true,
        images: Default::default(),
    };
    match platform.probe_specs(&target, &selection) {
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
        Err(e) => checks.push(DoctorCheck::new("probes", false, error_text(&e))),
    }
    // Google Cloud readiness: every `gcp.*` check, run, not assumed.
    let gcp = platform.gcp_specs(&target.env, &Default::default());
    if target.env.gcp_project.is_none() {
        checks.push(DoctorCheck::skipped(
            "gcp readiness",
            format!("`{env}` has no gcp_project"),
        ));
    } else if gcp.is_empty() {
        checks.push(DoctorCheck::skipped(
            "gcp readiness",
            "the config has no `gcp:` section",
        ));
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
