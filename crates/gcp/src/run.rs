//! Cloud Run: what a service runs (image, VPC egress) and running a job
//! (the migration job) to completion with a deadline.

use std::collections::BTreeMap;
use std::time::Duration;

use google_cloud_run_v2::client::{Executions, Jobs, Revisions, Services};
use google_cloud_run_v2::model::condition::State as ConditionState;
use google_cloud_run_v2::model::run_job_request::Overrides;
use google_cloud_run_v2::model::run_job_request::overrides::ContainerOverride;
use google_cloud_run_v2::model::vpc_access::VpcEgress;
use google_cloud_run_v2::model::{EnvVar, Execution};

use crate::error::Action;
use crate::{ClientOptions, Error};

pub(crate) const API: &str = "run.googleapis.com";

/// Cloud Run's services, jobs and executions in one place.
#[derive(Debug, Clone)]
pub struct CloudRun {
    pub(crate) services: Services,
    pub(crate) revisions: Revisions,
    jobs: Jobs,
    executions: Executions,
    pub(crate) options: ClientOptions,
}

/// What a deployed service runs, as far as a release cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    /// `projects/P/locations/R/services/S`.
    pub name: String,
    pub uri: String,
    /// The images of the service template's containers.
    pub images: Vec<String>,
    pub latest_ready_revision: String,
    /// Set when the template routes traffic through a VPC.
    pub vpc: Option<VpcRoute>,
    /// `Ready` condition failed or the service is still reconciling.
    pub problem: Option<String>,
}

/// How a service reaches the VPC (Direct VPC egress or a connector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcRoute {
    pub connector: String,
    /// `network/subnet` pairs of Direct VPC egress.
    pub interfaces: Vec<(String, String)>,
    /// `private-ranges-only`, `all-traffic` or `unspecified`.
    pub egress: &'static str,
}

impl ServiceState {
    /// Whether the service runs exactly `pinned` (the manifest's image).
    /// A service deployed by digest cannot be matched to a tag pin, so
    /// that is a mismatch too: unknown is never a pass.
    pub fn image_problem(&self, pinned: &str) -> Option<String> {
        if self.images.iter().any(|i| i == pinned) {
            return None;
        }
        Some(match self.images.as_slice() {
            [] => "the service template has no containers".to_string(),
            [one] => format!("runs {one}, the manifest pins {pinned}"),
            many => format!("runs [{}], the manifest pins {pinned}", many.join(", ")),
        })
    }

    /// Whether traffic to private ranges (Redis) goes through the VPC.
    pub fn vpc_problem(&self) -> Option<String> {
        let Some(vpc) = &self.vpc else {
            return Some(
                "no VPC egress: deploy with --network/--subnet (or --vpc-connector) and --vpc-egress=private-ranges-only"
                    .to_string(),
            );
        };
        if vpc.connector.is_empty() && vpc.interfaces.is_empty() {
            return Some("VPC access has neither a network/subnet nor a connector".to_string());
        }
        if vpc.egress == "unspecified" {
            return Some(
                "VPC egress is unspecified; set --vpc-egress=private-ranges-only".to_string(),
            );
        }
        None
    }

    /// One line for reports: `network default/default, private-ranges-only`.
    pub fn vpc_summary(&self) -> String {
        match &self.vpc {
            None => "no VPC egress".to_string(),
            Some(v) if !v.connector.is_empty() => {
                format!("connector {}, {}", v.connector, v.egress)
            }
            Some(v) => format!(
                "network {}, {}",
                v.interfaces
                    .iter()
                    .map(|(n, s)| format!("{n}/{s}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                v.egress
            ),
        }
    }
}

/// A template's or revision's VPC access, as a release reports it.
pub(crate) fn vpc_route(v: google_cloud_run_v2::model::VpcAccess) -> VpcRoute {
    VpcRoute {
        connector: v.connector,
        interfaces: v
            .network_interfaces
            .into_iter()
            .map(|i| (i.network, i.subnetwork))
            .collect(),
        egress: match v.egress {
            VpcEgress::PrivateRangesOnly => "private-ranges-only",
            VpcEgress::AllTraffic => "all-traffic",
            _ => "unspecified",
        },
    }
}

/// One execution of a Cloud Run job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobRun {
    pub project: String,
    pub region: String,
    pub job: String,
    /// Replaces the container's arguments when not empty.
    pub args: Vec<String>,
    /// Added to the container's environment.
    pub env: BTreeMap<String, String>,
    /// Per-task timeout override.
    pub task_timeout: Option<Duration>,
    /// How long to wait for the execution before giving up on it.
    pub deadline: Duration,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionOutcome {
    /// `projects/P/locations/R/jobs/J/executions/E`, when known.
    pub execution: String,
    pub succeeded: bool,
    pub succeeded_tasks: i32,
    pub failed_tasks: i32,
    /// The Cloud Logging link for the execution.
    pub log_uri: String,
    /// Why it failed, from the operation or the execution's conditions.
    pub message: String,
}

impl CloudRun {
    pub async fn connect(options: &ClientOptions) -> Result<CloudRun, Error> {
        let client_err = crate::error::client_error("Cloud Run");
        Ok(CloudRun {
            services: options
                .configure(Services::builder())?
                .build()
                .await
                .map_err(client_err)?,
            revisions: options
                .configure(Revisions::builder())?
                .build()
                .await
                .map_err(client_err)?,
            jobs: options
                .configure(Jobs::builder())?
                .build()
                .await
                .map_err(client_err)?,
            executions: options
                .configure(Executions::builder())?
                .build()
                .await
                .map_err(client_err)?,
            options: options.clone(),
        })
    }

    /// The deployed state of a service.
    pub async fn service(
        &self,
        project: &str,
        region: &str,
        service: &str,
    ) -> Result<ServiceState, Error> {
        let name = format!("projects/{project}/locations/{region}/services/{service}");
        let action = Action {
            verb: "read the Cloud Run service",
            resource: name.clone(),
            project,
            api: API,
            permission: "run.services.get",
        };
        let s = self
            .services
            .get_service()
            .set_name(name.clone())
            .send()
            .await
            .map_err(|e| action.error(e))?;
        let template = s.template.unwrap_or_default();
        let vpc = template.vpc_access.map(vpc_route);
        let problem = match &s.terminal_condition {
            Some(c) if c.state == ConditionState::ConditionFailed => {
                Some(format!("not ready: {}", c.message))
            }
            _ if s.reconciling => Some("still rolling out (reconciling)".to_string()),
            _ => None,
        };
        Ok(ServiceState {
            name,
            uri: s.uri,
            images: template.containers.into_iter().map(|c| c.image).collect(),
            latest_ready_revision: s.latest_ready_revision,
            vpc,
            problem,
        })
    }

    /// The images a job's executions run (`gcloud run jobs describe J`).
    pub async fn job_images(
        &self,
        project: &str,
        region: &str,
        job: &str,
    ) -> Result<Vec<String>, Error> {
        let name = format!("projects/{project}/locations/{region}/jobs/{job}");
        let action = Action {
            verb: "read the Cloud Run job",
            resource: name.clone(),
            project,
            api: API,
            permission: "run.jobs.get",
        };
        let j = self
            .jobs
            .get_job()
            .set_name(name)
            .send()
            .await
            .map_err(|e| action.error(e))?;
        Ok(j.template
            .and_then(|t| t.template)
            .map(|t| t.containers.into_iter().map(|c| c.image).collect())
            .unwrap_or_default())
    }

    /// The `run_job` request for `run`, with its overrides.
    fn run_request(
        &self,
        run: &JobRun,
    ) -> Result<google_cloud_run_v2::builder::jobs::RunJob, Error> {
        let name = format!(
            "projects/{}/locations/{}/jobs/{}",
            run.project, run.region, run.job
        );
        let mut overrides = Overrides::new();
        let has_container_override = !run.args.is_empty() || !run.env.is_empty();
        if has_container_override {
            let container = ContainerOverride::new().set_args(run.args.clone()).set_env(
                run.env
                    .iter()
                    .map(|(k, v)| EnvVar::new().set_name(k.clone()).set_value(v.clone())),
            );
            overrides = overrides.set_container_overrides([container]);
        }
        if let Some(t) = run.task_timeout {
            overrides =
                overrides.set_timeout(google_cloud_wkt::Duration::try_from(t).map_err(|_| {
                    Error::BadReference {
                        text: format!("{}s", t.as_secs()),
                        expected: "a task timeout Cloud Run accepts",
                    }
                })?);
        }
        let mut builder = self.jobs.run_job().set_name(name);
        if has_container_override || run.task_timeout.is_some() {
            builder = builder.set_overrides(overrides);
        }
        Ok(builder)
    }

    fn run_action<'a>(&self, run: &'a JobRun) -> Action<'a> {
        Action {
            verb: "run the Cloud Run job",
            resource: format!(
                "projects/{}/locations/{}/jobs/{}",
                run.project, run.region, run.job
            ),
            project: &run.project,
            api: API,
            permission: "run.jobs.run",
        }
    }

    /// Starts an execution (`gcloud run jobs execute J` without `--wait`)
    /// and returns it as first reported, with its log link.
    pub async fn start_job(&self, run: &JobRun) -> Result<ExecutionOutcome, Error> {
        let operation = self
            .run_request(run)?
            .send()
            .await
            .map_err(|e| self.run_action(run).error(e))?;
        let execution = operation
            .metadata
            .as_ref()
            .and_then(|m| m.to_msg::<Execution>().ok())
            .unwrap_or_default();
        Ok(ExecutionOutcome {
            execution: execution.name,
            succeeded: false,
            succeeded_tasks: execution.succeeded_count,
            failed_tasks: execution.failed_count,
            log_uri: execution.log_uri,
            message: "started; not waited for".to_string(),
        })
    }

    /// Runs a job execution (`gcloud run jobs execute J --wait`) and waits
    /// for it up to `run.deadline`, polling with backoff.
    pub async fn run_job(&self, run: &JobRun) -> Result<ExecutionOutcome, Error> {
        let builder = self.run_request(run)?;
        let action = self.run_action(run);
        let mut seen: Option<Execution> = None;
        let what = format!("execution of Cloud Run job {}", run.job);
        let result = crate::poll::wait(
            builder.poller(),
            &what,
            run.deadline,
            &self.options,
            |execution: &Execution| {
                seen = Some(execution.clone());
                Some(format!(
                    "{} running, {} succeeded, {} failed",
                    execution.running_count, execution.succeeded_count, execution.failed_count
                ))
            },
        )
        .await;
        match result {
            Err(Error::Deadline { what, secs, last }) => {
                let link = seen
                    .as_ref()
                    .map(|e| format!("; logs: {}", e.log_uri))
                    .unwrap_or_default();
                Err(Error::Deadline {
                    what,
                    secs,
                    last: Some(format!("{}{link}", last.unwrap_or_default())),
                })
            }
            Err(e) => Err(e),
            Ok(Ok(execution)) => Ok(outcome(execution, None)),
            Ok(Err(e)) => {
                // The operation failed. If it failed before starting an
                // execution (403, 404) that is an error; otherwise read the
                // execution for its counts and log link.
                let Some(started) = seen.filter(|e| !e.name.is_empty()) else {
                    return Err(action.error(e));
                };
                let message = e
                    .status()
                    .map(|s| s.message.clone())
                    .unwrap_or_else(|| e.to_string());
                let execution = self
                    .executions
                    .get_execution()
                    .set_name(started.name.clone())
                    .send()
                    .await
                    .unwrap_or(started);
                Ok(outcome(execution, Some(message)))
            }
        }
    }
}

fn outcome(execution: Execution, failure: Option<String>) -> ExecutionOutcome {
    let failed_condition = execution
        .conditions
        .iter()
        .find(|c| c.state == ConditionState::ConditionFailed)
        .map(|c| c.message.clone());
    let succeeded = failure.is_none()
        && failed_condition.is_none()
        && execution.failed_count == 0
        && execution.succeeded_count >= execution.task_count.max(1);
    let message = failure
        .or(failed_condition)
        .unwrap_or_else(|| match succeeded {
            true => String::new(),
            false => format!(
                "{} of {} tasks succeeded, {} failed",
                execution.succeeded_count, execution.task_count, execution.failed_count
            ),
        });
    ExecutionOutcome {
        execution: execution.name,
        succeeded,
        succeeded_tasks: execution.succeeded_count,
        failed_tasks: execution.failed_count,
        log_uri: execution.log_uri,
        message,
    }
}
