//! Cloud Scheduler: the schedules that start Cloud Run jobs (a nightly
//! sync, a cron'd scraper), paused for a release's freeze and resumed as
//! they were after it.

use google_cloud_scheduler_v1::client::CloudScheduler as SchedulerClient;
use google_cloud_scheduler_v1::model::job::State;
use serde::{Deserialize, Serialize};

use crate::error::Action;
use crate::{ClientOptions, Error};

const API: &str = "cloudscheduler.googleapis.com";

/// Cloud Scheduler's jobs.
#[derive(Debug, Clone)]
pub struct CloudScheduler {
    client: SchedulerClient,
}

/// Whether a schedule fires, as the freeze found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleState {
    /// It fires on its schedule.
    Enabled,
    /// Someone paused it.
    Paused,
    /// Cloud Scheduler disabled it after errors; it does not fire.
    Disabled,
}

impl std::fmt::Display for ScheduleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScheduleState::Enabled => "enabled",
            ScheduleState::Paused => "paused",
            ScheduleState::Disabled => "disabled",
        })
    }
}

/// A job's state as a [`ScheduleState`]; any other state (unspecified, a
/// failed update, one this client does not know) is an error, since the
/// freeze cannot tell whether that schedule fires.
fn known(state: &State, name: &str) -> Result<ScheduleState, Error> {
    match state {
        State::Enabled => Ok(ScheduleState::Enabled),
        State::Paused => Ok(ScheduleState::Paused),
        State::Disabled => Ok(ScheduleState::Disabled),
        other => Err(Error::OperationFailed {
            what: format!("reading the schedule {name}"),
            message: format!(
                "its state is {}, so whether it fires is unknown",
                other.name().unwrap_or("unknown")
            ),
        }),
    }
}

impl CloudScheduler {
    pub async fn connect(options: &ClientOptions) -> Result<CloudScheduler, Error> {
        let client = options
            .configure(SchedulerClient::builder())?
            .build()
            .await
            .map_err(crate::error::client_error("Cloud Scheduler"))?;
        Ok(CloudScheduler { client })
    }

    fn job_name(project: &str, location: &str, job: &str) -> Result<String, Error> {
        // A job id is letters, digits, `-` and `_` (Cloud Scheduler's rule);
        // anything else would change the request's path.
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !ok(job) {
            return Err(Error::BadReference {
                text: job.to_string(),
                expected: "a Cloud Scheduler job id",
            });
        }
        if !ok(location) {
            return Err(Error::BadReference {
                text: location.to_string(),
                expected: "a Cloud Scheduler location",
            });
        }
        Ok(format!(
            "projects/{project}/locations/{location}/jobs/{job}"
        ))
    }

    /// A schedule's state (`gcloud scheduler jobs describe J`).
    pub async fn state(
        &self,
        project: &str,
        location: &str,
        job: &str,
    ) -> Result<ScheduleState, Error> {
        let name = Self::job_name(project, location, job)?;
        let action = Action {
            verb: "read the Cloud Scheduler job",
            resource: name.clone(),
            project,
            api: API,
            permission: "cloudscheduler.jobs.get",
        };
        let found = self
            .client
            .get_job()
            .set_name(name.clone())
            .send()
            .await
            .map_err(|e| action.error(e))?;
        known(&found.state, &name)
    }

    /// Pauses a schedule that fires, and returns its state before: a
    /// schedule already paused or disabled is left alone, so the resume
    /// leaves it that way too.
    pub async fn pause(
        &self,
        project: &str,
        location: &str,
        job: &str,
    ) -> Result<ScheduleState, Error> {
        let before = self.state(project, location, job).await?;
        if before != ScheduleState::Enabled {
            return Ok(before);
        }
        let name = Self::job_name(project, location, job)?;
        let action = Action {
            verb: "pause the Cloud Scheduler job",
            resource: name.clone(),
            project,
            api: API,
            permission: "cloudscheduler.jobs.pause",
        };
        let after = self
            .client
            .pause_job()
            .set_name(name.clone())
            .send()
            .await
            .map_err(|e| action.error(e))?;
        match known(&after.state, &name)? {
            ScheduleState::Paused => Ok(before),
            other => Err(Error::OperationFailed {
                what: format!("the pause of {name}"),
                message: format!("the job is {other} afterwards"),
            }),
        }
    }

    /// Puts a paused schedule back as the pause found it: resumed when it
    /// was enabled, left alone otherwise.
    pub async fn restore(
        &self,
        project: &str,
        location: &str,
        job: &str,
        before: ScheduleState,
    ) -> Result<(), Error> {
        let name = Self::job_name(project, location, job)?;
        if before != ScheduleState::Enabled {
            return Ok(());
        }
        let action = Action {
            verb: "resume the Cloud Scheduler job",
            resource: name.clone(),
            project,
            api: API,
            permission: "cloudscheduler.jobs.enable",
        };
        let after = self
            .client
            .resume_job()
            .set_name(name.clone())
            .send()
            .await
            .map_err(|e| action.error(e))?;
        match known(&after.state, &name)? {
            ScheduleState::Enabled => Ok(()),
            other => Err(Error::OperationFailed {
                what: format!("the resume of {name}"),
                message: format!("the job is {other} afterwards"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_change_the_path_are_refused() {
        assert_eq!(
            CloudScheduler::job_name("p", "us-central1", "nightly_sync-2").unwrap(),
            "projects/p/locations/us-central1/jobs/nightly_sync-2"
        );
        for bad in ["", "a/b", "x?y", "../j", "a b"] {
            assert!(
                CloudScheduler::job_name("p", "us-central1", bad).is_err(),
                "{bad}"
            );
        }
        assert!(CloudScheduler::job_name("p", "us/central1", "j").is_err());
    }

    #[test]
    fn unknown_states_are_errors() {
        assert!(known(&State::UpdateFailed, "j").is_err());
        assert!(known(&State::Unspecified, "j").is_err());
        assert_eq!(known(&State::Paused, "j").unwrap(), ScheduleState::Paused);
    }
}
