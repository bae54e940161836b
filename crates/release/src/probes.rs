//! Builds `preflight-verify` probes from `preflight.yaml` for one environment:
//! fills in `{services.NAME}`, reads `env:NAME` values, resolves database
//! URLs and relative paths. A probe that cannot be resolved still runs, as
//! an error with the reason, so the report shows it and the gate fails closed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use preflight_manifest::{
    ExpectConfig, Gate, JsonCondition, ProbeCheck, ProbeConfig, ProbePhase, RequestConfig,
};
use preflight_verify::{
    Check, CommandProbe, Contract, ContractProbe, DbtResultsProbe, EnvParityProbe, HttpExpect,
    HttpProbe, HttpRequest, JsonEquals, PollProbe, Probe, ProbeContext, ProbeSpec, RetryPolicy,
    TcpProbe,
};

use crate::error::{Error, error_text};
use crate::platform::Platform;
use crate::target::Target;

/// Probes get 30 s unless they say otherwise; gates (test suites) 10 min.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
const GATE_TIMEOUT: Duration = Duration::from_secs(600);

/// Which probes to build.
#[derive(Debug, Clone, Default)]
pub struct ProbeSelection {
    /// Only this phase's probes; all when `None`.
    pub phase: Option<ProbePhase>,
    /// Probe, gate or module names; all when empty.
    pub only: Vec<String>,
    /// Include the config's gates (as command probes).
    pub gates: bool,
    /// Include probes (the gates-only phases of a release leave them out).
    pub probes: bool,
    /// Include the `gcp.*` readiness checks (a release runs them in its
    /// preflight phase, so its verify phase leaves them out).
    pub readiness: bool,
    /// Image name → pinned reference: adds `gcp.image.<service>` smoke
    /// checks that Cloud Run runs the pin. Empty outside a release.
    pub images: std::collections::BTreeMap<String, String>,
}

/// A probe whose configuration could not be resolved in this environment.
#[derive(Debug)]
pub(crate) struct Unresolved {
    pub(crate) kind: &'static str,
    pub(crate) reason: String,
}

#[async_trait]
impl Probe for Unresolved {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn target(&self) -> String {
        "(unresolved)".into()
    }
    async fn check(&self, _cx: &ProbeContext) -> Check {
        Check::error(self.reason.clone())
    }
}

impl Platform {
    /// The probes (and gates) that run in `env`, in config order: gates first.
    pub fn probe_specs(
        &self,
        target: &Target,
        selection: &ProbeSelection,
    ) -> Result<Vec<ProbeSpec>, Error> {
        let environment = &target.env;
        let env = target.name();
        let wanted = |name: &str, module: Option<&str>| {
            selection.only.is_empty()
                || selection
                    .only
                    .iter()
                    .any(|o| o == name || Some(o.as_str()) == module)
        };
        let mut specs = Vec::new();
        if selection.gates {
            for gate in self.config.gates.iter().filter(|g| g.runs_in(env)) {
                if wanted(&gate.name, None) {
                    specs.push(self.gate_spec(gate));
                }
            }
        }
        if selection.probes {
            for probe in self.config.probes.iter().filter(|p| p.runs_in(env)) {
                if selection.phase.is_some_and(|ph| ph != probe.phase)
                    || !wanted(&probe.name, probe.module.as_deref())
                {
                    continue;
                }
                let timeout = probe
                    .timeout_secs
                    .map_or(PROBE_TIMEOUT, Duration::from_secs);
                let built = self.build(target, probe, timeout);
                let probe_arc: Arc<dyn Probe> = match built {
                    Ok(p) => p,
                    Err(reason) => Arc::new(Unresolved {
                        kind: kind_name(&probe.check),
                        reason,
                    }),
                };
                specs.push(ProbeSpec {
                    name: probe.name.clone(),
                    severity: probe.severity,
                    timeout,
                    retry: RetryPolicy::retries(probe.retries),
                    probe: probe_arc,
                });
            }
        }
        let gcp_specs = if selection.probes {
            self.gcp_specs(environment, &selection.images)
        } else {
            Vec::new()
        };
        let gcp_names: Vec<String> = gcp_specs.iter().map(|s| s.name.clone()).collect();
        for spec in gcp_specs {
            // Image checks are smoke (after the deploy); the rest is readiness.
            let image = spec.name.starts_with("gcp.image.");
            let phase = if image {
                ProbePhase::Smoke
            } else {
                ProbePhase::Verify
            };
            if (image || selection.readiness)
                && selection.phase.is_none_or(|ph| ph == phase)
                && wanted(&spec.name, None)
            {
                specs.push(spec);
            }
        }
        for name in &selection.only {
            let known = gcp_names.contains(name)
                || self
                    .config
                    .probes
                    .iter()
                    .any(|p| &p.name == name || p.module.as_ref() == Some(name))
                || self.config.gates.iter().any(|g| &g.name == name);
            if !known {
                return Err(Error::Unknown {
                    what: "probe, gate or module",
                    name: name.clone(),
                    config: self.config.path.clone(),
                    known: self.config.probes.iter().map(|p| p.name.clone()).collect(),
                });
            }
        }
        Ok(specs)
    }

    /// A gate as a command probe run in its folder.
    pub fn gate_spec(&self, gate: &Gate) -> ProbeSpec {
        let mut command = CommandProbe::new(gate.command.clone());
        command.dir = Some(match &gate.dir {
            Some(d) => self.root().join(d),
            None => self.root().to_path_buf(),
        });
        ProbeSpec {
            name: gate.name.clone(),
            severity: gate.severity,
            timeout: gate.timeout_secs.map_or(GATE_TIMEOUT, Duration::from_secs),
            retry: RetryPolicy::none(),
            probe: Arc::new(command),
        }
    }

    fn build(
        &self,
        target: &Target,
        probe: &ProbeConfig,
        timeout: Duration,
    ) -> Result<Arc<dyn Probe>, String> {
        let path = |p: &PathBuf| self.root().join(p);
        let environment = &target.env;
        Ok(match &probe.check {
            ProbeCheck::Http { request, expect } => Arc::new(HttpProbe {
                request: resolve_request(environment, request)?,
                expect: resolve_expect(expect)?,
            }),
            ProbeCheck::Poll {
                request,
                expect_status,
                capture,
                poll_url,
                until,
                fail_when,
                interval_ms,
            } => {
                let start = resolve_request(environment, request)?;
                Arc::new(PollProbe {
                    poll_headers: start.headers.clone(),
                    start,
                    start_status: expect_status.clone(),
                    capture: capture.clone(),
                    poll_url: fill_services(environment, poll_url)?,
                    until: conditions(until),
                    fail_when: conditions(fail_when),
                    interval: Duration::from_millis(*interval_ms),
                    // Leave time to report the last answer before the budget ends.
                    deadline: timeout.mul_f64(0.9),
                })
            }
            ProbeCheck::Postgres { database, contract } => {
                let contract = Contract::load(&path(contract)).map_err(|e| error_text(&e))?;
                let db = target.database(database).map_err(|e| error_text(&e))?;
                Arc::new(ContractProbe {
                    database_url: db.url.clone(),
                    contract,
                })
            }
            ProbeCheck::Command {
                command,
                dir,
                env: vars,
                expect_exit,
            } => {
                let mut probe = CommandProbe::new(command.clone());
                probe.dir = Some(dir.as_ref().map_or_else(|| self.root().to_path_buf(), path));
                for (k, v) in vars {
                    probe.env.insert(k.clone(), env_value(v)?);
                }
                probe.expect_exit = *expect_exit;
                Arc::new(probe)
            }
            ProbeCheck::EnvParity { example, actual } => Arc::new(EnvParityProbe {
                example: path(example),
                actual: path(actual),
            }),
            ProbeCheck::Tcp { address } => Arc::new(TcpProbe {
                address: address.clone(),
            }),
            ProbeCheck::Dbt { run_results } => Arc::new(DbtResultsProbe {
                run_results: path(run_results),
            }),
        })
    }
}

fn kind_name(check: &ProbeCheck) -> &'static str {
    match check {
        ProbeCheck::Http { .. } => "http",
        ProbeCheck::Poll { .. } => "poll",
        ProbeCheck::Postgres { .. } => "postgres",
        ProbeCheck::Command { .. } => "command",
        ProbeCheck::EnvParity { .. } => "env_parity",
        ProbeCheck::Tcp { .. } => "tcp",
        ProbeCheck::Dbt { .. } => "dbt",
    }
}

/// `env:NAME` reads the variable; anything else is the value itself.
fn env_value(value: &str) -> Result<String, String> {
    match value.strip_prefix("env:") {
        Some(var) => std::env::var(var).map_err(|_| format!("${var} is not set")),
        None => Ok(value.to_string()),
    }
}

/// Replaces `{services.NAME}` with the environment's URL for NAME.
fn fill_services(
    environment: &preflight_manifest::Environment,
    url: &str,
) -> Result<String, String> {
    let mut out = url.to_string();
    while let Some(start) = out.find("{services.") {
        let end = out[start..]
            .find('}')
            .map(|e| start + e)
            .ok_or_else(|| format!("`{url}` has an unclosed `{{services.`"))?;
        let name = &out[start + "{services.".len()..end];
        let base = environment.services.get(name).ok_or_else(|| {
            format!(
                "environment `{}` has no service `{name}` (add it under environments.{}.services)",
                environment.name, environment.name
            )
        })?;
        out = format!(
            "{}{}{}",
            &out[..start],
            base.trim_end_matches('/'),
            &out[end + 1..]
        );
    }
    Ok(out)
}

fn resolve_request(
    environment: &preflight_manifest::Environment,
    request: &RequestConfig,
) -> Result<HttpRequest, String> {
    Ok(HttpRequest {
        method: request.method.clone(),
        url: fill_services(environment, &request.url)?,
        headers: request
            .headers
            .iter()
            .map(|(k, v)| Ok((k.clone(), env_value(v)?)))
            .collect::<Result<_, String>>()?,
        body: request.body.clone(),
    })
}

fn resolve_expect(expect: &ExpectConfig) -> Result<HttpExpect, String> {
    Ok(HttpExpect {
        status: expect.status.clone(),
        body_contains: expect.body_contains.clone(),
        body_regex: expect
            .body_regex
            .as_deref()
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| format!("`body_regex` is not a valid pattern: {e}"))?,
        json: conditions(&expect.json),
        max_latency: expect.max_latency_ms.map(Duration::from_millis),
        final_on_4xx: false,
    })
}

fn conditions(list: &[JsonCondition]) -> Vec<JsonEquals> {
    list.iter()
        .map(|c| JsonEquals {
            pointer: c.pointer.clone(),
            value: c.equals.clone(),
        })
        .collect()
}

impl Platform {
    /// The run's one redaction set: every database URL of `target` with its
    /// password in any form, every secret a probe or gate of the
    /// environment declares, and the notify webhook. Everything a release
    /// records passes through it.
    pub fn redaction_set(&self, target: &Target) -> preflight_verify::Redactor {
        let mut redactor = preflight_verify::Redactor::new();
        for db in target.databases.values().flatten() {
            redactor.add_url(&db.url);
        }
        let everything = ProbeSelection {
            phase: None,
            only: Vec::new(),
            gates: true,
            probes: true,
            readiness: true,
            images: Default::default(),
        };
        if let Ok(specs) = self.probe_specs(target, &everything) {
            for spec in specs {
                for secret in spec.probe.secrets() {
                    redactor.add(secret);
                }
            }
        }
        if let Some(webhook) = self
            .config
            .release
            .notify
            .as_ref()
            .and_then(|n| n.webhook.as_ref())
        {
            match webhook.strip_prefix("env:") {
                Some(var) => {
                    if let Ok(url) = std::env::var(var) {
                        redactor.add_url(&url);
                    }
                }
                None => redactor.add_url(webhook),
            }
        }
        redactor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_and_service_templates() {
        assert_eq!(env_value("plain").unwrap(), "plain");
        assert_eq!(
            env_value("env:PREFLIGHT_SURELY_UNSET_VAR").unwrap_err(),
            "$PREFLIGHT_SURELY_UNSET_VAR is not set"
        );
        let mut env = preflight_manifest::Environment {
            name: "dev".into(),
            gcp_project: None,
            region: None,
            registry: None,
            artifacts: None,
            services: Default::default(),
            databases: Default::default(),
            protected: false,
            checkout: Default::default(),
            drift: Default::default(),
            lint_block: Vec::new(),
        };
        env.services
            .insert("chat".into(), "https://chat.dev/".into());
        assert_eq!(
            fill_services(&env, "{services.chat}/chat/response/{captured}").unwrap(),
            "https://chat.dev/chat/response/{captured}"
        );
        assert_eq!(
            fill_services(&env, "{services.rag}/health").unwrap_err(),
            "environment `dev` has no service `rag` (add it under environments.dev.services)"
        );
    }
}
