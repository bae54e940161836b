//! Google Cloud in a release: the `gcp.*` readiness probes built from the
//! `gcp:` section for one environment, Secret Manager references resolved
//! for database URLs, and Cloud Storage artifact stores.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use preflight_gcp::{
    ClientOptions, GcsStore, Readiness, ReadinessCheck, ReadinessOptions, ReadinessStatus,
    SecretResolver, secret_id_for,
};
use preflight_manifest::{Environment, FreezeTarget, SecretRef};
use preflight_verify::{Check, EnvFile, Probe, ProbeContext, ProbeSpec, RetryPolicy};

use crate::error::{Error, error_text};
use crate::platform::Platform;

/// Readiness calls retry 429/503 themselves; the probe's budget covers that.
const GCP_PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// One readiness check as a verify probe.
#[derive(Debug)]
struct GcpProbe {
    readiness: Readiness,
    check: GcpCheck,
}

#[derive(Debug)]
enum GcpCheck {
    Apis(Vec<String>),
    Permissions(Vec<String>),
    Sql {
        instance: String,
        databases: Vec<String>,
    },
    Bucket(String),
    Secrets {
        module: String,
        expected: Vec<(String, String)>,
    },
    Service {
        name: String,
        pinned: Option<String>,
        needs_vpc: bool,
    },
    Schedule {
        job: String,
        location: String,
    },
}

#[async_trait]
impl Probe for GcpProbe {
    fn kind(&self) -> &'static str {
        "gcp"
    }

    fn target(&self) -> String {
        let project = &self.readiness.target.project;
        match &self.check {
            GcpCheck::Apis(_) | GcpCheck::Permissions(_) | GcpCheck::Secrets { .. } => {
                format!("projects/{project}")
            }
            GcpCheck::Sql { instance, .. } => format!("{project}:{instance}"),
            GcpCheck::Bucket(b) => format!("gs://{b}"),
            GcpCheck::Service { name, .. } => format!(
                "projects/{project}/locations/{}/services/{name}",
                self.readiness.target.region
            ),
            GcpCheck::Schedule { job, location } => {
                format!("projects/{project}/locations/{location}/jobs/{job}")
            }
        }
    }

    async fn check(&self, _cx: &ProbeContext) -> Check {
        let r = &self.readiness;
        let found: ReadinessCheck = match &self.check {
            GcpCheck::Apis(apis) => r.apis(apis).await,
            GcpCheck::Permissions(p) => r.permissions(p).await,
            GcpCheck::Sql {
                instance,
                databases,
            } => r.sql(instance, databases).await,
            GcpCheck::Bucket(b) => r.bucket(b).await,
            GcpCheck::Secrets { module, expected } => r.secrets(module, expected).await,
            GcpCheck::Service {
                name,
                pinned,
                needs_vpc,
            } => r.service(name, pinned.as_deref(), *needs_vpc).await,
            GcpCheck::Schedule { job, location } => r.schedule(job, location).await,
        };
        let mut check = match found.status {
            ReadinessStatus::Pass => Check::pass(found.summary),
            ReadinessStatus::Fail => Check::fail(found.summary),
            // Could not tell: a failure, never a pass.
            ReadinessStatus::Unknown => Check::error(found.summary),
        };
        check.evidence = found.details;
        check
    }
}

/// Fills `{env}`, `{gcp_project}` and `{region}`.
fn fill(text: &str, env: &Environment, project: &str) -> String {
    text.replace("{env}", &env.name)
        .replace("{gcp_project}", project)
        .replace("{region}", env.region.as_deref().unwrap_or(""))
}

impl Platform {
    /// The `gcp.*` readiness probes for `env`: none when the environment
    /// has no GCP project. `images` (image name → pinned reference) adds
    /// `gcp.image.<service>` checks that the deployed image is the pin.
    pub fn gcp_specs(
        &self,
        env: &Environment,
        images: &BTreeMap<String, String>,
    ) -> Vec<ProbeSpec> {
        let Some(project) = env.gcp_project.as_deref() else {
            return Vec::new();
        };
        let gcp = &self.config.gcp;
        let readiness = Readiness::new(
            ClientOptions::from_env(),
            ReadinessOptions {
                project: project.to_string(),
                // Checks that need a region are unresolved without one (below).
                region: env.region.clone().unwrap_or_default(),
            },
        );
        let mut specs = Vec::new();
        let mut add = |name: String, check: Result<GcpCheck, String>| {
            let probe: Arc<dyn Probe> = match check {
                Ok(check) => Arc::new(GcpProbe {
                    readiness: readiness.clone(),
                    check,
                }),
                // Still runs, as an error, so the gate fails closed.
                Err(reason) => Arc::new(crate::probes::Unresolved {
                    kind: "gcp",
                    reason,
                }),
            };
            specs.push(ProbeSpec {
                name,
                severity: preflight_verify::Severity::Hard,
                timeout: GCP_PROBE_TIMEOUT,
                retry: RetryPolicy::none(),
                probe,
            });
        };
        if !gcp.apis.is_empty() {
            add("gcp.apis".into(), Ok(GcpCheck::Apis(gcp.apis.clone())));
        }
        if !gcp.permissions.is_empty() {
            add(
                "gcp.iam".into(),
                Ok(GcpCheck::Permissions(gcp.permissions.clone())),
            );
        }
        if let Some(instance) = &gcp.sql_instance {
            add(
                "gcp.sql".into(),
                Ok(GcpCheck::Sql {
                    instance: fill(instance, env, project),
                    databases: env.databases.keys().cloned().collect(),
                }),
            );
        }
        let mut buckets: Vec<String> = gcp.buckets.iter().map(|b| fill(b, env, project)).collect();
        if let Some(artifacts) = env.artifacts.as_deref()
            && let Ok(location) = preflight_gcp::GcsLocation::parse(artifacts)
            && !buckets.contains(&location.bucket)
        {
            buckets.push(location.bucket);
        }
        for bucket in buckets {
            add(format!("gcp.bucket.{bucket}"), Ok(GcpCheck::Bucket(bucket)));
        }
        for mapping in &gcp.secrets {
            let path = self.root().join(&mapping.env_example);
            let check = EnvFile::load(&path)
                .map_err(|e| error_text(&e))
                .map(|file| GcpCheck::Secrets {
                    module: mapping.module.clone(),
                    expected: file
                        .keys
                        .keys()
                        .filter(|k| !mapping.ignore.contains(k))
                        .map(|k| {
                            let id = secret_id_for(
                                &mapping.name,
                                &mapping.module,
                                k,
                                &env.name,
                                project,
                            );
                            (k.clone(), id)
                        })
                        .collect(),
                });
            add(format!("gcp.secrets.{}", mapping.module), check);
        }
        // A Cloud Run service is found by the environment's region, a
        // schedule by its own location or that region: never a guessed one.
        let located =
            |location: Option<&String>, what: &str, check: &dyn Fn(String) -> GcpCheck| {
                location
                    .or(env.region.as_ref())
                    .map(|l| check(l.clone()))
                    .ok_or_else(|| {
                        format!(
                            "`{}` has no region, so the {what} cannot be found",
                            env.name
                        )
                    })
            };
        let service = |name: &str, pinned: Option<&String>, needs_vpc: bool| {
            located(None, &format!("Cloud Run service {name}"), &|_| {
                GcpCheck::Service {
                    name: name.to_string(),
                    pinned: pinned.cloned(),
                    needs_vpc,
                }
            })
        };
        for (name, wanted) in &gcp.services {
            if wanted.redis {
                add(format!("gcp.vpc.{name}"), service(name, None, true));
            }
            if let Some(pinned) = images.get(&wanted.image) {
                add(
                    format!("gcp.image.{name}"),
                    service(name, Some(pinned), false),
                );
            }
        }
        // What the freeze will stop exists and can be read.
        for target in &gcp.freeze {
            match target {
                FreezeTarget::Service(name) => {
                    add(format!("gcp.freeze.{name}"), service(name, None, false));
                }
                FreezeTarget::Schedule { job, location } => add(
                    format!("gcp.freeze.{job}"),
                    located(location.as_ref(), &target.to_string(), &|location| {
                        GcpCheck::Schedule {
                            job: job.clone(),
                            location,
                        }
                    }),
                ),
            }
        }
        specs
    }
}

/// The value of a Secret Manager reference (a database URL), read at run time.
pub(crate) async fn resolve_secret(reference: &SecretRef) -> Result<String, Error> {
    let read = async {
        let resolver = SecretResolver::connect(&ClientOptions::from_env()).await?;
        let value = resolver.resolve(reference).await?;
        Ok::<_, preflight_gcp::Error>(value.expose().to_string())
    };
    read.await.map_err(|source| Error::Gcp {
        what: format!("cannot resolve {reference}"),
        source: Box::new(source),
    })
}

/// A Cloud Storage artifact store for `gs://bucket/prefix`.
pub(crate) async fn gcs_store(location: &str) -> Result<GcsStore, Error> {
    GcsStore::connect(location, &ClientOptions::from_env())
        .await
        .map_err(|source| Error::Gcp {
            what: format!("cannot open the artifact store {location}"),
            source: Box::new(source),
        })
}
