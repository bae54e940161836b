//! What `preflight.yaml` and release manifests may say, as raw serde types
//! (the file's shape, no meaning): the source of the JSON Schemas editors
//! use (`preflight schema config|manifest`, `schemas/`) and of the
//! configuration reference (`docs/configuration.md`).
//!
//! Validation itself is the span-keeping reader's ([`Config::load`](crate::Config::load)),
//! which names line and column; tests keep the two in lockstep: every key
//! the reader accepts is here and nothing else is, and every example file
//! deserializes through these types.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Deserialize;

/// A Preflight platform config (`preflight.yaml`): the platform's modules,
/// databases, environments, gates, probes, release steps and Google Cloud
/// resources. Every release manifest runs against it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Preflight platform config")]
pub struct RawConfig {
    /// The platform's name, e.g. `mobius`; shown in every release log.
    pub platform: String,
    /// The folder of release manifests, relative to this file (default `release-manifests`).
    pub manifests: Option<String>,
    /// The production checklist the release ticks and gates on.
    pub checklist: Option<RawChecklist>,
    /// Databases by name; modules and environments refer to them.
    #[serde(default)]
    pub databases: BTreeMap<String, Option<RawDatabase>>,
    /// The platform's repositories by name: what each builds and migrates.
    /// A manifest pins a commit for every module.
    pub modules: BTreeMap<String, Option<RawModule>>,
    /// Where each release can go, by name (`local` rehearses on the
    /// project's own PostgreSQL cluster).
    #[serde(default)]
    pub environments: BTreeMap<String, Option<RawEnvironment>>,
    /// Test suites run in the hard and soft gate phases (B3 phases 1 and 2).
    #[serde(default)]
    pub gates: Vec<RawGate>,
    /// Checks for `preflight verify` and the release's verify, smoke and watch phases.
    #[serde(default)]
    pub probes: Vec<RawProbe>,
    /// The release's command steps, watch window and notifications.
    pub release: Option<RawRelease>,
    /// Google Cloud resources a release needs (`preflight gcp doctor`).
    pub gcp: Option<RawGcp>,
}

/// The production checklist and what the pipeline ticks itself.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawChecklist {
    /// The Markdown checklist, relative to the config.
    pub file: String,
    /// Sections that must be complete before the build (`1-5`, `1,2,5`, `all`).
    pub before_build: Option<String>,
    /// Items the release checks with a step's evidence.
    #[serde(default)]
    pub bindings: Vec<RawBinding>,
}

/// One checklist item bound to one release step (give exactly one of
/// `phase`, `probe`, `migration`, `gate`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBinding {
    /// The item's id, e.g. `"3.1"` (section, position).
    pub item: String,
    /// A whole phase: checked when it passes.
    pub phase: Option<crate::Phase>,
    /// A probe by name.
    pub probe: Option<String>,
    /// A module whose migrations reach the manifest's pin.
    pub migration: Option<String>,
    /// A gate by name.
    pub gate: Option<String>,
}

/// A database.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// Extensions it must have, e.g. `[vector]`.
    #[serde(default)]
    pub extensions: Vec<String>,
}

/// A module: one repository of the platform.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawModule {
    /// The checkout's folder, relative to the config (default: the module's name).
    pub repo: Option<String>,
    /// The branch a pinned commit must be on (default `main`).
    pub branch: Option<String>,
    /// The database its migrations run on.
    pub database: Option<String>,
    /// The images it builds; a manifest pins a tag for each.
    #[serde(default)]
    pub images: Vec<String>,
    /// Its migrations.
    pub migrations: Option<RawMigrations>,
}

/// Where a module's migrations are and which flavour they are.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMigrations {
    /// The flavour.
    pub kind: crate::MigrationKind,
    /// The folder, relative to the module's repo (defaults: `migrations`,
    /// `supabase/migrations`, `migrations/versions`, `app/migrations`).
    pub dir: Option<String>,
    /// Alembic only: several versions folders (instead of `dir`).
    pub dirs: Option<Vec<String>>,
    /// Alembic only: read the versions folders' subfolders too.
    pub recursive: Option<bool>,
    /// `python` only: the program that runs one migration (default `python -m`).
    pub command: Option<Vec<String>>,
    /// Schemas or `schema.object`s the drift check leaves alone.
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// An environment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    /// The Google Cloud project id.
    pub gcp_project: Option<String>,
    /// The Google Cloud region, e.g. `us-central1`.
    pub region: Option<String>,
    /// The image registry prefix, e.g. `gcr.io/mobius-prod`; pinned images must be under it.
    pub registry: Option<String>,
    /// Service base URLs by name, for probes' `{services.NAME}`.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// How to reach each database: `local`, `env:VAR`,
    /// `secret://projects/P/secrets/NAME[/versions/V]`, or a URL.
    #[serde(default)]
    pub databases: BTreeMap<String, String>,
    /// Backups and release logs: `gs://bucket/prefix` or a folder
    /// (default `.preflight/artifacts/<env>`).
    pub artifacts: Option<String>,
    /// Operators cannot skip the hard gate or the backup here.
    pub protected: Option<bool>,
    /// Whether pinned checkouts must be verified.
    pub checkout: Option<crate::CheckoutPolicy>,
    /// What schema drift (a manual change) does to a release.
    pub drift: Option<crate::DriftPolicy>,
    /// Migration lint policy.
    pub lint: Option<RawLint>,
}

/// Migration lint policy.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLint {
    /// squawk rule names that stop the release; every other rule warns.
    #[serde(default)]
    pub block: Vec<String>,
}

/// A test suite run as a gate.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    /// Its name, for logs and checklist bindings.
    pub name: String,
    /// The program and its arguments (never a shell string).
    pub command: Vec<String>,
    /// The folder it runs in, relative to the config.
    pub dir: Option<String>,
    /// `hard` gates run in the hard-gate phase and stop the release; `soft` ones warn.
    pub severity: Option<crate::config::Severity>,
    /// Environments it runs in (default: all).
    #[serde(default)]
    pub envs: Vec<String>,
    /// Seconds before it is stopped and fails.
    pub timeout_secs: Option<u64>,
}

/// A probe kind.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawProbeKind {
    /// One HTTP request (`url`, `method`, `headers`, `body`, `expect_status`,
    /// `body_contains`, `body_regex`, `json`, `max_latency_ms`).
    Http,
    /// A request, then polling a URL until a condition (`capture`,
    /// `poll_url`, `until`, `fail_when`, `interval_ms`).
    Poll,
    /// A database contract (`database`, `contract`).
    Postgres,
    /// A command's exit status (`command`, `dir`, `env`, `expect_exit`).
    Command,
    /// A `.env` against its example (`example`, `actual`).
    EnvParity,
    /// A TCP connection (`address`).
    Tcp,
    /// A dbt `run_results.json` (`run_results`).
    Dbt,
}

/// A probe. Which keys apply depends on `kind`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    /// Its name, for `--only`, reports and bindings.
    pub name: String,
    /// What it checks.
    pub kind: RawProbeKind,
    /// The module it belongs to.
    pub module: Option<String>,
    /// Environments it runs in (default: all).
    #[serde(default)]
    pub envs: Vec<String>,
    /// `verify` (after migrating) or `smoke` (after deploying); default
    /// `smoke` for http and poll, `verify` otherwise.
    pub phase: Option<crate::ProbePhase>,
    /// Whether a failure stops the release (default `hard`).
    pub severity: Option<crate::config::Severity>,
    /// Seconds before it fails.
    pub timeout_secs: Option<u64>,
    /// Attempts after the first, with backoff.
    pub retries: Option<u32>,
    /// http, poll: the URL (`{services.NAME}` allowed).
    pub url: Option<String>,
    /// http, poll: the method (default GET).
    pub method: Option<String>,
    /// http, poll: headers; a value `env:VAR` is read from the environment and never shown.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// http, poll: the request body.
    pub body: Option<String>,
    /// http, poll: accepted statuses (default 2xx).
    pub expect_status: Option<RawStatuses>,
    /// http: text the body must contain.
    pub body_contains: Option<String>,
    /// http: a regex the body must match.
    pub body_regex: Option<String>,
    /// http: JSON pointer → expected value.
    #[serde(default)]
    pub json: BTreeMap<String, serde_json::Value>,
    /// http: the slowest acceptable answer.
    pub max_latency_ms: Option<u64>,
    /// poll: a JSON pointer into the first answer, for `{captured}`.
    pub capture: Option<String>,
    /// poll: the URL polled.
    pub poll_url: Option<String>,
    /// poll: JSON pointer → value that ends polling with a pass.
    #[serde(default)]
    pub until: BTreeMap<String, serde_json::Value>,
    /// poll: JSON pointer → value that ends polling with a failure.
    #[serde(default)]
    pub fail_when: BTreeMap<String, serde_json::Value>,
    /// poll: milliseconds between polls.
    pub interval_ms: Option<u64>,
    /// postgres: the database.
    pub database: Option<String>,
    /// postgres: the contract file, relative to the config.
    pub contract: Option<String>,
    /// command: the program and its arguments.
    pub command: Option<Vec<String>>,
    /// command: the folder it runs in.
    pub dir: Option<String>,
    /// command: extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// command: the expected exit status (default 0).
    pub expect_exit: Option<u32>,
    /// env_parity: the example file.
    pub example: Option<String>,
    /// env_parity: the actual file.
    pub actual: Option<String>,
    /// tcp: `host:port`.
    pub address: Option<String>,
    /// dbt: the `run_results.json` file.
    pub run_results: Option<String>,
}

/// One status or a list of them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawStatuses {
    /// One status.
    One(u16),
    /// Any of these.
    Many(Vec<u16>),
}

/// The release's command steps, watch window and notifications.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRelease {
    /// Where release logs are written (default `docs/release_logs`).
    pub log_dir: Option<String>,
    /// Steps that stop workers before migrating.
    #[serde(default)]
    pub freeze: Vec<RawStep>,
    /// Steps that deploy.
    #[serde(default)]
    pub deploy: Vec<RawStep>,
    /// Steps that start workers again (also after a failure).
    #[serde(default)]
    pub unfreeze: Vec<RawStep>,
    /// Smoke probes again, every interval, for a window after deploying.
    pub watch: Option<RawWatch>,
    /// Where release events are sent.
    pub notify: Option<RawNotify>,
}

/// A command step. Placeholders (`{gcp_project}`, `{region}`, `{env}`,
/// `{release_id}`, `{image:NAME}`, …) fill whole arguments, never shell text.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Its name.
    pub name: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The folder it runs in.
    pub dir: Option<String>,
    /// Environments it runs in (default: all).
    #[serde(default)]
    pub envs: Vec<String>,
    /// Seconds before it is stopped and fails.
    pub timeout_secs: Option<u64>,
}

/// The watch window.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWatch {
    /// Environments it applies to (default: all).
    #[serde(default)]
    pub envs: Vec<String>,
    /// Seconds between rounds (default 60).
    pub interval_secs: Option<u64>,
    /// How long to watch, in seconds.
    pub window_secs: u64,
    /// Per environment: Cloud Monitoring limits on each canary revision, checked every round.
    #[serde(default)]
    pub metrics: BTreeMap<String, RawMetrics>,
}

/// What a new revision may serve during the watch (Cloud Monitoring).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// The most requests answered 5xx, in percent of all (`run.googleapis.com/request_count`).
    pub max_5xx_percent: Option<f64>,
    /// The highest 95th-percentile latency in milliseconds (`run.googleapis.com/request_latencies`).
    pub max_p95_latency_ms: Option<u64>,
    /// Requests a canary must have served since the watch began for its figures to be judged (default 1): fewer is "not judged yet" before the last round, and a failure in the last.
    pub min_requests: Option<u64>,
}

/// Notifications.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// The webhook URL, or `env:VAR` to read it from the environment (never shown).
    pub webhook: Option<String>,
    /// A Pub/Sub topic (`projects/P/topics/T`) that gets the same events, with `event`, `release_id`, `env` and `status` attributes.
    pub pubsub: Option<String>,
    /// Environments that notify (default: all).
    #[serde(default)]
    pub envs: Vec<String>,
}

/// Google Cloud resources a release needs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGcp {
    /// Services that must be enabled, e.g. `run.googleapis.com`.
    #[serde(default)]
    pub apis: Vec<String>,
    /// IAM permissions the caller must hold, e.g. `run.jobs.run`.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Buckets that must exist (placeholders `{env}`, `{gcp_project}`, `{region}`).
    #[serde(default)]
    pub buckets: Vec<String>,
    /// The Cloud SQL instance (placeholders allowed).
    pub sql_instance: Option<String>,
    /// Cloud Run services by name.
    #[serde(default)]
    pub services: BTreeMap<String, Option<RawService>>,
    /// Cloud Run jobs by name (e.g. the migration job).
    #[serde(default)]
    pub jobs: BTreeMap<String, RawJob>,
    /// `.env.example` keys that must exist as secrets.
    #[serde(default)]
    pub secrets: Vec<RawSecrets>,
    /// The Cloud Build trigger of a release.
    pub build: Option<RawBuild>,
    /// Canary rollouts of the services in `services`.
    pub rollout: Option<RawRollout>,
    /// What the freeze stops and the unfreeze puts back: worker services scaled to zero (Cloud Run Admin API), schedules paused (Cloud Scheduler).
    #[serde(default)]
    pub freeze: Vec<RawFreeze>,
}

/// One thing the freeze stops.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawFreeze {
    /// A worker service's name, scaled to zero instances and back.
    Service(String),
    /// A service or a Cloud Scheduler job, named by kind.
    Entry(RawFreezeEntry),
}

/// A freeze entry naming its kind: `service: NAME` or `schedule: JOB`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFreezeEntry {
    /// A Cloud Run worker service, scaled to zero instances and back.
    pub service: Option<String>,
    /// A Cloud Scheduler job, paused and then resumed if it was enabled.
    pub schedule: Option<String>,
    /// The schedule's location (default: the environment's region).
    pub location: Option<String>,
}

/// A Cloud Run service.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// The image it runs (an image name of a module; default the service's name).
    pub image: Option<String>,
    /// It uses Redis, so it needs Direct VPC egress.
    pub redis: Option<bool>,
    /// It serves no requests (a queue worker): its new revision gets all the traffic at once and the watch reads no request metrics of it.
    pub worker: Option<bool>,
    /// The service account its revisions run as (`NAME@PROJECT.iam.gserviceaccount.com`).
    pub service_account: Option<String>,
    /// The VPC network of its Direct VPC egress (private ranges only).
    pub network: Option<String>,
    /// The subnet of that network (default: the network's name).
    pub subnet: Option<String>,
}

/// How the deploy phase rolls Cloud Run services out.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRollout {
    /// The share of traffic a new revision gets before smoke and watch pass (1 to 100; default 10).
    pub canary_percent: Option<u8>,
    /// The shares the canary moves to next, each after a watch window that passed, before it gets all the traffic (e.g. `[25, 50]`; increasing, above `canary_percent`, below 100).
    #[serde(default)]
    pub then: Vec<u8>,
    /// Seconds each update of a service may take (default 900).
    pub timeout_secs: Option<u64>,
}

/// A Cloud Run job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    /// The image it runs (an image name of a module).
    pub image: Option<String>,
    /// The module whose migrations it runs: the migrate phase of a Google Cloud environment runs this job for it.
    pub module: Option<String>,
    /// Arguments that override the job's.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables that override the job's.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Seconds to wait for its execution.
    pub timeout_secs: Option<u64>,
}

/// Secrets a module's `.env.example` needs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecrets {
    /// The module.
    pub module: String,
    /// Its `.env.example`, relative to the config.
    pub env_example: String,
    /// The secret's name pattern (placeholders `{key}`, `{module}`, `{env}`; default `{key}`).
    pub name: Option<String>,
    /// Keys that are not secrets.
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// The Cloud Build trigger of a release.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBuild {
    /// The trigger's name.
    pub trigger: String,
    /// The branch it builds from (default `main`).
    pub branch: Option<String>,
    /// Seconds to wait for the build.
    pub timeout_secs: Option<u64>,
}

/// A release manifest: what one release ships to one environment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Preflight release manifest")]
pub struct RawManifest {
    /// `YYYY-MM-DD-<env>`, e.g. `2026-02-14-prod`.
    pub release_id: String,
    /// One line for people.
    pub description: Option<String>,
    /// The commit (SHA) or tag each module ships, by module name.
    pub commits: BTreeMap<String, String>,
    /// The image each module builds, with its pinned tag or digest, by image name.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    /// The migration target per module: an Alembic revision, a version,
    /// or a list of `sql:`/`python:` entries.
    #[serde(default)]
    pub migrations: BTreeMap<String, RawMigrationPin>,
    /// Feature flags this release sets.
    #[serde(default)]
    pub feature_flags: BTreeMap<String, serde_json::Value>,
}

/// A module's migration target.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawMigrationPin {
    /// A revision or version.
    One(String),
    /// Script-list entries, `python:NAME` or `sql:PATH`.
    Many(Vec<String>),
}

/// The JSON Schema of `preflight.yaml`, pretty-printed.
pub fn config_schema() -> String {
    pretty(schemars::schema_for!(RawConfig))
}

/// The JSON Schema of release manifests, pretty-printed.
pub fn manifest_schema() -> String {
    pretty(schemars::schema_for!(RawManifest))
}

fn pretty(schema: schemars::Schema) -> String {
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// The configuration reference (`docs/configuration.md`), from the same
/// schemas: every key at every level with its type and description.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the schemas (`preflight schema config|manifest`, `schemas/`); \
         do not edit by hand: `scripts/schemas` writes this file and the schemas.\n\n\
         Editors that speak the YAML language server validate and complete a file \
         whose first line is\n\
         `# yaml-language-server: $schema=<path to schemas/preflight.schema.json>` \
         (or `release-manifest.schema.json`).\n",
    );
    for (title, schema) in [
        ("`preflight.yaml`", schemars::schema_for!(RawConfig)),
        ("Release manifests", schemars::schema_for!(RawManifest)),
    ] {
        let root = schema.as_value();
        let _ = write!(out, "\n## {title}\n\n");
        if let Some(d) = root.get("description").and_then(|d| d.as_str()) {
            let _ = writeln!(out, "{}\n", one_line(d));
        }
        let defs = root.get("$defs").cloned().unwrap_or_default();
        let mut seen = Vec::new();
        section(&mut out, "", root, &defs, &mut seen);
    }
    out
}

/// One table of an object's keys, then a section for each nested object.
fn section(
    out: &mut String,
    path: &str,
    object: &serde_json::Value,
    defs: &serde_json::Value,
    seen: &mut Vec<String>,
) {
    let Some(props) = object.get("properties").and_then(|p| p.as_object()) else {
        return;
    };
    let required: Vec<&str> = object
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let _ = writeln!(out, "| key | type | required | description |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    let mut nested = Vec::new();
    for (key, prop) in props {
        let (ty, target) = type_of(prop, defs);
        let description = prop
            .get("description")
            .and_then(|d| d.as_str())
            .map(one_line)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| `{key}` | {ty} | {} | {} |",
            if required.contains(&key.as_str()) {
                "yes"
            } else {
                ""
            },
            description.replace('|', "\\|")
        );
        if let Some((name, shape)) = target {
            nested.push((format!("{path}{key}{shape}"), name));
        }
    }
    // Keys of one type (`freeze`, `deploy`, `unfreeze`) share a section.
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for (child_path, def) in nested {
        match grouped.iter_mut().find(|(d, _)| *d == def) {
            Some((_, paths)) => paths.push(child_path),
            None => grouped.push((def, vec![child_path])),
        }
    }
    for (def, paths) in grouped {
        if seen.contains(&def) {
            continue;
        }
        seen.push(def.clone());
        let child_path = paths[0].clone();
        if let Some(schema) = defs.get(&def)
            && schema.get("properties").is_some()
        {
            let heading: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
            let _ = write!(out, "\n### {}\n\n", heading.join(", "));
            if let Some(d) = schema.get("description").and_then(|d| d.as_str()) {
                let _ = writeln!(out, "{}\n", one_line(d));
            }
            section(out, &format!("{child_path}."), schema, defs, seen);
        }
    }
}

/// A property's type for people, and the definition to describe below
/// (with `.NAME` or `[]` for maps and lists).
fn type_of(
    prop: &serde_json::Value,
    defs: &serde_json::Value,
) -> (String, Option<(String, String)>) {
    let reference = |v: &serde_json::Value| {
        v.get("$ref")
            .and_then(|r| r.as_str())
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .map(str::to_string)
    };
    let describe_def = |name: &str| -> String {
        match defs.get(name) {
            Some(d) if d.get("properties").is_some() => "object".into(),
            Some(d) => match d.get("oneOf").or_else(|| d.get("enum")) {
                Some(serde_json::Value::Array(options)) => options
                    .iter()
                    .filter_map(|o| o.get("const").or(Some(o)).and_then(|c| c.as_str()))
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" \\| "),
                _ => "value".into(),
            },
            None => "value".into(),
        }
    };
    if let Some(name) = reference(prop) {
        // An untagged enum: each of its forms, and the object form's keys below.
        if let Some(forms) = defs
            .get(&name)
            .and_then(|d| d.get("anyOf"))
            .and_then(|a| a.as_array())
        {
            let described: Vec<_> = forms.iter().map(|f| type_of(f, defs)).collect();
            let names: Vec<String> = described.iter().map(|(n, _)| n.clone()).collect();
            let target = described.into_iter().find_map(|(_, t)| t);
            return (names.join(" or "), target);
        }
        let shape = describe_def(&name);
        return (shape, Some((name, String::new())));
    }
    if let Some(any) = prop.get("anyOf").and_then(|a| a.as_array()) {
        // `Option<T>`: T or null.
        if let Some(inner) = any.iter().find(|v| v.get("type") != Some(&"null".into())) {
            return type_of(inner, defs);
        }
    }
    let types: Vec<&str> = match prop.get("type") {
        Some(serde_json::Value::String(t)) => vec![t.as_str()],
        Some(serde_json::Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).collect(),
        _ => Vec::new(),
    };
    let main = types
        .iter()
        .find(|t| **t != "null")
        .copied()
        .unwrap_or("value");
    match main {
        "array" => {
            let (item, target) = prop
                .get("items")
                .map(|i| type_of(i, defs))
                .unwrap_or(("value".into(), None));
            (
                format!("list of {item}"),
                target.map(|(n, s)| (n, format!("[]{s}"))),
            )
        }
        "object" => match prop.get("additionalProperties") {
            Some(v) if v.is_object() => {
                let (item, target) = type_of(v, defs);
                (
                    format!("map of name → {item}"),
                    target.map(|(n, s)| (n, format!(".NAME{s}"))),
                )
            }
            _ => ("map".into(), None),
        },
        "integer" => ("integer".into(), None),
        "boolean" => ("boolean".into(), None),
        "string" => ("string".into(), None),
        other => (other.to_string(), None),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(schema: &serde_json::Value, def: Option<&str>) -> Vec<String> {
        let object = match def {
            Some(d) => &schema["$defs"][d],
            None => schema,
        };
        let mut keys: Vec<String> = object["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{def:?} has properties"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn sorted(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every key the reader accepts is in the schema, and nothing else.
    #[test]
    fn the_schema_has_exactly_the_readers_keys() {
        let config = schemars::schema_for!(RawConfig).to_value();
        let manifest = schemars::schema_for!(RawManifest).to_value();
        use crate::{config as c, gcp as g, probes as p, release as r};
        let probe_keys: Vec<&str> = [
            p::COMMON_KEYS,
            p::HTTP_KEYS,
            p::POLL_KEYS,
            p::POSTGRES_KEYS,
            p::COMMAND_KEYS,
            p::ENV_PARITY_KEYS,
            p::TCP_KEYS,
            p::DBT_KEYS,
        ]
        .concat();
        for (def, expected) in [
            (None, c::TOP_KEYS),
            (Some("RawModule"), c::MODULE_KEYS),
            (Some("RawMigrations"), c::MIGRATION_KEYS),
            (Some("RawDatabase"), c::DATABASE_KEYS),
            (Some("RawEnvironment"), c::ENV_KEYS),
            (Some("RawLint"), c::LINT_KEYS),
            (Some("RawChecklist"), c::CHECKLIST_KEYS),
            (Some("RawBinding"), c::BINDING_KEYS),
            (Some("RawGate"), c::GATE_KEYS),
            (Some("RawGcp"), g::GCP_KEYS),
            (Some("RawService"), g::SERVICE_KEYS),
            (Some("RawJob"), g::JOB_KEYS),
            (Some("RawSecrets"), g::SECRETS_KEYS),
            (Some("RawBuild"), g::BUILD_KEYS),
            (Some("RawRollout"), g::ROLLOUT_KEYS),
            (Some("RawFreezeEntry"), g::FREEZE_KEYS),
            (Some("RawRelease"), r::RELEASE_KEYS),
            (Some("RawStep"), r::STEP_KEYS),
            (Some("RawWatch"), r::WATCH_KEYS),
            (Some("RawMetrics"), r::METRICS_KEYS),
            (Some("RawNotify"), r::NOTIFY_KEYS),
            (Some("RawProbe"), &probe_keys),
        ] {
            assert_eq!(keys(&config, def), sorted(expected), "{def:?}");
        }
        assert_eq!(
            keys(&manifest, None),
            sorted(crate::manifest::MANIFEST_KEYS)
        );
        let kinds: Vec<String> = config["$defs"]["RawProbeKind"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["const"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds, p::KINDS);
    }
}
