//! Readiness checks: what a Google Cloud project must have before a
//! release. Each returns a [`ReadinessCheck`]; anything that could not be
//! determined (an error, a feature left out of the build) is
//! [`ReadinessStatus::Unknown`], which callers treat as a failure.

use crate::{ClientOptions, Error};

/// The outcome of one readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessCheck {
    pub status: ReadinessStatus,
    /// One line saying what was found.
    pub summary: String,
    /// One line per problem or finding.
    pub details: Vec<String>,
}

/// Whether the project is ready in one respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadinessStatus {
    Pass,
    Fail,
    /// Could not tell (permission denied on the check itself, network…).
    Unknown,
}

impl ReadinessCheck {
    fn pass(summary: impl Into<String>) -> ReadinessCheck {
        ReadinessCheck {
            status: ReadinessStatus::Pass,
            summary: summary.into(),
            details: Vec::new(),
        }
    }

    fn fail(summary: impl Into<String>, details: Vec<String>) -> ReadinessCheck {
        ReadinessCheck {
            status: ReadinessStatus::Fail,
            summary: summary.into(),
            details,
        }
    }

    /// An error while checking: the error, and its root cause as detail.
    fn unknown(error: &Error) -> ReadinessCheck {
        let mut root: Option<&dyn std::error::Error> = None;
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            root = Some(s);
            source = s.source();
        }
        ReadinessCheck {
            status: ReadinessStatus::Unknown,
            summary: error.to_string(),
            details: root.map(|r| r.to_string()).into_iter().collect(),
        }
    }

    #[allow(dead_code)] // unused when every client feature is on
    fn missing_feature(feature: &str) -> ReadinessCheck {
        ReadinessCheck {
            status: ReadinessStatus::Unknown,
            summary: format!(
                "not checked: preflight-gcp was built without the `{feature}` feature"
            ),
            details: Vec::new(),
        }
    }
}

/// Inputs that are the same for every check of one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessOptions {
    pub project: String,
    pub region: String,
}

/// Runs readiness checks against one project.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub client: ClientOptions,
    pub target: ReadinessOptions,
}

fn flatten(result: Result<ReadinessCheck, Error>) -> ReadinessCheck {
    result.unwrap_or_else(|e| ReadinessCheck::unknown(&e))
}

impl Readiness {
    pub fn new(client: ClientOptions, target: ReadinessOptions) -> Readiness {
        Readiness { client, target }
    }

    /// Every API in `apis` is enabled (`gcloud services list --enabled`).
    pub async fn apis(&self, apis: &[String]) -> ReadinessCheck {
        #[cfg(feature = "serviceusage")]
        return flatten(self.apis_inner(apis).await);
        #[cfg(not(feature = "serviceusage"))]
        {
            let _ = apis;
            ReadinessCheck::missing_feature("serviceusage")
        }
    }

    #[cfg(feature = "serviceusage")]
    async fn apis_inner(&self, apis: &[String]) -> Result<ReadinessCheck, Error> {
        use google_cloud_api_serviceusage_v1::client::ServiceUsage;
        use google_cloud_api_serviceusage_v1::model::State;
        let project = &self.target.project;
        let client = self
            .client
            .configure(ServiceUsage::builder())?
            .build()
            .await
            .map_err(crate::error::client_error("Service Usage"))?;
        let action = crate::error::Action {
            verb: "read the enabled services of",
            resource: format!("projects/{project}"),
            project,
            api: "serviceusage.googleapis.com",
            permission: "serviceusage.services.get",
        };
        let mut disabled = Vec::new();
        // batchGet takes at most 30 names per call.
        for chunk in apis.chunks(30) {
            let response = client
                .batch_get_services()
                .set_parent(format!("projects/{project}"))
                .set_names(
                    chunk
                        .iter()
                        .map(|api| format!("projects/{project}/services/{api}")),
                )
                .send()
                .await
                .map_err(|e| action.error(e))?;
            for api in chunk {
                let state = response
                    .services
                    .iter()
                    .find(|s| s.name.rsplit('/').next() == Some(api.as_str()))
                    .map(|s| s.state.clone());
                match state {
                    Some(State::Enabled) => {}
                    Some(State::Disabled) => disabled.push(format!(
                        "{api} is disabled: gcloud services enable {api} --project={project}"
                    )),
                    _ => disabled.push(format!("{api}: state unknown (not in the answer)")),
                }
            }
        }
        Ok(if disabled.is_empty() {
            ReadinessCheck::pass(format!("{} APIs enabled in {project}", apis.len()))
        } else {
            ReadinessCheck::fail(
                format!(
                    "{} of {} APIs not enabled in {project}",
                    disabled.len(),
                    apis.len()
                ),
                disabled,
            )
        })
    }

    /// The caller holds every permission on the project
    /// (`projects.testIamPermissions`).
    pub async fn permissions(&self, permissions: &[String]) -> ReadinessCheck {
        #[cfg(feature = "resourcemanager")]
        return flatten(self.permissions_inner(permissions).await);
        #[cfg(not(feature = "resourcemanager"))]
        {
            let _ = permissions;
            ReadinessCheck::missing_feature("resourcemanager")
        }
    }

    #[cfg(feature = "resourcemanager")]
    async fn permissions_inner(&self, permissions: &[String]) -> Result<ReadinessCheck, Error> {
        use google_cloud_resourcemanager_v3::client::Projects;
        let project = &self.target.project;
        let client = self
            .client
            .configure(Projects::builder())?
            .build()
            .await
            .map_err(crate::error::client_error("Resource Manager"))?;
        let action = crate::error::Action {
            verb: "test IAM permissions on",
            resource: format!("projects/{project}"),
            project,
            api: "cloudresourcemanager.googleapis.com",
            permission: "",
        };
        let mut granted = std::collections::BTreeSet::new();
        // testIamPermissions takes at most 100 permissions per call.
        for chunk in permissions.chunks(100) {
            let response = client
                .test_iam_permissions()
                .set_resource(format!("projects/{project}"))
                .set_permissions(chunk.to_vec())
                .send()
                .await
                .map_err(|e| action.error(e))?;
            granted.extend(response.permissions);
        }
        let missing: Vec<String> = permissions
            .iter()
            .filter(|p| !granted.contains(*p))
            .map(|p| format!("missing `{p}` on projects/{project}"))
            .collect();
        Ok(if missing.is_empty() {
            ReadinessCheck::pass(format!(
                "the caller holds all {} permissions on {project}",
                permissions.len()
            ))
        } else {
            ReadinessCheck::fail(
                format!(
                    "the caller lacks {} of {} permissions on {project}",
                    missing.len(),
                    permissions.len()
                ),
                missing,
            )
        })
    }

    /// The Cloud SQL instance is running and has every database.
    pub async fn sql(&self, instance: &str, databases: &[String]) -> ReadinessCheck {
        #[cfg(feature = "sql")]
        return flatten(self.sql_inner(instance, databases).await);
        #[cfg(not(feature = "sql"))]
        {
            let _ = (instance, databases);
            ReadinessCheck::missing_feature("sql")
        }
    }

    #[cfg(feature = "sql")]
    async fn sql_inner(
        &self,
        instance: &str,
        databases: &[String],
    ) -> Result<ReadinessCheck, Error> {
        use google_cloud_sql_v1::client::{SqlDatabasesService, SqlInstancesService};
        use google_cloud_sql_v1::model::database_instance::SqlInstanceState;
        let project = &self.target.project;
        let client_err = crate::error::client_error("Cloud SQL Admin");
        let instances = self
            .client
            .configure(SqlInstancesService::builder())?
            .build()
            .await
            .map_err(client_err)?;
        let resource = format!("Cloud SQL instance {instance}");
        let found = instances
            .get()
            .set_project(project.clone())
            .set_instance(instance)
            .send()
            .await
            .map_err(|e| {
                crate::error::Action {
                    verb: "read",
                    resource: resource.clone(),
                    project,
                    api: "sqladmin.googleapis.com",
                    permission: "cloudsql.instances.get",
                }
                .error(e)
            })?;
        let mut problems = Vec::new();
        if found.state != SqlInstanceState::Runnable {
            problems.push(format!(
                "instance {instance} is {}, not RUNNABLE",
                found.state.name().unwrap_or("in an unknown state")
            ));
        }
        let dbs = self
            .client
            .configure(SqlDatabasesService::builder())?
            .build()
            .await
            .map_err(client_err)?;
        let listed = dbs
            .list()
            .set_project(project.clone())
            .set_instance(instance)
            .send()
            .await
            .map_err(|e| {
                crate::error::Action {
                    verb: "list the databases of",
                    resource: resource.clone(),
                    project,
                    api: "sqladmin.googleapis.com",
                    permission: "cloudsql.databases.list",
                }
                .error(e)
            })?;
        for db in databases {
            if !listed.items.iter().any(|d| &d.name == db) {
                problems.push(format!(
                    "database `{db}` does not exist on {instance}: gcloud sql databases create {db} --instance={instance} --project={project}"
                ));
            }
        }
        Ok(if problems.is_empty() {
            ReadinessCheck::pass(format!(
                "{instance} is RUNNABLE with {} databases",
                databases.len()
            ))
        } else {
            ReadinessCheck::fail(format!("{instance} is not ready"), problems)
        })
    }

    /// The bucket exists and has lifecycle rules.
    pub async fn bucket(&self, bucket: &str) -> ReadinessCheck {
        #[cfg(feature = "storage")]
        return flatten(
            crate::storage::check_bucket(bucket, &self.client)
                .await
                .map(|status| {
                    if status.lifecycle_rules.is_empty() {
                        ReadinessCheck::fail(
                            format!("gs://{bucket} has no lifecycle policy"),
                            vec![format!(
                                "set one: gcloud storage buckets update gs://{bucket} --lifecycle-file=lifecycle.json"
                            )],
                        )
                    } else {
                        ReadinessCheck {
                            status: ReadinessStatus::Pass,
                            summary: format!(
                                "gs://{bucket} exists with {} lifecycle rule(s)",
                                status.lifecycle_rules.len()
                            ),
                            details: status.lifecycle_rules,
                        }
                    }
                }),
        );
        #[cfg(not(feature = "storage"))]
        {
            let _ = bucket;
            ReadinessCheck::missing_feature("storage")
        }
    }

    /// Every `(key, secret id)` pair has a secret in the project ("Map .env
    /// keys → Secret Manager entries").
    pub async fn secrets(&self, module: &str, expected: &[(String, String)]) -> ReadinessCheck {
        #[cfg(feature = "secretmanager")]
        return flatten(
            async {
                let resolver = crate::SecretResolver::connect(&self.client).await?;
                let ids = resolver.secret_ids(&self.target.project).await?;
                let missing: Vec<String> = expected
                    .iter()
                    .filter(|(_, id)| !ids.contains(id))
                    .map(|(key, id)| format!("{key}: no secret `{id}` in {}", self.target.project))
                    .collect();
                Ok(if missing.is_empty() {
                    ReadinessCheck::pass(format!(
                        "all {} keys of {module} have a secret",
                        expected.len()
                    ))
                } else {
                    ReadinessCheck::fail(
                        format!(
                            "{} of {} keys of {module} have no secret",
                            missing.len(),
                            expected.len()
                        ),
                        missing,
                    )
                })
            }
            .await,
        );
        #[cfg(not(feature = "secretmanager"))]
        {
            let _ = (module, expected);
            ReadinessCheck::missing_feature("secretmanager")
        }
    }

    /// A Cloud Scheduler job the freeze will pause can be read, and its
    /// state is one the freeze knows what to do with.
    pub async fn schedule(&self, job: &str, location: &str) -> ReadinessCheck {
        #[cfg(feature = "scheduler")]
        return flatten(
            async {
                let scheduler = crate::CloudScheduler::connect(&self.client).await?;
                let state = scheduler.state(&self.target.project, location, job).await?;
                Ok(ReadinessCheck::pass(match state {
                    crate::ScheduleState::Enabled => {
                        format!("schedule {job} is enabled; the freeze pauses it")
                    }
                    other => format!("schedule {job} is {other}; the freeze leaves it so"),
                }))
            }
            .await,
        );
        #[cfg(not(feature = "scheduler"))]
        {
            let _ = (job, location);
            ReadinessCheck::missing_feature("scheduler")
        }
    }

    /// A Cloud Run service is ready, runs `pinned` (when given) and, for
    /// Redis users, has VPC egress.
    pub async fn service(
        &self,
        service: &str,
        pinned: Option<&str>,
        needs_vpc: bool,
    ) -> ReadinessCheck {
        #[cfg(feature = "run")]
        return flatten(
            async {
                let run = crate::CloudRun::connect(&self.client).await?;
                let state = run
                    .service(&self.target.project, &self.target.region, service)
                    .await?;
                let mut problems = Vec::new();
                problems.extend(state.problem.clone());
                if let Some(pinned) = pinned {
                    problems.extend(state.image_problem(pinned));
                }
                if needs_vpc {
                    problems.extend(state.vpc_problem());
                }
                let mut found = Vec::new();
                if pinned.is_some() {
                    found.push(format!("runs {}", state.images.join(", ")));
                }
                if needs_vpc {
                    found.push(state.vpc_summary());
                }
                if found.is_empty() {
                    found.push(format!("ready at revision {}", state.latest_ready_revision));
                }
                Ok(if problems.is_empty() {
                    ReadinessCheck::pass(format!("{service}: {}", found.join("; ")))
                } else {
                    ReadinessCheck::fail(format!("{service} is not as required"), problems)
                })
            }
            .await,
        );
        #[cfg(not(feature = "run"))]
        {
            let _ = (service, pinned, needs_vpc);
            ReadinessCheck::missing_feature("run")
        }
    }
}
