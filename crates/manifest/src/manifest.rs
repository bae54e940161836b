//! The release manifest: what a release pins, and its validation.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::Serialize;

use crate::diagnostic::{Code, Diagnostic, Pos, Severity, Sink};
use crate::gitref::{self, GitRef, GitRefProblem};
use crate::image::ImageRef;
use crate::reader::{self, pos_in_scalar};
use crate::yaml::{self, Node, Value};

/// The top-level keys of a manifest.
pub(crate) const MANIFEST_KEYS: &[&str] = &[
    "release_id",
    "description",
    "commits",
    "images",
    "migrations",
    "feature_flags",
];

/// Environments where a mutable image tag (`latest`, none) is tolerated.
const LENIENT_ENVS: &[&str] = &["local", "dev"];

/// A validated release manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub release_id: ReleaseId,
    pub description: Option<String>,
    /// Repository → pinned ref.
    pub commits: BTreeMap<String, GitRef>,
    /// Image name → reference.
    pub images: BTreeMap<String, ImageRef>,
    /// Module → migrations it must be at, in the order written.
    pub migrations: BTreeMap<String, Vec<MigrationPin>>,
    pub feature_flags: BTreeMap<String, FlagValue>,
}

/// `YYYY-MM-DD-<env>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ReleaseId {
    pub date: Date,
    pub env: String,
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.date, self.env)
    }
}

impl ReleaseId {
    /// Parses `YYYY-MM-DD-<env>`; the date must exist and env is `[a-z][a-z0-9-]*`.
    pub fn parse(text: &str) -> Result<ReleaseId, String> {
        let (date, env) = match (text.get(..10), text.get(10..11), text.get(11..)) {
            (Some(d), Some("-"), Some(e)) => (d, e),
            _ => return Err(format!("`{text}` is not of the form YYYY-MM-DD-<env>")),
        };
        let shape_ok = date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !shape_ok {
            return Err(format!("`{text}` is not of the form YYYY-MM-DD-<env>"));
        }
        let date: Date = date
            .parse()
            .map_err(|_| format!("`{date}` is not a real calendar date"))?;
        if !valid_env_name(env) {
            return Err(format!(
                "environment `{env}` must be lower-case letters, digits and `-`, starting with a letter"
            ));
        }
        Ok(ReleaseId {
            date,
            env: env.to_string(),
        })
    }
}

pub(crate) fn valid_env_name(env: &str) -> bool {
    env.starts_with(|c: char| c.is_ascii_lowercase())
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The kinds of migration a manifest can pin.
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
#[serde(rename_all = "lowercase")]
pub enum MigrationKind {
    /// An Alembic versions folder.
    Alembic,
    /// Ordered `.sql` files (sqlx, dbmate and Atlas markers honoured).
    Sql,
    /// Supabase CLI timestamped files and ledger.
    Supabase,
    /// `python -m app.migrations.X` scripts.
    Python,
}

impl MigrationKind {
    pub const ALL: [MigrationKind; 4] = [
        MigrationKind::Alembic,
        MigrationKind::Sql,
        MigrationKind::Supabase,
        MigrationKind::Python,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MigrationKind::Alembic => "alembic",
            MigrationKind::Sql => "sql",
            MigrationKind::Supabase => "supabase",
            MigrationKind::Python => "python",
        }
    }

    pub fn parse(text: &str) -> Option<MigrationKind> {
        MigrationKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One pinned migration: `alembic:<rev>`, `sql:<file>`, `supabase:<version>`, `python:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MigrationPin {
    pub kind: MigrationKind,
    pub name: String,
}

impl fmt::Display for MigrationPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

impl MigrationPin {
    /// Reads one entry. A bare value is an SQL file when it ends in `.sql`
    /// and an Alembic revision id otherwise, as the runbook's template writes them.
    pub fn parse(text: &str) -> Result<MigrationPin, String> {
        let (kind, name) = match text.split_once(':') {
            Some((k, n)) => match MigrationKind::parse(k) {
                Some(kind) => (kind, n),
                None => {
                    let kinds = MigrationKind::ALL.map(MigrationKind::as_str);
                    return Err(match reader::suggest(k, kinds) {
                        Some(s) => format!("unknown migration kind `{k}` (did you mean `{s}`?)"),
                        None => format!(
                            "unknown migration kind `{k}`; expected one of {}",
                            kinds.join(", ")
                        ),
                    });
                }
            },
            None if text.ends_with(".sql") => (MigrationKind::Sql, text),
            None => (MigrationKind::Alembic, text),
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("`{text}` names no migration after the kind"));
        }
        match kind {
            MigrationKind::Alembic => {
                if let Some(c) = name
                    .chars()
                    .find(|c| matches!(c, '@' | '-' | '+' | ':') || c.is_whitespace())
                {
                    return Err(format!("Alembic revision ids cannot contain {c:?}"));
                }
            }
            MigrationKind::Sql => {
                if !name.ends_with(".sql") {
                    return Err(format!("SQL migration `{name}` must name a `.sql` file"));
                }
                if name.split('/').any(|c| c == "..") || name.starts_with('/') {
                    return Err(format!(
                        "SQL migration `{name}` must be a path inside the module"
                    ));
                }
            }
            MigrationKind::Supabase => {
                if !name.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "Supabase version `{name}` must be the digits of the file name (e.g. 20260201120000)"
                    ));
                }
            }
            MigrationKind::Python => {
                let ident = |s: &str| {
                    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                if !name.split('.').all(ident) {
                    return Err(format!(
                        "Python migration `{name}` must be a module name (letters, digits, `_`)"
                    ));
                }
            }
        }
        Ok(MigrationPin {
            kind,
            name: name.to_string(),
        })
    }
}

/// A feature flag's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum FlagValue {
    Bool(bool),
    /// Kept as written (`0.25`, `100`).
    Number(String),
    String(String),
}

impl fmt::Display for FlagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagValue::Bool(b) => write!(f, "{b}"),
            FlagValue::Number(n) => f.write_str(n),
            FlagValue::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// What validation is measured against.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// The environment the manifest must be for (`release_id`'s suffix).
    pub expected_env: Option<String>,
    /// Environments the platform defines; another env in `release_id` is an error.
    pub known_envs: Option<Vec<String>>,
    /// What the platform config says, when one is known: every module the
    /// manifest names must exist, each pin must fit its module's flavour,
    /// and every database a module migrates needs a URL in the environment.
    pub platform: Option<PlatformFacts>,
}

/// The facts of a platform config a manifest is checked against
/// ([`crate::PlatformConfig::facts`]).
#[derive(Debug, Clone, Default)]
pub struct PlatformFacts {
    pub modules: Vec<ModuleFacts>,
    /// The environment's name and the databases it has URLs for, when one is known.
    pub env_databases: Option<(String, Vec<String>)>,
}

/// One module as a manifest sees it.
#[derive(Debug, Clone)]
pub struct ModuleFacts {
    pub name: String,
    /// The checkout folder, as `commits` may name it.
    pub repo: String,
    pub images: Vec<String>,
    /// The flavour and the migrations folder (relative to the repo).
    pub migrations: Option<(MigrationKind, String)>,
    pub database: Option<String>,
}

impl PlatformFacts {
    fn module(&self, name: &str) -> Option<&ModuleFacts> {
        self.modules.iter().find(|m| m.name == name)
    }
}

/// The result of checking one file: the value when it has no errors, and
/// every problem found (warnings come with a value too).
#[derive(Debug, Clone)]
pub struct Checked<T> {
    pub path: PathBuf,
    pub source: String,
    pub value: Option<T>,
    pub diagnostics: Vec<Diagnostic>,
}

impl<T> Checked<T> {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The rustc-style text of every problem, with a summary line.
    pub fn render(&self) -> String {
        crate::diagnostic::render_diagnostics(&self.diagnostics, Some(&self.source))
    }
}

impl Manifest {
    /// Parses and validates manifest text. `path` is only used in diagnostics.
    pub fn check(path: &Path, source: &str, options: &ValidateOptions) -> Checked<Manifest> {
        let mut sink = Sink::new(path);
        let value = match yaml::parse(source) {
            Ok(root) => validate(&mut sink, source, &root, options),
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

    /// Reads and checks a manifest file.
    pub fn load(path: &Path, options: &ValidateOptions) -> Result<Checked<Manifest>, crate::Error> {
        let source = crate::read_file(path)?;
        Ok(Manifest::check(path, &source, options))
    }

    /// The module a name (image or migration key) belongs to: the longest
    /// commit key equal to it or followed by `-` (`mobius-rag-worker` → `mobius-rag`).
    pub fn module_of<'a>(&'a self, name: &str) -> Option<&'a str> {
        module_of(self.commits.keys().map(String::as_str), name)
    }
}

pub(crate) fn module_of<'a>(modules: impl Iterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    modules
        .filter(|m| {
            name == *m
                || name
                    .strip_prefix(*m)
                    .is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|m| m.len())
}

pub(crate) fn syntax_error(sink: &mut Sink<'_>, e: yaml::SyntaxError) {
    if let Some(rest) = e.message.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        sink.error(e.pos, Code::DuplicateKey, format!("duplicate key `{key}`"))
            .width(key.chars().count())
            .hint("each key may appear once in a mapping; remove or merge the repeated entry");
    } else {
        sink.error(
            e.pos,
            Code::YamlSyntax,
            format!("invalid YAML: {}", e.message),
        );
    }
}

/// Template placeholders left in a value: `<...>` spans and `YYYY-MM-DD`-style dates.
pub(crate) fn placeholders(text: &str) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(start) = text[i..].find('<').map(|s| s + i) {
        match text[start..].find('>') {
            Some(len) if len > 1 && !text[start + 1..start + len].contains('<') => {
                found.push((start, &text[start..=start + len]));
                i = start + len + 1;
            }
            _ => i = start + 1,
        }
    }
    for token in ["YYYY-MM-DD", "YYYYMMDD", "YYYY-MM"] {
        if let Some(start) = text.find(token)
            && !found
                .iter()
                .any(|(s, t)| start >= *s && start < s + t.len())
        {
            found.push((start, token));
            break;
        }
    }
    for token in ["TODO", "CHANGEME", "FIXME", "xxxxxxx"] {
        if let Some(start) = text.find(token) {
            found.push((start, token));
        }
    }
    found.sort();
    found
}

/// Reports every placeholder in a scalar; true when there was one.
pub(crate) fn report_placeholders(
    sink: &mut Sink<'_>,
    source: &str,
    node: &Node,
    text: &str,
    what: &str,
) -> bool {
    let found = placeholders(text);
    for (at, token) in &found {
        let pos = pos_in_scalar(source, node, text, *at);
        sink.error(
            pos,
            Code::Placeholder,
            format!("template placeholder `{token}` left in {what}"),
        )
        .width(token.chars().count())
        .hint(placeholder_hint(token));
    }
    !found.is_empty()
}

fn placeholder_hint(token: &str) -> &'static str {
    match token {
        "<git-sha-or-tag>" => {
            "pin the repository: a full 40-character commit SHA or a release tag such as v1.4.2"
        }
        "<project>" => "write the GCP project id that hosts the image registry",
        "<tag>" => "write the image tag built for this release (the commit SHA or version tag)",
        "<alembic_revision_id>" => {
            "write the Alembic revision id the module must be at (`alembic heads`)"
        }
        t if t.starts_with('Y') => "write the release date, e.g. 2026-02-14",
        _ => "replace the placeholder with a real value",
    }
}

fn validate(
    sink: &mut Sink<'_>,
    source: &str,
    root: &Node,
    options: &ValidateOptions,
) -> Option<Manifest> {
    if root.value == Value::Null {
        sink.error(root.pos, Code::MissingKey, "the manifest is empty")
            .hint("start from `preflight manifest new --env dev`");
        return None;
    }
    let fields = reader::fields(
        sink,
        root,
        "the manifest",
        MANIFEST_KEYS,
        &["release_id", "commits"],
    )?;

    let release_id = fields
        .get("release_id")
        .and_then(|node| release_id(sink, source, node, options));
    let lenient = release_id
        .as_ref()
        .is_none_or(|r| LENIENT_ENVS.contains(&r.env.as_str()));

    let description = fields.get("description").and_then(|n| match n.value {
        Value::Null => None,
        _ => reader::string(sink, n, "`description`"),
    });

    let mut commits = BTreeMap::new();
    if let Some(node) = fields.get("commits") {
        for (key, value) in section(sink, node, "commits", Severity::Error) {
            let what = format!("`commits.{key}`");
            if !crate::config::is_identifier(&key) {
                sink.error(
                    value.pos,
                    Code::InvalidValue,
                    format!("`{}` is not a module name", key.escape_debug()),
                )
                .hint("module names are letters, digits, `-` and `_`, starting with a letter");
                continue;
            }
            let Some(text) = reader::nonempty_string(sink, value, &what) else {
                continue;
            };
            if report_placeholders(sink, source, value, &text, &what) {
                continue;
            }
            let width = text.chars().count();
            match gitref::classify(&text) {
                Ok(r) => {
                    if let GitRef::ShortSha(s) = &r {
                        sink.warning(value.pos, Code::ShortSha, format!("{what} is an abbreviated SHA `{s}`"))
                            .width(width)
                            .hint("abbreviated SHAs can become ambiguous; pin the full 40-character SHA (`git rev-parse`)");
                    }
                    commits.insert(key, r);
                }
                Err(GitRefProblem::Branch) => {
                    sink.error(
                        value.pos,
                        Code::MutableRef,
                        format!("{what} names the branch `{text}`, which moves"),
                    )
                    .width(width)
                    .hint("pin a full commit SHA or a release tag");
                }
                Err(GitRefProblem::BadSemver(why)) => {
                    sink.error(
                        value.pos,
                        Code::InvalidCommit,
                        format!("{what} tag `{text}` is not a valid version: {why}"),
                    )
                    .width(width)
                    .hint("version tags must be semver, e.g. v1.4.0");
                }
                Err(GitRefProblem::Invalid(why)) => {
                    sink.error(
                        value.pos,
                        Code::InvalidCommit,
                        format!("{what} is neither a full commit SHA nor a tag: {why}"),
                    )
                    .width(width)
                    .hint("pin a full 40-character commit SHA or a release tag");
                }
            }
        }
    }
    let commit_keys: Vec<String> = fields
        .get("commits")
        .and_then(|n| match &n.value {
            Value::Map(entries) => Some(
                entries
                    .iter()
                    .filter_map(|(k, _)| k.scalar_text())
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default();

    let mut images = BTreeMap::new();
    if let Some(node) = fields.get("images") {
        for (key, value) in section(sink, node, "images", Severity::Warning) {
            let what = format!("`images.{key}`");
            if !crate::image::valid_path_component(&key) {
                sink.error(
                    value.pos,
                    Code::InvalidValue,
                    format!(
                        "image name `{}` is not a valid image repository name",
                        key.escape_debug()
                    ),
                )
                .hint("lower-case letters and digits, separated by `.`, `_`, `__` or `-`");
                continue;
            }
            let Some(text) = reader::nonempty_string(sink, value, &what) else {
                continue;
            };
            if report_placeholders(sink, source, value, &text, &what) {
                continue;
            }
            let width = text.chars().count();
            let image = match text.parse::<ImageRef>() {
                Ok(i) => i,
                Err(e) => {
                    sink.error(
                        value.pos,
                        Code::InvalidImage,
                        format!("{what} is not a valid image reference: {e}"),
                    )
                    .width(width)
                    .hint("write registry/repository:tag, e.g. gcr.io/my-project/api:v1.4.2");
                    continue;
                }
            };
            if image.is_mutable() {
                let env = release_id
                    .as_ref()
                    .map_or_else(|| "this".to_string(), |r| format!("the `{}`", r.env));
                let message = match &image.tag {
                    Some(_) => format!("{what} uses the `latest` tag, which does not pin a build"),
                    None => format!("{what} has no tag or digest, so it means `latest`"),
                };
                let severity = if lenient {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                sink.push(value.pos, severity, Code::MutableImageTag, message)
                    .width(width)
                    .hint(format!(
                        "pin a tag (the commit SHA or version) or a digest; mutable tags are refused in {env} environment"
                    ));
            }
            match module_of(commit_keys.iter().map(String::as_str), &key) {
                None => {
                    let kp = key_pos(node, &key);
                    sink.error(kp, Code::MissingCommit, format!("image `{key}` belongs to no module in `commits`"))
                        .width(key.chars().count())
                        .hint("add the module's repository to `commits`, or name the image `<module>-<component>`");
                }
                Some(module) => {
                    if let (Some(tag), Some(GitRef::Sha(sha) | GitRef::ShortSha(sha))) =
                        (&image.tag, commits.get(module))
                    {
                        let tag_is_sha = tag.len() >= 7
                            && tag.len() <= 64
                            && tag.bytes().all(|b| b.is_ascii_hexdigit());
                        if tag_is_sha
                            && !sha.starts_with(tag.as_str())
                            && !tag.starts_with(sha.as_str())
                        {
                            let severity = if lenient {
                                Severity::Warning
                            } else {
                                Severity::Error
                            };
                            sink.push(value.pos, severity, Code::ImageCommitMismatch, format!(
                                "{what} is tagged with commit `{tag}` but `commits.{module}` pins `{sha}`"
                            ))
                            .width(width)
                            .hint("rebuild the image from the pinned commit, or pin the commit the image was built from");
                        }
                    }
                }
            }
            images.insert(key, image);
        }
    }

    let mut migrations = BTreeMap::new();
    if let Some(node) = fields.get("migrations") {
        for (key, value) in section(sink, node, "migrations", Severity::Warning) {
            let what = format!("`migrations.{key}`");
            let entries: Vec<&Node> = match &value.value {
                Value::Seq(items) => {
                    if items.is_empty() {
                        sink.warning(
                            value.pos,
                            Code::EmptySection,
                            format!("{what} lists no migrations"),
                        )
                        .hint("remove the entry, or list the migrations the module must be at");
                    }
                    items.iter().collect()
                }
                _ => vec![value],
            };
            let mut pins = Vec::new();
            let mut pin_pos = Vec::new();
            for entry in entries {
                let Some(text) = reader::nonempty_string(sink, entry, &what) else {
                    continue;
                };
                if report_placeholders(sink, source, entry, &text, &what) {
                    continue;
                }
                match MigrationPin::parse(&text) {
                    Ok(pin) => {
                        pins.push(pin);
                        pin_pos.push((entry.pos, text.chars().count()));
                    }
                    Err(why) => {
                        sink.error(entry.pos, Code::InvalidMigration, format!("{what}: {why}"))
                            .width(text.chars().count())
                            .hint("write `kind:name` with kind alembic, sql, supabase or python, e.g. python:add_publish_tables");
                    }
                }
            }
            if module_of(commit_keys.iter().map(String::as_str), &key).is_none() {
                sink.error(
                    key_pos(node, &key),
                    Code::MissingCommit,
                    format!("module `{key}` has migrations but no pinned commit"),
                )
                .width(key.chars().count())
                .hint(format!(
                    "add `{key}` to `commits` so the migrations come from a known revision"
                ));
            }
            if let Some(facts) = &options.platform {
                check_pins(sink, facts, &key, key_pos(node, &key), &pins, &pin_pos);
            }
            migrations.insert(key, pins);
        }
    }
    if let Some(facts) = &options.platform {
        check_modules(sink, facts, &fields, release_id.as_ref());
    }

    let mut feature_flags = BTreeMap::new();
    if let Some(node) = fields.get("feature_flags") {
        for (key, value) in section(sink, node, "feature_flags", Severity::Warning) {
            let what = format!("`feature_flags.{key}`");
            let flag = match &value.value {
                Value::Bool(b) => FlagValue::Bool(*b),
                Value::Number(n) => FlagValue::Number(n.clone()),
                Value::Str(s) => {
                    if report_placeholders(sink, source, value, s, &what) {
                        continue;
                    }
                    FlagValue::String(s.clone())
                }
                other => {
                    sink.error(
                        value.pos,
                        Code::InvalidFlag,
                        format!(
                            "{what} is {}, but flags are booleans, strings or numbers",
                            other.kind()
                        ),
                    )
                    .hint("write `true`/`false`, a number or a string");
                    continue;
                }
            };
            feature_flags.insert(key, flag);
        }
    }

    Some(Manifest {
        release_id: release_id?,
        description,
        commits,
        images,
        migrations,
        feature_flags,
    })
}

fn release_id(
    sink: &mut Sink<'_>,
    source: &str,
    node: &Node,
    options: &ValidateOptions,
) -> Option<ReleaseId> {
    let text = reader::nonempty_string(sink, node, "`release_id`")?;
    if report_placeholders(sink, source, node, &text, "`release_id`") {
        return None;
    }
    let width = text.chars().count();
    let id = match ReleaseId::parse(&text) {
        Ok(id) => id,
        Err(why) => {
            sink.error(
                node.pos,
                Code::InvalidReleaseId,
                format!("invalid `release_id`: {why}"),
            )
            .width(width)
            .hint("write the release date and environment, e.g. 2026-02-14-prod");
            return None;
        }
    };
    if let Some(known) = &options.known_envs
        && !known.contains(&id.env)
    {
        let at = pos_in_scalar(source, node, &text, 11);
        let d = sink.error(
            at,
            Code::EnvMismatch,
            format!(
                "environment `{}` is not defined in the platform config",
                id.env
            ),
        );
        d.width(id.env.chars().count());
        d.hint(reader::closest_hint(
            &id.env,
            known.iter().map(String::as_str),
            "defined environments",
        ));
    }
    if let Some(expected) = &options.expected_env
        && &id.env != expected
    {
        let at = pos_in_scalar(source, node, &text, 11);
        sink.error(
            at,
            Code::EnvMismatch,
            format!("this release is for `{}`, not `{expected}`", id.env),
        )
        .width(id.env.chars().count())
        .hint(format!(
            "use `preflight manifest promote --to {expected}` to make a {expected} manifest"
        ));
    }
    Some(id)
}

/// The entries of a name → value section; an empty section is reported with `empty`.
fn section<'n>(
    sink: &mut Sink<'_>,
    node: &'n Node,
    name: &str,
    empty: Severity,
) -> Vec<(String, &'n Node)> {
    let entries = match &node.value {
        Value::Null => &[][..],
        _ => match reader::mapping(sink, node, &format!("`{name}`")) {
            Some(e) => e,
            None => return Vec::new(),
        },
    };
    if entries.is_empty() {
        sink.push(
            node.pos,
            empty,
            Code::EmptySection,
            format!("`{name}` is empty"),
        )
        .hint(match name {
            "commits" => "pin at least one repository: `<repo>: <full-sha-or-tag>`".to_string(),
            _ => format!("remove `{name}` or fill it in"),
        });
    }
    entries
        .iter()
        .filter_map(|(k, v)| reader::key_text(sink, k).map(|k| (k, v)))
        .collect()
}

fn key_pos(section: &Node, key: &str) -> Pos {
    match &section.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
            .map_or(section.pos, |(k, _)| k.pos),
        _ => section.pos,
    }
}

/// The manifest's `migrations.<key>` against the module the config defines.
fn check_pins(
    sink: &mut Sink<'_>,
    facts: &PlatformFacts,
    key: &str,
    key_pos: Pos,
    pins: &[MigrationPin],
    pin_pos: &[(Pos, usize)],
) {
    let Some(module) = facts.module(key) else {
        let names: Vec<&str> = facts.modules.iter().map(|m| m.name.as_str()).collect();
        let d = sink
            .error(
                key_pos,
                Code::UnknownModule,
                format!("`migrations.{key}` names a module the platform config does not define"),
            )
            .width(key.chars().count());
        d.hint(reader::closest_hint(key, names.iter().copied(), "modules"));
        return;
    };
    let Some((kind, dir)) = &module.migrations else {
        sink.error(
            key_pos,
            Code::PinKindMismatch,
            format!(
                "`migrations.{key}`: module `{key}` declares no migrations in the platform config"
            ),
        )
        .width(key.chars().count())
        .hint("remove the entry, or add `migrations:` to the module in preflight.yaml");
        return;
    };
    let allowed: &[MigrationKind] = match kind {
        MigrationKind::Alembic => &[MigrationKind::Alembic],
        MigrationKind::Sql => &[MigrationKind::Sql],
        MigrationKind::Supabase => &[MigrationKind::Supabase, MigrationKind::Sql],
        MigrationKind::Python => &[MigrationKind::Python, MigrationKind::Sql],
    };
    for (pin, (pos, width)) in pins.iter().zip(pin_pos) {
        if !allowed.contains(&pin.kind) {
            sink.error(
                *pos,
                Code::PinKindMismatch,
                format!(
                    "`migrations.{key}`: `{pin}` is a {} pin, but `{key}` migrates with {}",
                    pin.kind.as_str(),
                    kind.as_str()
                ),
            )
            .width(*width)
            .hint(format!(
                "pin {} for this module",
                allowed
                    .iter()
                    .map(|k| format!("`{}:…`", k.as_str()))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
            continue;
        }
        // A file pin with a folder must name the module's own migrations folder.
        if matches!(kind, MigrationKind::Sql | MigrationKind::Supabase)
            && let Some((folder, _)) = pin.name.rsplit_once('/')
            && folder.trim_end_matches('/') != dir.trim_end_matches('/')
        {
            sink.error(
                *pos,
                Code::PinKindMismatch,
                format!(
                    "`migrations.{key}`: `{pin}` is not in the module's migrations folder `{dir}`"
                ),
            )
            .width(*width)
            .hint(format!("pin a file of `{dir}` by its full name"));
        }
    }
    if *kind == MigrationKind::Alembic && pins.len() > 1 {
        sink.error(
            key_pos,
            Code::PinKindMismatch,
            format!(
                "`migrations.{key}` pins {} Alembic revisions; pin one (the head to reach)",
                pins.len()
            ),
        )
        .width(key.chars().count());
    }
}

/// Every module the manifest names exists, and every database a pinned
/// module migrates has a URL in the environment.
fn check_modules(
    sink: &mut Sink<'_>,
    facts: &PlatformFacts,
    fields: &reader::Fields<'_>,
    release_id: Option<&ReleaseId>,
) {
    let names: Vec<&str> = facts.modules.iter().map(|m| m.name.as_str()).collect();
    if let Some(node) = fields.get("commits")
        && let Value::Map(entries) = &node.value
    {
        for (k, _) in entries {
            let Value::Str(key) = &k.value else { continue };
            let key = key.as_str();
            if facts.modules.iter().any(|m| m.name == key || m.repo == key) {
                continue;
            }
            let d = sink
                .error(
                    k.pos,
                    Code::UnknownModule,
                    format!("`commits.{key}` names a module the platform config does not define"),
                )
                .width(key.chars().count());
            d.hint(reader::closest_hint(key, names.iter().copied(), "modules"));
        }
    }
    if let Some(node) = fields.get("images")
        && let Value::Map(entries) = &node.value
    {
        for (k, _) in entries {
            let Value::Str(key) = &k.value else { continue };
            let key = key.as_str();
            if facts
                .modules
                .iter()
                .any(|m| m.images.iter().any(|i| i == key))
            {
                continue;
            }
            sink.error(
                k.pos,
                Code::UnknownModule,
                format!("`images.{key}` is not an image of any module in the platform config"),
            )
            .width(key.chars().count())
            .hint("add it to a module's `images:` in preflight.yaml, or remove it");
        }
    }
    let Some((env, urls)) = &facts.env_databases else {
        return;
    };
    let pos = fields.get("release_id").map_or(
        Pos {
            line: 1,
            column: 1,
            offset: Some(0),
        },
        |n| n.pos,
    );
    let _ = release_id;
    for module in &facts.modules {
        let (Some(_), Some(db)) = (&module.migrations, &module.database) else {
            continue;
        };
        if !urls.contains(db) {
            sink.error(
                pos,
                Code::MissingDatabaseUrl,
                format!(
                    "module `{}` migrates database `{db}`, which environment `{env}` has no URL for",
                    module.name
                ),
            )
            .hint(format!("add `{db}` under environments.{env}.databases in preflight.yaml"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_ids() {
        let id = ReleaseId::parse("2026-02-14-prod").unwrap();
        assert_eq!(id.env, "prod");
        assert_eq!(id.to_string(), "2026-02-14-prod");
        assert!(ReleaseId::parse("2026-02-30-prod").is_err());
        assert!(ReleaseId::parse("2026-2-14-prod").is_err());
        assert!(ReleaseId::parse("2026-02-14").is_err());
        assert!(ReleaseId::parse("2026-02-14-Prod").is_err());
    }

    #[test]
    fn migration_pins() {
        assert_eq!(
            MigrationPin::parse("python:add_publish_tables")
                .unwrap()
                .kind,
            MigrationKind::Python
        );
        assert_eq!(
            MigrationPin::parse("db/schema/002_x.sql").unwrap().kind,
            MigrationKind::Sql
        );
        assert_eq!(
            MigrationPin::parse("ab12cd34ef56").unwrap().kind,
            MigrationKind::Alembic
        );
        assert_eq!(
            MigrationPin::parse("supabase:20260201120000").unwrap().name,
            "20260201120000"
        );
        assert!(
            MigrationPin::parse("pyhton:x")
                .unwrap_err()
                .contains("did you mean `python`")
        );
        assert!(MigrationPin::parse("supabase:v1").is_err());
        assert!(MigrationPin::parse("sql:../x.sql").is_err());
    }

    #[test]
    fn placeholder_scan() {
        let found: Vec<_> = placeholders("gcr.io/<project>/api:<tag>")
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(found, ["<project>", "<tag>"]);
        assert_eq!(placeholders("YYYY-MM-DD-dev"), [(0, "YYYY-MM-DD")]);
        assert!(placeholders("v1.4.2").is_empty());
    }

    #[test]
    fn module_matching_prefers_longest() {
        let mods = ["mobius", "mobius-rag", "mobius-rag-ops"];
        assert_eq!(
            module_of(mods.into_iter(), "mobius-rag-worker"),
            Some("mobius-rag")
        );
        assert_eq!(
            module_of(mods.into_iter(), "mobius-rag-ops-x"),
            Some("mobius-rag-ops")
        );
        assert_eq!(module_of(mods.into_iter(), "other"), None);
    }
}
