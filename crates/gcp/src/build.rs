//! Cloud Build: run a trigger with substitutions (`_RELEASE_MANIFEST`) and
//! wait for the build with a deadline.

use std::collections::BTreeMap;
use std::time::Duration;

use google_cloud_build_v1::client::CloudBuild as BuildClient;
use google_cloud_build_v1::model::build::Status;
use google_cloud_build_v1::model::{Build, BuildOperationMetadata, RepoSource};

use crate::error::Action;
use crate::{ClientOptions, Error};

/// Cloud Build's builds and triggers.
#[derive(Debug, Clone)]
pub struct CloudBuild {
    client: BuildClient,
    options: ClientOptions,
}

/// How a build ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutcome {
    pub id: String,
    /// `SUCCESS`, `FAILURE`, `TIMEOUT`, `CANCELLED`…
    pub status: String,
    pub succeeded: bool,
    /// The Cloud console link to the build's log.
    pub log_url: String,
    /// Why it failed (the build's status detail or failure info).
    pub message: String,
}

impl CloudBuild {
    pub async fn connect(options: &ClientOptions) -> Result<CloudBuild, Error> {
        let client = options
            .configure(BuildClient::builder())?
            .build()
            .await
            .map_err(crate::error::client_error("Cloud Build"))?;
        Ok(CloudBuild {
            client,
            options: options.clone(),
        })
    }

    /// Runs `trigger` on `branch` with `substitutions` and waits up to
    /// `deadline` for the build it starts.
    pub async fn run_trigger(
        &self,
        project: &str,
        trigger: &str,
        branch: &str,
        substitutions: &BTreeMap<String, String>,
        deadline: Duration,
    ) -> Result<BuildOutcome, Error> {
        let resource = format!("projects/{project}/triggers/{trigger}");
        let action = Action {
            verb: "run the Cloud Build trigger",
            resource: resource.clone(),
            project,
            api: "cloudbuild.googleapis.com",
            permission: "cloudbuild.builds.create",
        };
        let source = RepoSource::new()
            .set_project_id(project)
            .set_branch_name(branch)
            .set_substitutions(substitutions.clone());
        let poller = self
            .client
            .run_build_trigger()
            .set_project_id(project)
            .set_trigger_id(trigger)
            .set_source(source)
            .poller();
        let mut seen: Option<Build> = None;
        let what = format!("Cloud Build trigger {trigger}");
        let result = crate::poll::wait(
            poller,
            &what,
            deadline,
            &self.options,
            |meta: &BuildOperationMetadata| {
                let build = meta.build.as_ref()?;
                seen = Some(build.clone());
                Some(format!(
                    "build {} is {}; log: {}",
                    build.id,
                    status_name(&build.status),
                    build.log_url
                ))
            },
        )
        .await?;
        match result {
            Ok(build) => Ok(outcome(build)),
            Err(e) => {
                let Some(started) = seen.filter(|b| !b.id.is_empty()) else {
                    return Err(action.error(e));
                };
                // The operation failed after the build started: read the
                // build for its final status and log link.
                let build = self
                    .client
                    .get_build()
                    .set_project_id(project)
                    .set_id(started.id.clone())
                    .send()
                    .await
                    .unwrap_or(started);
                let mut out = outcome(build);
                out.succeeded = false;
                if out.message.is_empty() {
                    out.message = e
                        .status()
                        .map(|s| s.message.clone())
                        .unwrap_or_else(|| e.to_string());
                }
                Ok(out)
            }
        }
    }
}

fn outcome(build: Build) -> BuildOutcome {
    let succeeded = build.status == Status::Success;
    let message = match &build.failure_info {
        Some(f) if !f.detail.is_empty() => f.detail.clone(),
        _ => build.status_detail.clone(),
    };
    BuildOutcome {
        id: build.id,
        status: status_name(&build.status).to_string(),
        succeeded,
        log_url: build.log_url,
        message,
    }
}

fn status_name(status: &Status) -> &str {
    status.name().unwrap_or("STATUS_UNKNOWN")
}
