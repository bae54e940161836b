//! The `release:` section of `preflight.yaml`: the per-environment steps of
//! the B3 pipeline that are commands (freeze, deploy, unfreeze), the watch
//! window, the webhook to notify and where release logs go.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::diagnostic::{Code, Sink};
use crate::reader::{self, Fields};
use crate::yaml::{Node, Value};

pub(crate) const RELEASE_KEYS: &[&str] =
    &["log_dir", "freeze", "deploy", "unfreeze", "watch", "notify"];
pub(crate) const STEP_KEYS: &[&str] = &["name", "command", "dir", "envs", "timeout_secs"];
pub(crate) const WATCH_KEYS: &[&str] = &["envs", "interval_secs", "window_secs", "metrics"];
pub(crate) const METRICS_KEYS: &[&str] = &["max_5xx_percent", "max_p95_latency_ms", "min_requests"];
pub(crate) const NOTIFY_KEYS: &[&str] = &["webhook", "pubsub", "envs"];
/// Placeholders a step's command may use.
pub const STEP_PLACEHOLDERS: &[&str] = &[
    "release_id",
    "env",
    "gcp_project",
    "region",
    "image:NAME",
    "commit:REPO",
];

/// The B3 phases of a release, in the order they run
/// (`release_runbook_b3.md` §3). Checklist bindings name them, so the
/// config validates them; the release engine runs them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Checks before anything changes.
    Preflight,
    /// The environment's Cloud Build trigger, at the manifest's pins.
    Build,
    /// Workers stopped.
    Freeze,
    /// Hard gates.
    HardGate,
    /// Soft gates.
    SoftGate,
    /// Database dumps.
    Backup,
    /// Migrations to the manifest's pins.
    Migrate,
    /// Contracts and readiness.
    Verify,
    /// Deploy steps.
    Deploy,
    /// Health and end-to-end probes.
    Smoke,
    /// Smoke probes again over the watch window.
    Watch,
}

impl Phase {
    /// Every phase, in run order.
    pub const ALL: [Phase; 11] = [
        Phase::Preflight,
        Phase::Build,
        Phase::Freeze,
        Phase::HardGate,
        Phase::SoftGate,
        Phase::Backup,
        Phase::Migrate,
        Phase::Verify,
        Phase::Deploy,
        Phase::Smoke,
        Phase::Watch,
    ];

    /// The name used in the config, logs and `--from`/`--only`/`--skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Preflight => "preflight",
            Phase::Build => "build",
            Phase::Freeze => "freeze",
            Phase::HardGate => "hard-gate",
            Phase::SoftGate => "soft-gate",
            Phase::Backup => "backup",
            Phase::Migrate => "migrate",
            Phase::Verify => "verify",
            Phase::Deploy => "deploy",
            Phase::Smoke => "smoke",
            Phase::Watch => "watch",
        }
    }

    /// The phase called `text`, if any.
    pub fn parse(text: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Phases a release must not run past unless this release's recorded
    /// state says they passed (or an operator skipped them on the record):
    /// the hard gate and the backup.
    pub fn guards(self) -> bool {
        matches!(self, Phase::HardGate | Phase::Backup)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How releases run, beyond gates and probes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseConfig {
    /// Where release logs are written, relative to the config
    /// (`docs/release_logs`); `local` rehearsals write under `.preflight/`.
    pub log_dir: PathBuf,
    pub freeze: Vec<ReleaseStep>,
    pub deploy: Vec<ReleaseStep>,
    pub unfreeze: Vec<ReleaseStep>,
    pub watch: Option<WatchConfig>,
    pub notify: Option<NotifyConfig>,
}

impl Default for ReleaseConfig {
    fn default() -> Self {
        ReleaseConfig {
            log_dir: PathBuf::from("docs/release_logs"),
            freeze: Vec::new(),
            deploy: Vec::new(),
            unfreeze: Vec::new(),
            watch: None,
            notify: None,
        }
    }
}

/// A command the release runs. `{release_id}`, `{env}`, `{gcp_project}`,
/// `{region}`, `{image:NAME}` and `{commit:REPO}` in its arguments are
/// filled from the environment and the manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseStep {
    pub name: String,
    pub command: Vec<String>,
    /// Relative to the config's folder.
    pub dir: Option<PathBuf>,
    /// Environments the step runs in; all when empty.
    pub envs: Vec<String>,
    pub timeout_secs: Option<u64>,
}

impl ReleaseStep {
    pub fn runs_in(&self, env: &str) -> bool {
        self.envs.is_empty() || self.envs.iter().any(|e| e == env)
    }
}

/// Re-run the smoke probes every `interval_secs` for `window_secs` after
/// the deploy ("monitor for 15 minutes").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchConfig {
    pub envs: Vec<String>,
    pub interval_secs: u64,
    pub window_secs: u64,
    /// Per environment: what each canary revision's Cloud Monitoring
    /// metrics must stay within, every round.
    pub metrics: BTreeMap<String, MetricThresholds>,
}

/// Limits on what a new Cloud Run revision serves during the watch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricThresholds {
    /// The most requests answered 5xx, in percent of all.
    pub max_5xx_percent: Option<f64>,
    /// The highest 95th-percentile latency, in milliseconds.
    pub max_p95_latency_ms: Option<u64>,
    /// The requests a canary must have served since the watch began for
    /// its figures to be judged (at least 1): fewer is "not judged yet"
    /// before the last round and a failure in the last.
    pub min_requests: u64,
}

/// A Slack-compatible webhook told the outcome of each release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyConfig {
    /// A URL, or `env:NAME` to read it from the environment (webhook URLs are secrets).
    pub webhook: Option<String>,
    /// A Pub/Sub topic (`projects/P/topics/T`) that gets the same events.
    pub pubsub: Option<String>,
    pub envs: Vec<String>,
}

pub(crate) fn release(sink: &mut Sink<'_>, node: &Node, env_names: &[&str]) -> ReleaseConfig {
    let mut config = ReleaseConfig::default();
    let Some(f) = reader::fields(sink, node, "`release`", RELEASE_KEYS, &[]) else {
        return config;
    };
    if let Some(dir) = f
        .get("log_dir")
        .and_then(|n| reader::nonempty_string(sink, n, "`log_dir`"))
    {
        config.log_dir = PathBuf::from(dir);
    }
    let mut names: Vec<String> = Vec::new();
    for (key, list) in [
        ("freeze", &mut config.freeze),
        ("deploy", &mut config.deploy),
        ("unfreeze", &mut config.unfreeze),
    ] {
        let Some(node) = f.get(key) else { continue };
        let items = reader::items(sink, node, &format!("`{key}` to be a list of steps"));
        for item in items {
            let Some(s) = reader::fields(
                sink,
                item,
                "a release step",
                STEP_KEYS,
                &["name", "command"],
            ) else {
                continue;
            };
            if let Some(step) = step(sink, &s, env_names) {
                if names.contains(&step.name) {
                    sink.error(
                        s.key_pos("name").unwrap_or(item.pos),
                        Code::DuplicateKey,
                        format!("release step `{}` is defined twice", step.name),
                    );
                }
                names.push(step.name.clone());
                list.push(step);
            }
        }
    }
    if let Some(node) = f.get("watch")
        && let Some(w) = reader::fields(sink, node, "`watch`", WATCH_KEYS, &["window_secs"])
    {
        let window_secs = w
            .get("window_secs")
            .and_then(|n| reader::positive_int(sink, n, "`window_secs`", false));
        let interval_secs = w
            .get("interval_secs")
            .and_then(|n| reader::positive_int(sink, n, "`interval_secs`", false))
            .unwrap_or(60);
        let mut metrics = BTreeMap::new();
        if let Some(n) = w.get("metrics")
            && let Some(entries) = reader::mapping(sink, n, "`watch.metrics`")
        {
            for (key, value) in entries {
                let Some(env) = reader::key_text(sink, key) else {
                    continue;
                };
                crate::config::reference(sink, key, &env, env_names, "environment", "environments");
                let Some(m) = reader::fields(sink, value, "metric thresholds", METRICS_KEYS, &[])
                else {
                    continue;
                };
                let max_5xx_percent = m.get("max_5xx_percent").and_then(|n| {
                    match &n.value {
                        Value::Number(t) => {
                            t.parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p))
                        }
                        _ => None,
                    }
                    .or_else(|| {
                        sink.error(
                            n.pos,
                            Code::InvalidValue,
                            "expected `max_5xx_percent` to be a number from 0 to 100",
                        );
                        None
                    })
                });
                let max_p95_latency_ms = m
                    .get("max_p95_latency_ms")
                    .and_then(|n| reader::positive_int(sink, n, "`max_p95_latency_ms`", false));
                let min_requests = m
                    .get("min_requests")
                    .and_then(|n| reader::positive_int(sink, n, "`min_requests`", true))
                    .unwrap_or(0);
                metrics.insert(
                    env,
                    MetricThresholds {
                        max_5xx_percent,
                        max_p95_latency_ms,
                        min_requests,
                    },
                );
            }
        }
        if let Some(window_secs) = window_secs {
            config.watch = Some(WatchConfig {
                envs: crate::config::env_list(sink, &w, env_names),
                interval_secs,
                window_secs,
                metrics,
            });
        }
    }
    if let Some(node) = f.get("notify")
        && let Some(n) = reader::fields(sink, node, "`notify`", NOTIFY_KEYS, &[])
    {
        let webhook = n
            .get("webhook")
            .and_then(|w| reader::nonempty_string(sink, w, "`webhook`"));
        if let Some(webhook) = &webhook
            && !(webhook.starts_with("https://")
                || webhook.starts_with("http://")
                || webhook.starts_with("env:"))
        {
            sink.error(
                n.get("webhook").map_or(n.pos, |w| w.pos),
                Code::InvalidValue,
                "`webhook` must be an http(s) URL or `env:NAME`",
            )
            .hint("webhook URLs carry a token; prefer `env:SLACK_WEBHOOK_URL`");
        }
        let pubsub = n
            .get("pubsub")
            .and_then(|p| reader::nonempty_string(sink, p, "`pubsub`"));
        if let Some(topic) = &pubsub {
            let parts: Vec<&str> = topic.split('/').collect();
            let ok = matches!(parts.as_slice(), ["projects", p, "topics", t] if !p.is_empty() && !t.is_empty());
            if !ok {
                sink.error(
                    n.get("pubsub").map_or(n.pos, |p| p.pos),
                    Code::InvalidValue,
                    format!("`{topic}` is not a Pub/Sub topic"),
                )
                .hint("topics are named `projects/PROJECT/topics/TOPIC`");
            }
        }
        if webhook.is_none() && pubsub.is_none() {
            sink.error(
                n.pos,
                Code::MissingKey,
                "`notify` names neither a `webhook` nor a `pubsub` topic",
            );
        }
        config.notify = Some(NotifyConfig {
            webhook,
            pubsub,
            envs: crate::config::env_list(sink, &n, env_names),
        });
    }
    config
}

fn step(sink: &mut Sink<'_>, f: &Fields<'_>, env_names: &[&str]) -> Option<ReleaseStep> {
    let name = reader::nonempty_string(sink, f.get("name")?, "`name`")?;
    let node = f.get("command")?;
    let args = reader::string_list(sink, node, "`command`", false)?;
    let command: Vec<String> = args.iter().map(|(s, _)| s.clone()).collect();
    if command.is_empty() {
        sink.error(
            node.pos,
            Code::InvalidValue,
            format!("release step `{name}` has an empty command"),
        );
        return None;
    }
    if let Some(code) = inline_code_index(&command) {
        for (arg, pos) in &args[..=code] {
            if let Some(placeholder) = placeholders(arg).first() {
                sink.error(
                    *pos,
                    Code::InvalidValue,
                    format!(
                        "`{{{placeholder}}}` would become program text in release step `{name}`"
                    ),
                )
                .width(arg.chars().count())
                .hint(format!(
                    "a value from the manifest or config is never code: pass it as its own argument after the script, e.g. [{}, '… \"$1\" …', {}, \"{{{placeholder}}}\"]",
                    command[..code].join(", "),
                    command[0]
                ));
            }
        }
    }
    for (arg, pos) in &args {
        for placeholder in placeholders(arg) {
            let known = STEP_PLACEHOLDERS.iter().any(|p| match p.split_once(':') {
                Some((prefix, _)) => placeholder
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix(':'))
                    .is_some_and(|rest| !rest.is_empty()),
                None => *p == placeholder,
            });
            if !known {
                sink.error(
                    *pos,
                    Code::InvalidValue,
                    format!("unknown placeholder `{{{placeholder}}}` in release step `{name}`"),
                )
                .hint(format!(
                    "known: {}",
                    STEP_PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    Some(ReleaseStep {
        name,
        command,
        dir: f
            .get("dir")
            .and_then(|n| reader::nonempty_string(sink, n, "`dir`"))
            .map(PathBuf::from),
        envs: crate::config::env_list(sink, f, env_names),
        timeout_secs: f
            .get("timeout_secs")
            .and_then(|n| reader::positive_int(sink, n, "`timeout_secs`", false)),
    })
}

/// Programs that run a script given inline, and the options that take it.
const INLINE_CODE: &[(&str, &[&str])] = &[
    ("sh", &["-c"]),
    ("bash", &["-c"]),
    ("dash", &["-c"]),
    ("zsh", &["-c"]),
    ("ksh", &["-c"]),
    ("ash", &["-c"]),
    ("busybox", &["-c"]),
    ("fish", &["-c", "--command"]),
    ("python", &["-c"]),
    ("python3", &["-c"]),
    ("node", &["-e", "--eval", "-p", "--print"]),
    ("perl", &["-e", "-E"]),
    ("ruby", &["-e"]),
    ("psql", &["-c", "--command"]),
];

/// Programs that run the rest of their arguments as a command.
const WRAPPERS: &[&str] = &["env", "nice", "nohup", "sudo", "exec", "command", "time"];

/// The index of the argument that holds inline program text (the script of
/// `sh -c SCRIPT`, `python3 -c CODE`, …), looking through `env` and other
/// wrappers. Everything up to it is read as code.
fn inline_code_index(command: &[String]) -> Option<usize> {
    let program = |arg: &str| arg.rsplit('/').next().unwrap_or(arg).to_string();
    let mut i = 0;
    while i < command.len() && WRAPPERS.contains(&program(&command[i]).as_str()) {
        i += 1;
        // `env -i A=b`, `nice -n 5`: the wrapper's options and assignments.
        while i < command.len() && (command[i].starts_with('-') || command[i].contains('=')) {
            i += 1;
        }
    }
    let prog = program(command.get(i)?);
    let flags = INLINE_CODE
        .iter()
        .find(|(p, _)| {
            *p == prog
                || prog
                    .strip_prefix(p)
                    .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        })?
        .1;
    let is_shell =
        flags == ["-c"] && prog != "python" && !prog.starts_with("python") && prog != "psql";
    for (j, arg) in command.iter().enumerate().skip(i + 1) {
        if arg == "--" || !arg.starts_with('-') {
            return None;
        }
        // A shell takes `-c` inside a cluster such as `-ceu`.
        let code = flags.contains(&arg.as_str())
            || (is_shell && !arg.starts_with("--") && arg[1..].contains('c'))
            || flags
                .iter()
                .any(|f| f.starts_with("--") && arg.starts_with(&format!("{f}=")));
        if code {
            return if arg.contains('=') {
                Some(j)
            } else {
                Some((j + 1).min(command.len() - 1))
            };
        }
    }
    None
}

/// The `{…}` placeholders in `text`.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push(&rest[start + 1..start + len]);
        rest = &rest[start + len + 1..];
    }
    out
}
