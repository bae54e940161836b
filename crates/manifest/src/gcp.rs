//! The `gcp:` section of `preflight.yaml`: what a Google Cloud environment
//! must have before a release (APIs, IAM permissions, buckets, the Cloud SQL
//! instance, secrets for every `.env.example` key), the Cloud Run services
//! and jobs the manifest's images run in, and the Cloud Build trigger.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::diagnostic::{Code, Pos, Sink};
use crate::reader::{self, Fields};
use crate::yaml::{Node, Value};

pub(crate) const GCP_KEYS: &[&str] = &[
    "apis",
    "permissions",
    "buckets",
    "sql_instance",
    "services",
    "jobs",
    "secrets",
    "build",
    "rollout",
    "freeze",
];
pub(crate) const SERVICE_KEYS: &[&str] = &[
    "image",
    "redis",
    "worker",
    "service_account",
    "network",
    "subnet",
];
pub(crate) const ROLLOUT_KEYS: &[&str] = &["canary_percent", "then", "timeout_secs"];
pub(crate) const JOB_KEYS: &[&str] = &["image", "module", "args", "env", "timeout_secs"];
pub(crate) const SECRETS_KEYS: &[&str] = &["module", "env_example", "name", "ignore"];
pub(crate) const BUILD_KEYS: &[&str] = &["trigger", "branch", "timeout_secs"];
pub(crate) const FREEZE_KEYS: &[&str] = &["service", "schedule", "location"];
/// Placeholders `buckets`, `sql_instance` and secret `name`s may use.
pub const GCP_PLACEHOLDERS: &[&str] = &["env", "gcp_project", "region", "module", "key"];

/// What Preflight checks and drives in a Google Cloud environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GcpConfig {
    /// Services that must be enabled, e.g. `run.googleapis.com`.
    pub apis: Vec<String>,
    /// IAM permissions the caller must hold on the project, e.g. `run.jobs.run`.
    pub permissions: Vec<String>,
    /// Buckets that must exist with a lifecycle policy (`{gcp_project}`, `{env}`).
    pub buckets: Vec<String>,
    /// The Cloud SQL instance holding the platform's databases.
    pub sql_instance: Option<String>,
    /// Cloud Run service name → what it must run.
    pub services: BTreeMap<String, RunService>,
    /// Cloud Run job name → its image and default overrides.
    pub jobs: BTreeMap<String, RunJob>,
    /// `.env.example` files whose keys must each have a secret.
    pub secrets: Vec<SecretMapping>,
    pub build: Option<BuildTrigger>,
    /// What the freeze stops through Google's APIs (worker services scaled
    /// to zero, schedules paused) and the unfreeze puts back as it was.
    pub freeze: Vec<FreezeTarget>,
    /// When set, the deploy phase rolls each service in `services` out to
    /// its pinned image through the Cloud Run Admin API, a canary first.
    pub rollout: Option<RolloutPolicy>,
}

/// One thing the freeze stops and the unfreeze puts back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FreezeTarget {
    /// A Cloud Run worker service, scaled to zero instances (manual
    /// scaling) and then given its own scaling back.
    Service(String),
    /// A Cloud Scheduler job (the schedule that starts a Cloud Run job),
    /// paused and then resumed if it was enabled.
    Schedule {
        /// The job's id.
        job: String,
        /// Its Cloud Scheduler location; the environment's region when unset.
        location: Option<String>,
    },
}

impl std::fmt::Display for FreezeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FreezeTarget::Service(name) => write!(f, "Cloud Run service {name}"),
            FreezeTarget::Schedule { job, .. } => write!(f, "Cloud Scheduler job {job}"),
        }
    }
}

/// How a release rolls a Cloud Run service out: a new revision tagged with
/// the release gets `canary_percent` of the traffic, the smoke probes call
/// it on its own URL, and it gets everything only after smoke and watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutPolicy {
    /// The share of traffic the new revision gets first (1 to 100; 100
    /// means no canary).
    pub canary_percent: u8,
    /// The shares it moves to next, each after a watch window that passed
    /// (increasing, above `canary_percent`, below 100); all the traffic
    /// comes after the last.
    pub then: Vec<u8>,
    /// How long each update of a service may take.
    pub timeout_secs: u64,
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        RolloutPolicy {
            canary_percent: 10,
            then: Vec::new(),
            timeout_secs: 900,
        }
    }
}

/// A Cloud Run service: the manifest image it must run and whether it talks
/// to Redis (then it needs VPC egress to private ranges).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunService {
    /// A key of the manifest's `images`.
    pub image: String,
    pub redis: bool,
    /// It serves no requests (a queue worker): its new revision gets all
    /// the traffic at once, and the watch reads no request metrics of it.
    pub worker: bool,
    /// The service account its revisions must run as (`{gcp_project}` and
    /// `{env}` are filled).
    pub service_account: Option<String>,
    /// Direct VPC egress (`network`, `subnet`) its revisions deploy with.
    pub network: Option<(String, String)>,
}

/// A Cloud Run job, e.g. the migration job `mobius-chat-migrate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunJob {
    /// A key of the manifest's `images` the job must run, if any.
    pub image: Option<String>,
    /// The module whose migrations the job runs: in a Google Cloud
    /// environment the migrate phase runs the job for it (after checking
    /// the job's image is the pin) instead of migrating from here.
    pub module: Option<String>,
    /// Container argument overrides for each execution.
    pub args: Vec<String>,
    /// Environment overrides for each execution (values are not secrets:
    /// secrets belong in Secret Manager references on the job itself).
    pub env: BTreeMap<String, String>,
    pub timeout_secs: Option<u64>,
}

/// "Map .env keys → Secret Manager entries": every key of `env_example`
/// must have a secret named by `name` (default `{module}-{key}`, where
/// `{key}` is the key in lower case with `_` as `-`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMapping {
    pub module: String,
    /// Relative to the config's folder.
    pub env_example: PathBuf,
    pub name: String,
    /// Keys that are settings, not secrets.
    pub ignore: Vec<String>,
}

/// The Cloud Build trigger a release runs, with `_RELEASE_MANIFEST` set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildTrigger {
    /// Trigger name or id.
    pub trigger: String,
    /// The branch the trigger builds from (default `main`); the commits
    /// come from the manifest, which the build checks out.
    pub branch: String,
    pub timeout_secs: u64,
}

impl GcpConfig {
    /// Whether anything here needs a Google Cloud project.
    pub fn is_empty(&self) -> bool {
        *self == GcpConfig::default()
    }
}

pub(crate) fn gcp(
    sink: &mut Sink<'_>,
    node: &Node,
    module_names: &[&str],
    image_names: &[&str],
) -> GcpConfig {
    let mut config = GcpConfig::default();
    let Some(f) = reader::fields(sink, node, "`gcp`", GCP_KEYS, &[]) else {
        return config;
    };
    // Each problem is reported at the list item it is about.
    let apis = list(sink, &f, "apis");
    for (api, pos) in &apis {
        if !api.ends_with(".googleapis.com") {
            sink.error(
                *pos,
                Code::InvalidValue,
                format!("`{api}` is not a service name"),
            )
            .hint("services are named like `run.googleapis.com`");
        }
    }
    let permissions = list(sink, &f, "permissions");
    for (permission, pos) in &permissions {
        if permission.split('.').count() < 3 {
            sink.error(
                *pos,
                Code::InvalidValue,
                format!("`{permission}` is not an IAM permission"),
            )
            .hint("permissions look like `run.jobs.run`; roles are not accepted here");
        }
    }
    let buckets = list(sink, &f, "buckets");
    for (bucket, pos) in &buckets {
        check_placeholders(
            sink,
            *pos,
            "buckets",
            bucket,
            &["env", "gcp_project", "region"],
        );
    }
    config.apis = apis.into_iter().map(|(s, _)| s).collect();
    config.permissions = permissions.into_iter().map(|(s, _)| s).collect();
    config.buckets = buckets.into_iter().map(|(s, _)| s).collect();
    if let Some(n) = f.get("sql_instance") {
        config.sql_instance = reader::nonempty_string(sink, n, "`sql_instance`");
        if let Some(text) = &config.sql_instance {
            check_placeholders(sink, n.pos, "sql_instance", text, &["env", "gcp_project"]);
        }
    }
    if let Some(node) = f.get("services")
        && let Some(entries) = reader::mapping(sink, node, "`gcp.services`")
    {
        for (key, value) in entries {
            let Some(name) = reader::key_text(sink, key) else {
                continue;
            };
            let Some(s) = reader::fields(sink, value, "a Cloud Run service", SERVICE_KEYS, &[])
            else {
                continue;
            };
            // The image defaults to the service's own name.
            let image = s
                .get("image")
                .and_then(|n| reader::nonempty_string(sink, n, "`image`"))
                .unwrap_or_else(|| name.clone());
            known_image(sink, s.get("image").unwrap_or(key), &image, image_names);
            let redis = s.get("redis").is_some_and(|n| boolean(sink, n, "`redis`"));
            let worker = s
                .get("worker")
                .is_some_and(|n| boolean(sink, n, "`worker`"));
            let text = |sink: &mut Sink<'_>, key: &str| {
                s.get(key)
                    .and_then(|n| reader::nonempty_string(sink, n, &format!("`{key}`")))
            };
            let service_account = text(sink, "service_account");
            if let (Some(account), Some(n)) = (&service_account, s.get("service_account")) {
                check_placeholders(
                    sink,
                    n.pos,
                    "service_account",
                    account,
                    &["env", "gcp_project"],
                );
            }
            if let (Some(account), Some(n)) = (&service_account, s.get("service_account"))
                && !(account.contains('@') && account.ends_with(".gserviceaccount.com"))
            {
                sink.error(
                    n.pos,
                    Code::InvalidValue,
                    format!("`{account}` is not a service account's email"),
                )
                .hint("service accounts look like `NAME@PROJECT.iam.gserviceaccount.com`");
            }
            let network = text(sink, "network");
            let subnet = text(sink, "subnet");
            let network = match (network, subnet) {
                (Some(n), Some(s)) => Some((n, s)),
                // As `gcloud run deploy --network N` does: the subnet of the same name.
                (Some(n), None) => Some((n.clone(), n)),
                (None, Some(_)) => {
                    if let Some(n) = s.get("subnet") {
                        sink.error(n.pos, Code::InvalidValue, "`subnet` without `network`")
                            .hint("name the VPC network the subnet belongs to");
                    }
                    None
                }
                (None, None) => None,
            };
            config.services.insert(
                name,
                RunService {
                    image,
                    redis,
                    worker,
                    service_account,
                    network,
                },
            );
        }
    }
    if let Some(node) = f.get("jobs")
        && let Some(entries) = reader::mapping(sink, node, "`gcp.jobs`")
    {
        for (key, value) in entries {
            let Some(name) = reader::key_text(sink, key) else {
                continue;
            };
            let Some(j) = reader::fields(sink, value, "a Cloud Run job", JOB_KEYS, &[]) else {
                continue;
            };
            let image = j
                .get("image")
                .and_then(|n| reader::nonempty_string(sink, n, "`image`"));
            if let (Some(image), Some(n)) = (&image, j.get("image")) {
                known_image(sink, n, image, image_names);
            }
            let module = j
                .get("module")
                .and_then(|n| reader::nonempty_string(sink, n, "`module`"));
            if let (Some(m), Some(n)) = (&module, j.get("module")) {
                crate::config::reference(sink, n, m, module_names, "module", "modules");
                if image.is_none() {
                    sink.error(
                        n.pos,
                        Code::MissingKey,
                        format!("the migration job `{name}` names no `image`"),
                    )
                    .hint("the release checks the job runs the manifest's pin of this image before it runs the job");
                }
            }
            let args = j
                .get("args")
                .and_then(|n| reader::string_list(sink, n, "`args`", false))
                .unwrap_or_default()
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            let mut env = BTreeMap::new();
            if let Some(n) = j.get("env")
                && let Some(entries) = reader::mapping(sink, n, "`env`")
            {
                for (k, v) in entries {
                    if let (Some(k), Some(v)) = (
                        reader::key_text(sink, k),
                        reader::string(sink, v, "an env value"),
                    ) {
                        env.insert(k, v);
                    }
                }
            }
            let timeout_secs = j
                .get("timeout_secs")
                .and_then(|n| reader::positive_int(sink, n, "`timeout_secs`", false));
            config.jobs.insert(
                name,
                RunJob {
                    image,
                    module,
                    args,
                    env,
                    timeout_secs,
                },
            );
        }
    }
    if let Some(node) = f.get("secrets") {
        for item in reader::items(sink, node, "`secrets` to be a list") {
            if let Some(s) = reader::fields(
                sink,
                item,
                "a secret mapping",
                SECRETS_KEYS,
                &["module", "env_example"],
            ) && let Some(m) = secret_mapping(sink, &s, module_names)
            {
                config.secrets.push(m);
            }
        }
    }
    if let Some(node) = f.get("build")
        && let Some(b) = reader::fields(sink, node, "`gcp.build`", BUILD_KEYS, &["trigger"])
        && let Some(trigger) = b
            .get("trigger")
            .and_then(|n| reader::nonempty_string(sink, n, "`trigger`"))
    {
        let timeout_secs = b
            .get("timeout_secs")
            .and_then(|n| reader::positive_int(sink, n, "`timeout_secs`", false))
            .unwrap_or(3600);
        let branch = b
            .get("branch")
            .and_then(|n| reader::nonempty_string(sink, n, "`branch`"))
            .unwrap_or_else(|| "main".to_string());
        config.build = Some(BuildTrigger {
            trigger,
            branch,
            timeout_secs,
        });
    }
    if let Some(node) = f.get("freeze") {
        config.freeze = freeze(sink, node);
    }
    if let Some(node) = f.get("rollout")
        && let Some(r) = reader::fields(sink, node, "`gcp.rollout`", ROLLOUT_KEYS, &[])
    {
        let policy = config.rollout.insert(RolloutPolicy::default());
        if let Some(n) = r.get("canary_percent")
            && let Some(p) = reader::positive_int(sink, n, "`canary_percent`", false)
        {
            match u8::try_from(p).ok().filter(|p| *p <= 100) {
                Some(p) => policy.canary_percent = p,
                None => {
                    sink.error(
                        n.pos,
                        Code::InvalidValue,
                        format!("`canary_percent` is {p}, above 100"),
                    )
                    .hint("the share of traffic the new revision gets first, 1 to 100");
                }
            }
        }
        if let Some(t) = r
            .get("timeout_secs")
            .and_then(|n| reader::positive_int(sink, n, "`timeout_secs`", false))
        {
            policy.timeout_secs = t;
        }
        if let Some(n) = r.get("then") {
            let mut last = policy.canary_percent;
            for item in reader::items(sink, n, "`then` to be a list of percentages") {
                let Some(p) = reader::positive_int(sink, item, "a share", false) else {
                    continue;
                };
                match u8::try_from(p).ok().filter(|p| *p > last && *p < 100) {
                    Some(p) => {
                        policy.then.push(p);
                        last = p;
                    }
                    None if p >= 100 => {
                        sink.error(
                            item.pos,
                            Code::InvalidValue,
                            format!("the share {p} % is not below 100 %"),
                        )
                        .hint("all the traffic comes last by itself, after the last watch window");
                    }
                    None => {
                        sink.error(
                            item.pos,
                            Code::InvalidValue,
                            format!("the share {p} % is not above {last} %, the one before it"),
                        )
                        .hint("the shares increase, the first above `canary_percent`");
                    }
                }
            }
        }
    }
    config
}

/// `freeze:`: a list of service names, `{service: NAME}` or
/// `{schedule: JOB, location: REGION}`.
fn freeze(sink: &mut Sink<'_>, node: &Node) -> Vec<FreezeTarget> {
    let items = reader::items(sink, node, "`freeze` to be a list");
    let mut targets = Vec::new();
    for item in items {
        if let Value::Str(name) = &item.value {
            if cloud_run_name(sink, item.pos, name) {
                targets.push(FreezeTarget::Service(name.clone()));
            }
            continue;
        }
        let Some(f) = reader::fields(sink, item, "a freeze entry", FREEZE_KEYS, &[]) else {
            continue;
        };
        let text = |sink: &mut Sink<'_>, key: &str| {
            f.get(key).and_then(|n| {
                reader::nonempty_string(sink, n, &format!("`{key}`")).map(|s| (s, n.pos))
            })
        };
        let service = text(sink, "service");
        let schedule = text(sink, "schedule");
        let location = text(sink, "location");
        match (service, schedule) {
            (Some((name, pos)), None) => {
                if let Some((_, pos)) = &location {
                    sink.error(*pos, Code::InvalidValue, "`location` is for a `schedule`")
                        .hint("a service is in the environment's region");
                } else if cloud_run_name(sink, pos, &name) {
                    targets.push(FreezeTarget::Service(name));
                }
            }
            (None, Some((job, pos))) => {
                let id = |s: &str| {
                    s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                };
                if !id(&job) {
                    sink.error(
                        pos,
                        Code::InvalidValue,
                        format!("`{job}` is not a Cloud Scheduler job id"),
                    )
                    .hint("job ids are letters, digits, `-` and `_`");
                    continue;
                }
                if let Some((location, pos)) = &location
                    && !location
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    sink.error(
                        *pos,
                        Code::InvalidValue,
                        format!("`{location}` is not a Google Cloud location"),
                    )
                    .hint("locations look like `us-central1`");
                    continue;
                }
                targets.push(FreezeTarget::Schedule {
                    job,
                    location: location.map(|(l, _)| l),
                });
            }
            (Some(_), Some((_, pos))) => {
                sink.error(
                    pos,
                    Code::InvalidValue,
                    "a freeze entry names a `service` or a `schedule`, not both",
                )
                .hint("write them as two entries");
            }
            (None, None) => {
                sink.error(item.pos, Code::MissingKey, "a freeze entry names nothing")
                    .hint("write `service: NAME` or `schedule: JOB`");
            }
        }
    }
    targets
}

/// Whether `name` can be a Cloud Run service's name (reported if not).
fn cloud_run_name(sink: &mut Sink<'_>, pos: Pos, name: &str) -> bool {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        sink.error(
            pos,
            Code::InvalidValue,
            format!("`{name}` is not a Cloud Run service name"),
        )
        .hint("service names are lower-case letters, digits and `-`");
    }
    ok
}

fn secret_mapping(
    sink: &mut Sink<'_>,
    f: &Fields<'_>,
    module_names: &[&str],
) -> Option<SecretMapping> {
    let module_node = f.get("module")?;
    let module = reader::nonempty_string(sink, module_node, "`module`")?;
    crate::config::reference(
        sink,
        module_node,
        &module,
        module_names,
        "module",
        "modules",
    );
    let env_example = reader::nonempty_string(sink, f.get("env_example")?, "`env_example`")?;
    let name = f
        .get("name")
        .and_then(|n| reader::nonempty_string(sink, n, "`name`"))
        .unwrap_or_else(|| "{module}-{key}".to_string());
    let name_pos = f.get("name").map_or(f.pos, |n| n.pos);
    check_placeholders(sink, name_pos, "name", &name, GCP_PLACEHOLDERS);
    let ignore = f
        .get("ignore")
        .and_then(|n| reader::string_list(sink, n, "`ignore`", false))
        .unwrap_or_default()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    Some(SecretMapping {
        module,
        env_example: PathBuf::from(env_example),
        name,
        ignore,
    })
}

fn list(sink: &mut Sink<'_>, f: &Fields<'_>, key: &str) -> Vec<(String, Pos)> {
    f.get(key)
        .and_then(|n| reader::string_list(sink, n, &format!("`{key}`"), false))
        .unwrap_or_default()
}

fn boolean(sink: &mut Sink<'_>, node: &Node, what: &str) -> bool {
    match &node.value {
        Value::Bool(b) => *b,
        other => {
            sink.error(
                node.pos,
                Code::WrongType,
                format!(
                    "expected {what} to be true or false, found {}",
                    other.kind()
                ),
            );
            false
        }
    }
}

fn known_image(sink: &mut Sink<'_>, node: &Node, image: &str, image_names: &[&str]) {
    crate::config::reference(sink, node, image, image_names, "image", "modules.*.images");
}

fn check_placeholders(sink: &mut Sink<'_>, pos: Pos, key: &str, text: &str, known: &[&str]) {
    for placeholder in crate::release::placeholders(text) {
        if !known.contains(&placeholder) {
            sink.error(
                pos,
                Code::InvalidValue,
                format!("unknown placeholder `{{{placeholder}}}` in `{key}`"),
            )
            .hint(format!(
                "known: {}",
                known
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
}
