//! The platform config, `preflight.yaml`: the static description of the
//! platform that every release runs against.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diagnostic::{Code, Pos, Sink};
use crate::gcp::GcpConfig;
use crate::manifest::{Checked, MigrationKind, syntax_error, valid_env_name};
use crate::probes::ProbeConfig;
use crate::reader::{self, Fields};
use crate::release::ReleaseConfig;
use crate::yaml::{self, Node, Value};

pub(crate) const TOP_KEYS: &[&str] = &[
    "platform",
    "manifests",
    "checklist",
    "modules",
    "databases",
    "environments",
    "gates",
    "probes",
    "release",
    "gcp",
];
pub(crate) const MODULE_KEYS: &[&str] = &["repo", "branch", "database", "images", "migrations"];
pub(crate) const MIGRATION_KEYS: &[&str] =
    &["kind", "dir", "dirs", "recursive", "command", "ignore"];
pub(crate) const DATABASE_KEYS: &[&str] = &["extensions"];
pub(crate) const ENV_KEYS: &[&str] = &[
    "gcp_project",
    "region",
    "registry",
    "services",
    "databases",
    "artifacts",
    "protected",
    "checkout",
    "drift",
    "lint",
];
pub(crate) const LINT_KEYS: &[&str] = &["block"];
pub(crate) const CHECKLIST_KEYS: &[&str] = &["file", "before_build", "bindings"];
pub(crate) const BINDING_KEYS: &[&str] = &["item", "phase", "probe", "migration", "gate"];
pub(crate) const GATE_KEYS: &[&str] =
    &["name", "command", "dir", "severity", "envs", "timeout_secs"];

/// The platform: modules, databases, environments and gates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformConfig {
    /// Where the config file is; relative paths in it are relative to its folder.
    pub path: PathBuf,
    pub platform: String,
    /// Folder of release manifests (default `release-manifests`).
    pub manifests_dir: PathBuf,
    pub checklist: Option<ChecklistConfig>,
    pub modules: Vec<Module>,
    pub databases: Vec<Database>,
    pub environments: Vec<Environment>,
    pub gates: Vec<Gate>,
    /// Probes for `preflight verify` and the release's verify and smoke phases.
    pub probes: Vec<ProbeConfig>,
    /// Freeze, deploy and unfreeze steps, watch window, notifications.
    pub release: ReleaseConfig,
    /// Google Cloud readiness, Cloud Run services and jobs, Cloud Build.
    pub gcp: GcpConfig,
}

/// The release checklist and how the pipeline fills it in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecklistConfig {
    /// The Markdown checklist, relative to the config file's folder.
    pub file: PathBuf,
    /// Sections that must be complete before the build starts (`1-5`).
    pub before_build: Option<String>,
    pub bindings: Vec<ChecklistBinding>,
}

/// An item checked automatically when a step of the release passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecklistBinding {
    /// The checklist item id, e.g. `3.6`.
    pub item: String,
    /// The release step whose outcome checks it.
    pub step: BindingStep,
}

/// The release step a checklist item is bound to; checked against the
/// config when it loads (a misspelt phase or an unknown probe is an error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum BindingStep {
    /// A whole phase passed.
    Phase(crate::release::Phase),
    /// A probe (from `probes:`) passed.
    Probe(String),
    /// A module's migrations reached the manifest.
    Migration(String),
    /// A gate (from `gates:`) passed.
    Gate(String),
}

/// One deployable part of the platform, usually one repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Module {
    pub name: String,
    /// The checkout, relative to the config file's folder.
    pub repo: PathBuf,
    /// The database (a key of `databases`) the module migrates.
    pub database: Option<String>,
    pub images: Vec<String>,
    pub migrations: Option<MigrationSource>,
    /// The branch a pinned commit must be on (an ancestor of), `main` by default.
    pub branch: String,
}

/// Where a module's migrations live and how they run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationSource {
    pub kind: MigrationKind,
    /// Relative to the module's repo; for Alembic, the first versions folder.
    pub dir: PathBuf,
    /// Alembic's further versions folders (`dirs:` lists them all).
    pub more_dirs: Vec<PathBuf>,
    /// Alembic reads subfolders of the versions folders too
    /// (`recursive_version_locations`).
    pub recursive: bool,
    /// Overrides the runner's default command (Alembic, Python scripts).
    pub command: Option<Vec<String>>,
    /// What the drift check leaves out: schemas (`audit`) and objects
    /// (`public.legacy_jobs`, with everything that belongs to them).
    pub ignore: Vec<String>,
}

impl MigrationSource {
    /// Every folder the migrations are read from, relative to the repo.
    pub fn dirs(&self) -> Vec<&Path> {
        std::iter::once(self.dir.as_path())
            .chain(self.more_dirs.iter().map(PathBuf::as_path))
            .collect()
    }
}

/// A logical database, e.g. `mobius_chat`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Database {
    pub name: String,
    /// Extensions the database needs, e.g. `vector`.
    pub extensions: Vec<String>,
}

/// A deployment target: `local`, `dev`, `staging`, `prod`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    pub name: String,
    pub gcp_project: Option<String>,
    pub region: Option<String>,
    /// Image registry prefix, e.g. `gcr.io/mobius-prod`.
    pub registry: Option<String>,
    /// Where backups, logs and evidence go: a folder (relative to the
    /// config) or `gs://bucket/prefix`.
    pub artifacts: Option<String>,
    /// Service name → base URL.
    pub services: BTreeMap<String, String>,
    /// Database name → where its URL comes from.
    pub databases: BTreeMap<String, UrlSource>,
    /// A protected environment (production) refuses operator skips of
    /// guarded phases.
    pub protected: bool,
    /// Whether module checkouts are verified before a release.
    pub checkout: CheckoutPolicy,
    /// What schema drift does to a release in this environment.
    pub drift: DriftPolicy,
    /// Migration lint rules (squawk's names) whose violations stop a
    /// release here (`lint: {block: [...]}`); every other rule warns.
    pub lint_block: Vec<String>,
}

/// Whether a release verifies module checkouts (`checkout:` of an environment).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutPolicy {
    /// Every pinned checkout must be at its SHA, clean (the default).
    #[default]
    Require,
    /// Not verified; the release says so.
    Skip,
}

/// What a release does when a database's schema differs from what its
/// migrations build (`drift:` of an environment).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DriftPolicy {
    /// Stops the release before the freeze.
    Hard,
    /// Warns (the default).
    #[default]
    Soft,
    /// Not checked.
    Off,
}

/// Where a database URL comes from. Literal URLs are kept out of reports.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum UrlSource {
    /// `env:NAME`: an environment variable.
    Env(String),
    /// `secret://projects/P/secrets/NAME[/versions/V]`: Secret Manager.
    Secret(SecretRef),
    /// `local`: Preflight's throwaway local PostgreSQL.
    Local,
    /// A literal `postgres://` URL (never printed with its password).
    #[serde(serialize_with = "serialize_redacted")]
    Literal(String),
}

fn serialize_redacted<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

impl fmt::Debug for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlSource::Env(n) => write!(f, "Env({n:?})"),
            UrlSource::Secret(s) => write!(f, "Secret({s})"),
            UrlSource::Local => f.write_str("Local"),
            UrlSource::Literal(u) => write!(f, "Literal({:?})", redact_url(u)),
        }
    }
}

impl fmt::Display for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlSource::Env(n) => write!(f, "env:{n}"),
            UrlSource::Secret(s) => write!(f, "{s}"),
            UrlSource::Local => f.write_str("local"),
            UrlSource::Literal(u) => f.write_str(&redact_url(u)),
        }
    }
}

/// Replaces the password of `scheme://user:password@host/...`, and the
/// value of a `password=` query parameter, with `***`.
pub fn redact_url(url: &str) -> String {
    match url.find("://") {
        Some(i) => format!("{}{}", &url[..i + 3], redact_authority(&url[i + 3..])),
        None => url.to_string(),
    }
}

/// `user:password@host/...` (what follows `scheme://`) with the password as `***`.
pub(crate) fn redact_authority(rest: &str) -> String {
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let redacted = match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{}:***{}", &rest[..colon], &rest[at..]),
            None => rest.to_string(),
        },
        None => rest.to_string(),
    };
    redact_password_param(&redacted)
}

/// `…?a=1&password=x&b=2` → `…?a=1&password=***&b=2`.
fn redact_password_param(text: &str) -> String {
    let Some(q) = text.find('?') else {
        return text.to_string();
    };
    let (head, query) = text.split_at(q + 1);
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{head}{}", pairs.join("&"))
}

/// A Secret Manager reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretRef {
    pub project: String,
    pub secret: String,
    /// `latest` when not given.
    pub version: String,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "secret://projects/{}/secrets/{}/versions/{}",
            self.project, self.secret, self.version
        )
    }
}

impl SecretRef {
    /// Parses `secret://projects/P/secrets/NAME[/versions/V]`.
    pub fn parse(text: &str) -> Result<SecretRef, String> {
        let rest = text
            .strip_prefix("secret://")
            .ok_or_else(|| format!("`{text}` does not start with secret://"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let (project, secret, version) = match parts.as_slice() {
            ["projects", p, "secrets", s] => (*p, *s, "latest"),
            ["projects", p, "secrets", s, "versions", v] => (*p, *s, *v),
            _ => {
                return Err(format!(
                    "`{text}` is not secret://projects/P/secrets/NAME[/versions/V]"
                ));
            }
        };
        if !valid_project_id(project) {
            return Err(format!("`{project}` is not a valid GCP project id"));
        }
        let secret_ok = !secret.is_empty()
            && secret.len() <= 255
            && secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !secret_ok {
            return Err(format!(
                "`{secret}` is not a valid secret name (letters, digits, `-`, `_`)"
            ));
        }
        if version != "latest" && !(version.parse::<u64>().is_ok_and(|v| v > 0)) {
            return Err(format!(
                "version `{version}` must be `latest` or a positive number"
            ));
        }
        Ok(SecretRef {
            project: project.to_string(),
            secret: secret.to_string(),
            version: version.to_string(),
        })
    }
}

impl UrlSource {
    pub fn parse(text: &str) -> Result<UrlSource, String> {
        if text == "local" {
            return Ok(UrlSource::Local);
        }
        if let Some(name) = text.strip_prefix("env:") {
            let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            return if ok {
                Ok(UrlSource::Env(name.to_string()))
            } else {
                Err(format!("`{name}` is not an environment variable name"))
            };
        }
        if text.starts_with("secret://") {
            return SecretRef::parse(text).map(UrlSource::Secret);
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(UrlSource::Literal(text.to_string()));
        }
        Err(
            "expected `local`, `env:NAME`, `secret://projects/P/secrets/NAME` or a postgres:// URL"
                .to_string(),
        )
    }
}

/// How a failing gate affects the release.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A failure stops the release.
    Hard,
    /// A failure warns.
    Soft,
}

/// A command that must pass before a release migrates (B3 phases 1–2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    pub name: String,
    pub command: Vec<String>,
    /// Working directory, relative to the config file's folder.
    pub dir: Option<PathBuf>,
    pub severity: Severity,
    /// Environments the gate runs in; all when empty.
    pub envs: Vec<String>,
    pub timeout_secs: Option<u64>,
}

impl Gate {
    /// Whether the gate runs in `env`.
    pub fn runs_in(&self, env: &str) -> bool {
        self.envs.is_empty() || self.envs.iter().any(|e| e == env)
    }
}

impl PlatformConfig {
    /// Parses and validates config text. `path` locates relative paths and diagnostics.
    pub fn check(path: &Path, source: &str) -> Checked<PlatformConfig> {
        let mut sink = Sink::new(path);
        let value = match yaml::parse(source) {
            Ok(root) => validate(&mut sink, path, &root),
            Err(e) => {
                syntax_error(&mut sink, e);
                None
            }
        };
        let value = if sink.has_errors() { None } else { value };
        Checked {
            path: path.to_path_buf(),
            source: source.to_string(),
            value,
            diagnostics: sink.finish(),
        }
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Checked<PlatformConfig>, crate::Error> {
        let source = crate::read_file(path)?;
        Ok(PlatformConfig::check(path, &source))
    }

    /// The folder relative paths start from.
    /// Never empty: a bare `preflight.yaml` has the current folder as its root.
    pub fn root(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// What a manifest is checked against ([`crate::ValidateOptions::platform`]),
    /// for `env` when one is named.
    pub fn facts(&self, env: Option<&str>) -> crate::PlatformFacts {
        crate::PlatformFacts {
            modules: self
                .modules
                .iter()
                .map(|m| crate::ModuleFacts {
                    name: m.name.clone(),
                    repo: m.repo.display().to_string(),
                    images: m.images.clone(),
                    migrations: m
                        .migrations
                        .as_ref()
                        .map(|s| (s.kind, s.dir.display().to_string())),
                    database: m.database.clone(),
                })
                .collect(),
            env_databases: env
                .and_then(|e| self.environment(e))
                .map(|e| (e.name.clone(), e.databases.keys().cloned().collect())),
        }
    }

    pub fn env_names(&self) -> Vec<String> {
        self.environments.iter().map(|e| e.name.clone()).collect()
    }
}

fn validate(sink: &mut Sink<'_>, path: &Path, root: &Node) -> Option<PlatformConfig> {
    if root.value == Value::Null {
        sink.error(root.pos, Code::MissingKey, "the platform config is empty");
        return None;
    }
    let top = reader::fields(
        sink,
        root,
        "the platform config",
        TOP_KEYS,
        &["platform", "modules"],
    )?;
    let platform = top
        .get("platform")
        .and_then(|n| reader::nonempty_string(sink, n, "`platform`"));
    let manifests_dir = top
        .get("manifests")
        .and_then(|n| reader::nonempty_string(sink, n, "`manifests`"))
        .map_or_else(|| PathBuf::from("release-manifests"), PathBuf::from);
    let checklist = top.get("checklist").and_then(|n| checklist_config(sink, n));

    let mut databases = Vec::new();
    if let Some(node) = top.get("databases") {
        for (name, value, key) in named(sink, node, "`databases`") {
            check_identifier(sink, &key, &name, "database");
            let extensions = match value.value {
                Value::Null => Vec::new(),
                _ => reader::fields(
                    sink,
                    &value,
                    &format!("database `{name}`"),
                    DATABASE_KEYS,
                    &[],
                )
                .and_then(|f| {
                    f.get("extensions")
                        .and_then(|n| reader::string_list(sink, n, "`extensions`", false))
                })
                .map(|v| v.into_iter().map(|(s, _)| s).collect())
                .unwrap_or_default(),
            };
            databases.push(Database { name, extensions });
        }
    }
    let db_names: Vec<&str> = databases.iter().map(|d| d.name.as_str()).collect();

    let mut modules = Vec::new();
    if let Some(node) = top.get("modules") {
        let entries = named(sink, node, "`modules`");
        if entries.is_empty() {
            sink.error(node.pos, Code::EmptySection, "`modules` is empty")
                .hint("describe at least one module");
        }
        for (name, value, key) in entries {
            check_identifier(sink, &key, &name, "module");
            let what = format!("module `{name}`");
            let Some(f) = reader::fields(sink, &value, &what, MODULE_KEYS, &[]) else {
                continue;
            };
            let repo = f
                .get("repo")
                .and_then(|n| reader::nonempty_string(sink, n, "`repo`"))
                .map_or_else(|| PathBuf::from(&name), PathBuf::from);
            let database = f.get("database").and_then(|n| {
                let db = reader::nonempty_string(sink, n, "`database`")?;
                reference(sink, n, &db, &db_names, "database", "databases");
                Some(db)
            });
            let images: Vec<String> = f
                .get("images")
                .and_then(|n| reader::string_list(sink, n, "`images`", false))
                .map(|v| {
                    v.into_iter()
                        .map(|(image, pos)| {
                            // Image names become tags, Dockerfile names and build step ids.
                            if !crate::image::valid_path_component(&image) {
                                sink.error(
                                    pos,
                                    Code::InvalidValue,
                                    format!("image name `{}` is not a valid image repository name", image.escape_debug()),
                                )
                                .width(image.chars().count())
                                .hint("lower-case letters and digits, separated by `.`, `_`, `__` or `-`");
                            }
                            image
                        })
                        .collect()
                })
                .unwrap_or_default();
            let migrations = f
                .get("migrations")
                .and_then(|n| migration_source(sink, n, &what));
            let branch = f
                .get("branch")
                .and_then(|n| {
                    let b = reader::nonempty_string(sink, n, "`branch`")?;
                    if let Err(why) = crate::gitref::check_branch(&b) {
                        sink.error(
                            n.pos,
                            Code::InvalidValue,
                            format!(
                                "`branch` `{}` is not a branch name: {why}",
                                b.escape_debug()
                            ),
                        )
                        .width(b.chars().count());
                    }
                    Some(b)
                })
                .unwrap_or_else(|| "main".to_string());
            if migrations.is_some() && database.is_none() {
                sink.error(
                    f.pos,
                    Code::MissingKey,
                    format!("{what} has migrations but no `database`"),
                )
                .hint("name the database (a key of `databases`) the migrations run against");
            }
            modules.push(Module {
                name,
                repo,
                database,
                images,
                migrations,
                branch,
            });
        }
    }

    let mut environments = Vec::new();
    if let Some(node) = top.get("environments") {
        for (name, value, key) in named(sink, node, "`environments`") {
            if !valid_env_name(&name) {
                sink.error(
                    key.pos,
                    Code::InvalidValue,
                    format!("environment name `{name}` must be lower-case letters, digits and `-`"),
                )
                .width(name.chars().count());
            }
            let what = format!("environment `{name}`");
            let env = match value.value {
                Value::Null => Some(environment(sink, name.clone(), None, &db_names)),
                _ => reader::fields(sink, &value, &what, ENV_KEYS, &[])
                    .map(|f| environment(sink, name.clone(), Some(&f), &db_names)),
            };
            environments.extend(env);
        }
    }
    let env_names: Vec<String> = environments.iter().map(|e| e.name.clone()).collect();

    let mut gates = Vec::new();
    if let Some(node) = top.get("gates") {
        match &node.value {
            Value::Seq(items) => {
                let mut seen: Vec<String> = Vec::new();
                for item in items {
                    let Some(f) =
                        reader::fields(sink, item, "a gate", GATE_KEYS, &["name", "command"])
                    else {
                        continue;
                    };
                    if let Some(g) = gate(sink, &f, &env_names) {
                        if seen.contains(&g.name) {
                            sink.error(
                                f.key_pos("name").unwrap_or(item.pos),
                                Code::DuplicateKey,
                                format!("gate `{}` is defined twice", g.name),
                            );
                        }
                        seen.push(g.name.clone());
                        gates.push(g);
                    }
                }
            }
            Value::Null => {}
            other => {
                sink.error(
                    node.pos,
                    Code::WrongType,
                    format!("expected `gates` to be a list, found {}", other.kind()),
                );
            }
        }
    }

    let probes = match top.get("probes") {
        Some(node) => {
            let envs: Vec<&str> = env_names.iter().map(String::as_str).collect();
            let module_names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
            crate::probes::probes(sink, node, &envs, &db_names, &module_names)
        }
        None => Vec::new(),
    };

    let release = match top.get("release") {
        Some(node) => {
            let envs: Vec<&str> = env_names.iter().map(String::as_str).collect();
            crate::release::release(sink, node, &envs)
        }
        None => ReleaseConfig::default(),
    };

    let gcp = match top.get("gcp") {
        Some(node) => {
            let module_names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
            let image_names: Vec<&str> = modules
                .iter()
                .flat_map(|m| m.images.iter().map(String::as_str))
                .collect();
            crate::gcp::gcp(sink, node, &module_names, &image_names)
        }
        None => GcpConfig::default(),
    };

    // Bindings name steps defined elsewhere in the config: check them now.
    if let Some((c, positions)) = &checklist {
        let probe_names: Vec<&str> = probes.iter().map(|p| p.name.as_str()).collect();
        let gate_names: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
        let migrating: Vec<&str> = modules
            .iter()
            .filter(|m| m.migrations.is_some())
            .map(|m| m.name.as_str())
            .collect();
        for (b, pos) in c.bindings.iter().zip(positions) {
            let (name, defined, what, section) = match &b.step {
                BindingStep::Phase(_) => continue,
                BindingStep::Probe(n) => (n, &probe_names, "probe", "probes"),
                BindingStep::Gate(n) => (n, &gate_names, "gate", "gates"),
                BindingStep::Migration(n) => (
                    n,
                    &migrating,
                    "migrating module",
                    "modules (with `migrations`)",
                ),
            };
            let node = Node {
                value: Value::Null,
                pos: *pos,
            };
            reference(sink, &node, name, defined, what, section);
        }
    }

    Some(PlatformConfig {
        path: path.to_path_buf(),
        platform: platform?,
        manifests_dir,
        checklist: checklist.map(|(c, _)| c),
        modules,
        databases,
        environments,
        gates,
        probes,
        release,
        gcp,
    })
}

fn checklist_config(sink: &mut Sink<'_>, node: &Node) -> Option<(ChecklistConfig, Vec<Pos>)> {
    if let Value::Str(path) = &node.value {
        return Some((
            ChecklistConfig {
                file: PathBuf::from(path),
                before_build: None,
                bindings: Vec::new(),
            },
            Vec::new(),
        ));
    }
    let f = reader::fields(sink, node, "`checklist`", CHECKLIST_KEYS, &["file"])?;
    let file = PathBuf::from(reader::nonempty_string(
        sink,
        f.get("file")?,
        "`checklist.file`",
    )?);
    let before_build = f.get("before_build").and_then(|n| {
        let text = reader::nonempty_string(sink, n, "`before_build`")?;
        let valid = text == "all"
            || text.split(',').all(|part| {
                part.trim()
                    .split('-')
                    .all(|x| x.trim().parse::<u32>().is_ok())
                    && part.split('-').count() <= 2
            });
        if !valid {
            sink.error(
                n.pos,
                Code::InvalidValue,
                format!("`{text}` is not a section range"),
            )
            .width(text.chars().count())
            .hint("write `all`, `N`, `N-M` or a comma list such as `1-3,5`");
        }
        Some(text)
    });
    let mut bindings = Vec::new();
    let mut positions = Vec::new();
    match f.get("bindings").map(|n| (n, &n.value)) {
        Some((_, Value::Seq(items))) => {
            for item in items {
                let Some(b) =
                    reader::fields(sink, item, "a checklist binding", BINDING_KEYS, &["item"])
                else {
                    continue;
                };
                let Some(id) = b
                    .get("item")
                    .and_then(|n| reader::nonempty_string(sink, n, "`item`"))
                else {
                    continue;
                };
                let steps: Vec<&str> = ["phase", "probe", "migration", "gate"]
                    .into_iter()
                    .filter(|k| b.get(k).is_some())
                    .collect();
                if steps.len() != 1 {
                    sink.error(item.pos, Code::InvalidValue, format!("binding of item `{id}` must name exactly one of phase, probe, migration or gate"));
                    continue;
                }
                let Some(step) = b
                    .get(steps[0])
                    .and_then(|n| reader::nonempty_string(sink, n, "the step"))
                else {
                    continue;
                };
                let node = b.get(steps[0]).map_or(item.pos, |n| n.pos);
                let step = match steps[0] {
                    "phase" => match crate::release::Phase::parse(&step) {
                        Some(phase) => BindingStep::Phase(phase),
                        None => {
                            let names =
                                crate::release::Phase::ALL.map(crate::release::Phase::as_str);
                            let d = sink
                                .error(
                                    node,
                                    Code::InvalidValue,
                                    format!("binding of item `{id}` names phase `{step}`, which is not a release phase"),
                                )
                                .width(step.chars().count());
                            d.hint(reader::closest_hint(&step, names, "phases"));
                            continue;
                        }
                    },
                    "probe" => BindingStep::Probe(step),
                    "migration" => BindingStep::Migration(step),
                    _ => BindingStep::Gate(step),
                };
                positions.push(node);
                bindings.push(ChecklistBinding { item: id, step });
            }
        }
        Some((n, Value::Null)) | Some((n, _)) if !matches!(n.value, Value::Null) => {
            sink.error(
                n.pos,
                Code::WrongType,
                format!("expected `bindings` to be a list, found {}", n.value.kind()),
            );
        }
        _ => {}
    }
    Some((
        ChecklistConfig {
            file,
            before_build,
            bindings,
        },
        positions,
    ))
}

fn named(sink: &mut Sink<'_>, node: &Node, what: &str) -> Vec<(String, Node, Node)> {
    match &node.value {
        Value::Null => Vec::new(),
        _ => reader::mapping(sink, node, what)
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, v)| reader::key_text(sink, k).map(|name| (name, v.clone(), k.clone())))
            .collect(),
    }
}

/// A module, database or other config name: letters, digits, `-` and `_`,
/// starting with a letter.
pub(crate) fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_identifier(sink: &mut Sink<'_>, key: &Node, name: &str, what: &str) {
    if !is_identifier(name) {
        sink.error(
            key.pos,
            Code::InvalidValue,
            format!(
                "{what} name `{name}` must be letters, digits, `-` and `_`, starting with a letter"
            ),
        )
        .width(name.chars().count());
    }
}

pub(crate) fn reference(
    sink: &mut Sink<'_>,
    node: &Node,
    name: &str,
    defined: &[&str],
    what: &str,
    section: &str,
) {
    if defined.contains(&name) {
        return;
    }
    let d = sink.error(
        node.pos,
        Code::UndefinedReference,
        format!("{what} `{name}` is not defined in `{section}`"),
    );
    d.width(name.chars().count());
    match reader::suggest(name, defined.iter().copied()) {
        Some(s) => d.hint(format!("did you mean `{s}`?")),
        None if defined.is_empty() => d.hint(format!("add it under `{section}`")),
        None => d.hint(format!("defined: {}", defined.join(", "))),
    };
}

fn migration_source(sink: &mut Sink<'_>, node: &Node, what: &str) -> Option<MigrationSource> {
    let f = reader::fields(
        sink,
        node,
        &format!("the migrations of {what}"),
        MIGRATION_KEYS,
        &["kind"],
    )?;
    let kind_node = f.get("kind")?;
    let kind_text = reader::nonempty_string(sink, kind_node, "`kind`")?;
    let Some(kind) = MigrationKind::parse(&kind_text) else {
        let kinds = MigrationKind::ALL.map(MigrationKind::as_str);
        let d = sink.error(
            kind_node.pos,
            Code::InvalidValue,
            format!("unknown migration kind `{kind_text}`"),
        );
        d.width(kind_text.chars().count());
        d.hint(reader::closest_hint(&kind_text, kinds, "expected one of"));
        return None;
    };
    let alembic_only = |sink: &mut Sink<'_>, key: &str| {
        if kind != MigrationKind::Alembic
            && let Some(n) = f.key_pos(key)
        {
            sink.error(
                n,
                Code::InvalidValue,
                format!(
                    "`{key}` is for Alembic; {} migrations are read from one `dir`",
                    kind.as_str()
                ),
            );
        }
    };
    alembic_only(sink, "dirs");
    alembic_only(sink, "recursive");
    let recursive = match f.get("recursive") {
        None => false,
        Some(n) => match n.value {
            Value::Bool(b) => b,
            ref other => {
                sink.error(
                    n.pos,
                    Code::WrongType,
                    format!(
                        "expected `recursive` to be true or false, found {}",
                        other.kind()
                    ),
                );
                return None;
            }
        },
    };
    let mut more_dirs = Vec::new();
    let dir = match (f.get("dir"), f.get("dirs")) {
        (Some(_), Some(n)) => {
            sink.error(n.pos, Code::InvalidValue, "both `dir` and `dirs`")
                .hint("list every versions folder under `dirs`");
            return None;
        }
        (None, Some(n)) => {
            let list = reader::string_list(sink, n, "`dirs`", false)?;
            let mut list = list.into_iter().map(|(s, _)| PathBuf::from(s));
            let Some(first) = list.next() else {
                sink.error(n.pos, Code::InvalidValue, "`dirs` is an empty list")
                    .hint("list the versions folders, e.g. [migrations/versions]");
                return None;
            };
            more_dirs = list.collect();
            first
        }
        (Some(n), None) => PathBuf::from(reader::nonempty_string(sink, n, "`dir`")?),
        (None, None) => PathBuf::from(match kind {
            MigrationKind::Sql => "migrations",
            MigrationKind::Supabase => "supabase/migrations",
            MigrationKind::Alembic => "migrations/versions",
            MigrationKind::Python => "app/migrations",
        }),
    };
    let command = match f.get("command") {
        Some(n) => {
            let list = reader::string_list(sink, n, "`command`", false)?;
            if list.is_empty() {
                sink.error(n.pos, Code::InvalidValue, "`command` is an empty list")
                    .hint("give the program and its arguments");
                return None;
            }
            Some(list.into_iter().map(|(s, _)| s).collect())
        }
        None => None,
    };
    let ignore = match f.get("ignore") {
        Some(n) => reader::string_list(sink, n, "`ignore`", false)?
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
        None => Vec::new(),
    };
    Some(MigrationSource {
        kind,
        dir,
        more_dirs,
        recursive,
        command,
        ignore,
    })
}

fn environment(
    sink: &mut Sink<'_>,
    name: String,
    f: Option<&Fields<'_>>,
    db_names: &[&str],
) -> Environment {
    let mut env = Environment {
        name,
        gcp_project: None,
        region: None,
        registry: None,
        artifacts: None,
        services: BTreeMap::new(),
        databases: BTreeMap::new(),
        protected: false,
        checkout: CheckoutPolicy::Require,
        drift: DriftPolicy::Soft,
        lint_block: Vec::new(),
    };
    let Some(f) = f else { return env };
    if let Some(n) = f.get("protected") {
        match n.value {
            Value::Bool(b) => env.protected = b,
            ref other => {
                sink.error(
                    n.pos,
                    Code::WrongType,
                    format!(
                        "expected `protected` to be true or false, found {}",
                        other.kind()
                    ),
                );
            }
        }
    }
    if let Some(n) = f.get("checkout")
        && let Some(text) = reader::nonempty_string(sink, n, "`checkout`")
    {
        match text.as_str() {
            "require" => env.checkout = CheckoutPolicy::Require,
            "skip" => env.checkout = CheckoutPolicy::Skip,
            other => {
                sink.error(
                    n.pos,
                    Code::InvalidValue,
                    format!("`checkout` must be `require` or `skip`, found `{other}`"),
                )
                .width(other.chars().count());
            }
        }
    }
    if let Some(n) = f.get("lint")
        && let Some(lint) = reader::fields(sink, n, "`lint`", LINT_KEYS, &[])
        && let Some(block) = lint.get("block")
        && let Some(list) = reader::string_list(sink, block, "`lint.block`", false)
    {
        env.lint_block = list.into_iter().map(|(s, _)| s).collect();
    }
    if let Some(n) = f.get("drift")
        && let Some(text) = reader::nonempty_string(sink, n, "`drift`")
    {
        match text.as_str() {
            "hard" => env.drift = DriftPolicy::Hard,
            "soft" => env.drift = DriftPolicy::Soft,
            "off" => env.drift = DriftPolicy::Off,
            other => {
                sink.error(
                    n.pos,
                    Code::InvalidValue,
                    format!("`drift` must be `hard`, `soft` or `off`, found `{other}`"),
                )
                .width(other.chars().count());
            }
        }
    }
    if let Some(n) = f.get("gcp_project")
        && let Some(p) = reader::nonempty_string(sink, n, "`gcp_project`")
    {
        if !valid_project_id(&p) {
            sink.error(
                n.pos,
                Code::InvalidValue,
                format!("`{p}` is not a valid GCP project id"),
            )
            .width(p.chars().count())
            .hint(
                "project ids are 6–30 lower-case letters, digits and `-`, starting with a letter",
            );
        }
        env.gcp_project = Some(p);
    }
    env.region = f.get("region").and_then(|n| {
        let region = reader::nonempty_string(sink, n, "`region`")?;
        let ok = region.starts_with(|c: char| c.is_ascii_lowercase())
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            sink.error(
                n.pos,
                Code::InvalidValue,
                format!("`{}` is not a Google Cloud region", region.escape_debug()),
            )
            .width(region.chars().count())
            .hint("regions are lower-case letters, digits and `-`, such as us-central1");
        }
        Some(region)
    });
    if let Some(n) = f.get("registry")
        && let Some(r) = reader::nonempty_string(sink, n, "`registry`")
    {
        if r.parse::<crate::ImageRef>().is_err() || r.contains(':') {
            sink.error(
                n.pos,
                Code::InvalidValue,
                format!("`{r}` is not a registry prefix such as gcr.io/my-project"),
            )
            .width(r.chars().count());
        }
        env.registry = Some(r.trim_end_matches('/').to_string());
    }
    if let Some(n) = f.get("artifacts")
        && let Some(a) = reader::nonempty_string(sink, n, "`artifacts`")
    {
        if let Some(rest) = a.strip_prefix("gs://")
            && rest.split('/').next().is_none_or(str::is_empty)
        {
            sink.error(n.pos, Code::InvalidValue, format!("`{a}` names no bucket"))
                .width(a.chars().count())
                .hint("write gs://BUCKET or gs://BUCKET/PREFIX, or a folder");
        }
        env.artifacts = Some(a);
    }
    if let Some(n) = f.get("services") {
        for (svc, value, _) in named(sink, n, "`services`") {
            let Some(url) = reader::nonempty_string(sink, &value, &format!("`services.{svc}`"))
            else {
                continue;
            };
            if !valid_http_url(&url) {
                sink.error(
                    value.pos,
                    Code::InvalidValue,
                    format!("`services.{svc}` is not an http(s) URL"),
                )
                .width(url.chars().count())
                .hint("write the service's base URL, e.g. https://chat.example.com");
            }
            env.services.insert(svc, url);
        }
    }
    if let Some(n) = f.get("databases") {
        for (db, value, key) in named(sink, n, "`databases`") {
            reference(sink, &key, &db, db_names, "database", "databases");
            let what = format!("`databases.{db}`");
            let Some(text) = reader::nonempty_string(sink, &value, &what) else {
                continue;
            };
            match UrlSource::parse(&text) {
                Ok(source) => {
                    if let UrlSource::Literal(url) = &source
                        && redact_url(url) != *url
                    {
                        sink.warning(
                            value.pos,
                            Code::InvalidValue,
                            format!("{what} has a password written into the config"),
                        )
                        .hint(
                            "read it from `env:NAME` or `secret://projects/P/secrets/NAME` instead",
                        );
                    }
                    env.databases.insert(db, source);
                }
                Err(why) => {
                    sink.error(value.pos, Code::InvalidValue, format!("{what}: {why}"))
                        .width(redact_url(&text).chars().count());
                }
            }
        }
    }
    env
}

fn gate(sink: &mut Sink<'_>, f: &Fields<'_>, env_names: &[String]) -> Option<Gate> {
    let name = reader::nonempty_string(sink, f.get("name")?, "`name`")?;
    let command_node = f.get("command")?;
    let command: Vec<String> = reader::string_list(sink, command_node, "`command`", false)?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    if command.is_empty() {
        sink.error(
            command_node.pos,
            Code::InvalidValue,
            format!("gate `{name}` has an empty command"),
        );
    }
    let severity = severity(sink, f);
    let known: Vec<&str> = env_names.iter().map(String::as_str).collect();
    let envs = env_list(sink, f, &known);
    let timeout_secs = f
        .get("timeout_secs")
        .and_then(|n| reader::positive_int(sink, n, "`timeout_secs`", false));
    let dir = f
        .get("dir")
        .and_then(|n| reader::nonempty_string(sink, n, "`dir`"))
        .map(PathBuf::from);
    Some(Gate {
        name,
        command,
        dir,
        severity,
        envs,
        timeout_secs,
    })
}

/// `severity: hard|soft`, hard when absent.
pub(crate) fn severity(sink: &mut Sink<'_>, f: &Fields<'_>) -> Severity {
    let Some(n) = f.get("severity") else {
        return Severity::Hard;
    };
    match reader::string(sink, n, "`severity`").as_deref() {
        Some("soft") => Severity::Soft,
        Some("hard") | None => Severity::Hard,
        Some(other) => {
            sink.error(
                n.pos,
                Code::InvalidValue,
                format!("severity `{other}` is neither `hard` nor `soft`"),
            )
            .width(other.chars().count());
            Severity::Hard
        }
    }
}

/// `envs: [...]`, each a defined environment; empty means all.
pub(crate) fn env_list(sink: &mut Sink<'_>, f: &Fields<'_>, known: &[&str]) -> Vec<String> {
    let Some(n) = f.get("envs") else {
        return Vec::new();
    };
    let list = reader::string_list(sink, n, "`envs`", false).unwrap_or_default();
    for (e, pos) in &list {
        let node = Node {
            value: Value::Str(e.clone()),
            pos: *pos,
        };
        reference(sink, &node, e, known, "environment", "environments");
    }
    list.into_iter().map(|(s, _)| s).collect()
}

/// GCP project ids: 6–30 characters, lower-case letters, digits and `-`,
/// starting with a letter and not ending with `-`.
pub fn valid_project_id(id: &str) -> bool {
    (6..=30).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.contains(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/db?x=@"), "postgres://h/db?x=@");
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=qp-canary&x=1"),
            "postgres://u@h/db?sslmode=require&password=***&x=1"
        );
    }

    #[test]
    fn secret_refs() {
        let s = SecretRef::parse("secret://projects/mobius-prod/secrets/DB_PASSWORD").unwrap();
        assert_eq!(s.version, "latest");
        assert_eq!(
            s.to_string(),
            "secret://projects/mobius-prod/secrets/DB_PASSWORD/versions/latest"
        );
        assert!(SecretRef::parse("secret://projects/mobius-prod/secrets/X/versions/0").is_err());
        assert!(SecretRef::parse("secret://projects/P/secrets/X").is_err());
    }

    #[test]
    fn project_ids() {
        assert!(valid_project_id("mobiusos-new"));
        assert!(!valid_project_id("Mobius"));
        assert!(!valid_project_id("abc"));
    }
}
