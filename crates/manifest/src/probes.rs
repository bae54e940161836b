//! The `probes:` section of `preflight.yaml`: what `preflight verify` and the
//! release's verify and smoke phases check, per module and environment.
//!
//! This is configuration only: templates (`{services.NAME}`), relative paths
//! and `env:NAME` header values stay as written. The CLI resolves them for
//! one environment and builds `preflight-verify` probes from them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::Severity;
use crate::diagnostic::{Code, Sink};
use crate::reader::{self, Fields};
use crate::yaml::{Node, Value};

pub(crate) const COMMON_KEYS: &[&str] = &[
    "name",
    "kind",
    "module",
    "envs",
    "phase",
    "severity",
    "timeout_secs",
    "retries",
];
pub(crate) const HTTP_KEYS: &[&str] = &[
    "url",
    "method",
    "headers",
    "body",
    "expect_status",
    "body_contains",
    "body_regex",
    "json",
    "max_latency_ms",
];
pub(crate) const POLL_KEYS: &[&str] = &[
    "url",
    "method",
    "headers",
    "body",
    "expect_status",
    "capture",
    "poll_url",
    "until",
    "fail_when",
    "interval_ms",
];
pub(crate) const POSTGRES_KEYS: &[&str] = &["database", "contract"];
pub(crate) const COMMAND_KEYS: &[&str] = &["command", "dir", "env", "expect_exit"];
pub(crate) const ENV_PARITY_KEYS: &[&str] = &["example", "actual"];
pub(crate) const TCP_KEYS: &[&str] = &["address"];
pub(crate) const DBT_KEYS: &[&str] = &["run_results"];
pub(crate) const KINDS: &[&str] = &[
    "http",
    "poll",
    "postgres",
    "command",
    "env_parity",
    "tcp",
    "dbt",
];

/// A probe as `preflight.yaml` declares it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeConfig {
    pub name: String,
    /// The module the probe belongs to, if any (for `--only` and reports).
    pub module: Option<String>,
    /// Environments the probe runs in; all when empty.
    pub envs: Vec<String>,
    /// When the release runs it: `verify` (after migrating) or `smoke` (after deploying).
    pub phase: ProbePhase,
    pub severity: Severity,
    /// The probe's whole budget, retries included.
    pub timeout_secs: Option<u64>,
    /// Extra attempts after a failure (with backoff and jitter); 0 by default.
    pub retries: u32,
    pub check: ProbeCheck,
}

impl ProbeConfig {
    /// Whether the probe runs in `env`.
    pub fn runs_in(&self, env: &str) -> bool {
        self.envs.is_empty() || self.envs.iter().any(|e| e == env)
    }
}

/// When a release runs a probe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProbePhase {
    /// After migrating, before deploying.
    Verify,
    /// After deploying.
    Smoke,
}

/// What a probe checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProbeCheck {
    Http {
        request: RequestConfig,
        expect: ExpectConfig,
    },
    /// Send `request`, capture a value from its JSON answer, then poll
    /// `poll_url` (with `{captured}` replaced) until `until` holds.
    Poll {
        request: RequestConfig,
        expect_status: Vec<u16>,
        /// JSON pointer into the first answer, e.g. `/id`.
        capture: String,
        poll_url: String,
        until: Vec<JsonCondition>,
        fail_when: Vec<JsonCondition>,
        interval_ms: u64,
    },
    Postgres {
        database: String,
        /// The contract file, relative to the config's folder.
        contract: PathBuf,
    },
    Command {
        command: Vec<String>,
        dir: Option<PathBuf>,
        env: BTreeMap<String, String>,
        expect_exit: i32,
    },
    EnvParity {
        example: PathBuf,
        actual: PathBuf,
    },
    Tcp {
        address: String,
    },
    Dbt {
        run_results: PathBuf,
    },
}

/// An HTTP request; `url` may use `{services.NAME}`, header values `env:NAME`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestConfig {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}

/// What a good HTTP answer looks like.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectConfig {
    /// Accepted status codes; any 2xx when empty.
    pub status: Vec<u16>,
    pub body_contains: Option<String>,
    pub body_regex: Option<String>,
    pub json: Vec<JsonCondition>,
    pub max_latency_ms: Option<u64>,
}

/// A JSON pointer and the value it must equal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonCondition {
    pub pointer: String,
    pub equals: serde_json::Value,
}

pub(crate) fn probes(
    sink: &mut Sink<'_>,
    node: &Node,
    env_names: &[&str],
    db_names: &[&str],
    module_names: &[&str],
) -> Vec<ProbeConfig> {
    let items = reader::items(sink, node, "`probes` to be a list");
    let mut out: Vec<ProbeConfig> = Vec::new();
    for item in items {
        let kind = match &item.value {
            Value::Map(entries) => entries.iter().find_map(|(k, v)| {
                (k.value == Value::Str("kind".into())).then(|| (v.scalar_text(), v.pos))
            }),
            _ => None,
        };
        let kind_keys: &[&str] = match kind.as_ref().and_then(|(k, _)| k.as_deref()) {
            Some("http") => HTTP_KEYS,
            Some("poll") => POLL_KEYS,
            Some("postgres") => POSTGRES_KEYS,
            Some("command") => COMMAND_KEYS,
            Some("env_parity") => ENV_PARITY_KEYS,
            Some("tcp") => TCP_KEYS,
            Some("dbt") => DBT_KEYS,
            Some(other) => {
                let pos = kind.as_ref().map_or(item.pos, |(_, p)| *p);
                let d = sink.error(
                    pos,
                    Code::InvalidValue,
                    format!("unknown probe kind `{other}`"),
                );
                d.width(other.chars().count());
                d.hint(reader::closest_hint(
                    other,
                    KINDS.iter().copied(),
                    "expected one of",
                ));
                continue;
            }
            None => &[],
        };
        let allowed: Vec<&str> = COMMON_KEYS.iter().chain(kind_keys).copied().collect();
        let Some(f) = reader::fields(sink, item, "a probe", &allowed, &["name", "kind"]) else {
            continue;
        };
        let Some(name) = f
            .get("name")
            .and_then(|n| reader::nonempty_string(sink, n, "`name`"))
        else {
            continue;
        };
        if out.iter().any(|p| p.name == name) {
            sink.error(
                f.key_pos("name").unwrap_or(item.pos),
                Code::DuplicateKey,
                format!("probe `{name}` is defined twice"),
            );
        }
        let Some((Some(kind), _)) = kind else {
            continue;
        };
        let what = format!("probe `{name}`");
        let module = f.get("module").and_then(|n| {
            let m = reader::nonempty_string(sink, n, "`module`")?;
            crate::config::reference(sink, n, &m, module_names, "module", "modules");
            Some(m)
        });
        let envs = crate::config::env_list(sink, &f, env_names);
        let severity = crate::config::severity(sink, &f);
        let timeout_secs = f
            .get("timeout_secs")
            .and_then(|n| reader::positive_int(sink, n, "`timeout_secs`", false));
        let retries = f
            .get("retries")
            .and_then(|n| reader::positive_int(sink, n, "`retries`", true))
            .map_or(0, |r| r.min(u64::from(u32::MAX)) as u32);
        let default_phase = if matches!(kind.as_str(), "http" | "poll") {
            ProbePhase::Smoke
        } else {
            ProbePhase::Verify
        };
        let phase = match f.get("phase") {
            None => default_phase,
            Some(n) => match reader::string(sink, n, "`phase`").as_deref() {
                Some("verify") => ProbePhase::Verify,
                Some("smoke") => ProbePhase::Smoke,
                Some(other) => {
                    sink.error(
                        n.pos,
                        Code::InvalidValue,
                        format!("phase `{other}` is neither `verify` nor `smoke`"),
                    )
                    .width(other.chars().count());
                    default_phase
                }
                None => default_phase,
            },
        };
        let check = check(sink, &f, &kind, &what, db_names);
        let Some(check) = check else { continue };
        out.push(ProbeConfig {
            name,
            module,
            envs,
            phase,
            severity,
            timeout_secs,
            retries,
            check,
        });
    }
    out
}

fn check(
    sink: &mut Sink<'_>,
    f: &Fields<'_>,
    kind: &str,
    what: &str,
    db_names: &[&str],
) -> Option<ProbeCheck> {
    match kind {
        "http" => http(sink, f),
        "poll" => poll(sink, f, what),
        "postgres" => postgres(sink, f, what, db_names),
        "command" => command(sink, f, what),
        "env_parity" => Some(ProbeCheck::EnvParity {
            example: required_path(sink, f, "example", what)?,
            actual: required_path(sink, f, "actual", what)?,
        }),
        "tcp" => {
            let address = required_string(sink, f, "address", what)?;
            let port_ok = address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                sink.error(
                    f.get("address").map_or(f.pos, |n| n.pos),
                    Code::InvalidValue,
                    format!("`{address}` is not host:port"),
                )
                .width(address.chars().count());
            }
            Some(ProbeCheck::Tcp { address })
        }
        "dbt" => Some(ProbeCheck::Dbt {
            run_results: required_path(sink, f, "run_results", what)?,
        }),
        _ => None,
    }
}

fn required_string(sink: &mut Sink<'_>, f: &Fields<'_>, key: &str, what: &str) -> Option<String> {
    match f.get(key) {
        Some(n) => reader::nonempty_string(sink, n, &format!("`{key}`")),
        None => {
            sink.error(
                f.pos,
                Code::MissingKey,
                format!("{what} is missing the required key `{key}`"),
            );
            None
        }
    }
}

fn required_path(sink: &mut Sink<'_>, f: &Fields<'_>, key: &str, what: &str) -> Option<PathBuf> {
    required_string(sink, f, key, what).map(PathBuf::from)
}

fn string_map(sink: &mut Sink<'_>, node: &Node, what: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in reader::mapping(sink, node, what).unwrap_or_default() {
        if let (Some(k), Some(v)) = (
            reader::key_text(sink, k),
            reader::string(
                sink,
                v,
                &format!("{what}.{}", k.scalar_text().unwrap_or_default()),
            ),
        ) {
            out.insert(k, v);
        }
    }
    out
}

fn request(sink: &mut Sink<'_>, f: &Fields<'_>, what: &str) -> Option<RequestConfig> {
    let url = required_string(sink, f, "url", what)?;
    check_url_template(sink, f.get("url")?, &url);
    let method = f
        .get("method")
        .and_then(|n| reader::nonempty_string(sink, n, "`method`"))
        .map_or_else(|| "GET".to_string(), |m| m.to_ascii_uppercase());
    if !method.bytes().all(|b| b.is_ascii_uppercase()) {
        sink.error(
            f.get("method")?.pos,
            Code::InvalidValue,
            format!("`{method}` is not an HTTP method"),
        );
    }
    let headers = f
        .get("headers")
        .map(|n| string_map(sink, n, "`headers`"))
        .unwrap_or_default();
    let body = f
        .get("body")
        .and_then(|n| reader::string(sink, n, "`body`"));
    Some(RequestConfig {
        method,
        url,
        headers,
        body,
    })
}

/// URLs are absolute, or start with a `{services.NAME}` template.
fn check_url_template(sink: &mut Sink<'_>, node: &Node, url: &str) {
    let ok =
        url.starts_with("http://") || url.starts_with("https://") || url.starts_with("{services.");
    if !ok {
        sink.error(
            node.pos,
            Code::InvalidValue,
            format!("`{url}` is not an http(s) URL"),
        )
        .width(url.chars().count())
        .hint("write an absolute URL or start with `{services.NAME}`");
    }
}

fn status_list(sink: &mut Sink<'_>, f: &Fields<'_>) -> Vec<u16> {
    let Some(node) = f.get("expect_status") else {
        return Vec::new();
    };
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    items
        .into_iter()
        .filter_map(|n| match &n.value {
            Value::Number(t) if t.parse::<u16>().is_ok_and(|s| (100..600).contains(&s)) => {
                t.parse().ok()
            }
            other => {
                sink.error(
                    n.pos,
                    Code::InvalidValue,
                    format!(
                        "expected an HTTP status code (100–599), found {}",
                        n.scalar_text()
                            .map_or_else(|| other.kind().to_string(), |t| format!("`{t}`"))
                    ),
                );
                None
            }
        })
        .collect()
}

fn conditions(sink: &mut Sink<'_>, node: Option<&Node>, what: &str) -> Vec<JsonCondition> {
    let Some(node) = node else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in reader::mapping(sink, node, what).unwrap_or_default() {
        let Some(pointer) = reader::key_text(sink, k) else {
            continue;
        };
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            sink.error(
                k.pos,
                Code::InvalidValue,
                format!("`{pointer}` is not a JSON pointer"),
            )
            .width(pointer.chars().count())
            .hint(format!("JSON pointers start with `/`, e.g. `/{pointer}`"));
            continue;
        }
        out.push(JsonCondition {
            pointer,
            equals: json_value(v),
        });
    }
    out
}

fn json_value(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => serde_json::from_str(n).unwrap_or_else(|_| J::String(n.clone())),
        Value::Str(s) => J::String(s.clone()),
        Value::Seq(items) => J::Array(items.iter().map(json_value).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .filter_map(|(k, v)| Some((k.scalar_text()?, json_value(v))))
                .collect(),
        ),
    }
}

fn http(sink: &mut Sink<'_>, f: &Fields<'_>) -> Option<ProbeCheck> {
    let request = request(sink, f, "an http probe")?;
    let body_regex = f
        .get("body_regex")
        .and_then(|n| reader::nonempty_string(sink, n, "`body_regex`"));
    let max_latency_ms = f
        .get("max_latency_ms")
        .and_then(|n| reader::positive_int(sink, n, "`max_latency_ms`", false));
    Some(ProbeCheck::Http {
        request,
        expect: ExpectConfig {
            status: status_list(sink, f),
            body_contains: f
                .get("body_contains")
                .and_then(|n| reader::nonempty_string(sink, n, "`body_contains`")),
            body_regex,
            json: conditions(sink, f.get("json"), "`json`"),
            max_latency_ms,
        },
    })
}

fn poll(sink: &mut Sink<'_>, f: &Fields<'_>, what: &str) -> Option<ProbeCheck> {
    let request = request(sink, f, what)?;
    let capture = required_string(sink, f, "capture", what)?;
    let poll_url = required_string(sink, f, "poll_url", what)?;
    check_url_template(sink, f.get("poll_url")?, &poll_url);
    if !poll_url.contains("{captured}") {
        sink.warning(
            f.get("poll_url")?.pos,
            Code::InvalidValue,
            "`poll_url` does not use `{captured}`",
        )
        .hint("the captured value is usually part of the URL, e.g. /chat/response/{captured}");
    }
    let until = conditions(sink, f.get("until"), "`until`");
    if until.is_empty() {
        sink.error(
            f.pos,
            Code::MissingKey,
            format!("{what} needs `until`: the JSON condition that ends the poll"),
        );
        return None;
    }
    let interval_ms = f
        .get("interval_ms")
        .and_then(|n| reader::positive_int(sink, n, "`interval_ms`", false))
        .unwrap_or(1000);
    Some(ProbeCheck::Poll {
        request,
        expect_status: status_list(sink, f),
        capture,
        poll_url,
        until,
        fail_when: conditions(sink, f.get("fail_when"), "`fail_when`"),
        interval_ms,
    })
}

fn postgres(
    sink: &mut Sink<'_>,
    f: &Fields<'_>,
    what: &str,
    db_names: &[&str],
) -> Option<ProbeCheck> {
    let database = required_string(sink, f, "database", what)?;
    crate::config::reference(
        sink,
        f.get("database")?,
        &database,
        db_names,
        "database",
        "databases",
    );
    Some(ProbeCheck::Postgres {
        database,
        contract: required_path(sink, f, "contract", what)?,
    })
}

fn command(sink: &mut Sink<'_>, f: &Fields<'_>, what: &str) -> Option<ProbeCheck> {
    let node = f.get("command");
    let command: Vec<String> = node
        .and_then(|n| reader::string_list(sink, n, "`command`", false))
        .unwrap_or_default()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    if command.is_empty() {
        sink.error(
            node.map_or(f.pos, |n| n.pos),
            Code::MissingKey,
            format!("{what} needs a non-empty `command` list"),
        );
        return None;
    }
    let expect_exit = match f.get("expect_exit") {
        Some(n) => reader::positive_int(sink, n, "`expect_exit`", true)
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(0),
        None => 0,
    };
    Some(ProbeCheck::Command {
        command,
        dir: f
            .get("dir")
            .and_then(|n| reader::nonempty_string(sink, n, "`dir`"))
            .map(PathBuf::from),
        env: f
            .get("env")
            .map(|n| string_map(sink, n, "`env`"))
            .unwrap_or_default(),
        expect_exit,
    })
}
