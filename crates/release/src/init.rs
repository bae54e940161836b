//! `preflight init`: a first `preflight.yaml` from what a platform's folders
//! already say. Each module's migrations (an `alembic.ini` and its
//! versions, `supabase/migrations`, numbered `.sql` files, `app/migrations`
//! scripts), its test suites (gates), its `.env.example` (parity probes and
//! the Secret Manager keys it needs), release manifests already written
//! (module and image names), a checklist document and Cloud Build files.
//! It writes a commented config, a manifest template and a checklist
//! binding skeleton, never replaces a file, and refuses to write a config
//! that does not validate.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use preflight_manifest::{PlatformConfig, RawManifest};
use serde::Serialize;

use crate::error::Error;

/// What to scan.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The platform's folder.
    pub dir: PathBuf,
    /// The platform's name (default: the folder's name).
    pub platform: Option<String>,
}

/// What `init` found and wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InitReport {
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Files that already existed, left as they were.
    pub kept: Vec<PathBuf>,
    /// What was found, one line each, for people.
    pub found: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Alembic,
    Supabase,
    Sql,
    Python,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Alembic => "alembic",
            Kind::Supabase => "supabase",
            Kind::Sql => "sql",
            Kind::Python => "python",
        }
    }
}

#[derive(Debug, Default)]
struct ModuleScan {
    name: String,
    exists: bool,
    git_repo: bool,
    migrations: Option<(Kind, String)>,
    /// Other migration folders seen (one source per module is configured).
    also: Vec<String>,
    /// (folder relative to the platform, has an `integration` marker).
    pytest: Option<(String, bool)>,
    env_example: Option<String>,
    env_local: Option<String>,
    images: Vec<String>,
    cloudbuild: Vec<String>,
}

/// Folders that are not modules.
const NOT_MODULES: &[&str] = &[
    "docs",
    "contracts",
    "release-manifests",
    "manifests",
    "schemas",
    "node_modules",
    "target",
    "venv",
    "dist",
    "build",
];

/// Scans `options.dir` and writes `preflight.yaml`, a manifest template
/// and a checklist skeleton beside it (each only when it does not exist).
pub async fn init(options: &InitOptions) -> Result<InitReport, Error> {
    let dir = std::path::absolute(&options.dir).map_err(|source| Error::Read {
        path: options.dir.clone(),
        source,
    })?;
    if !dir.is_dir() {
        return Err(Error::Refused(format!(
            "{} is not a folder to scan",
            dir.display()
        )));
    }
    let mut report = InitReport::default();
    let platform = options.platform.clone().unwrap_or_else(|| {
        slug(
            &dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "platform".into()),
        )
    });

    // Release manifests already written name modules and images.
    let manifests_dir = ["release-manifests", "manifests"]
        .into_iter()
        .find(|d| dir.join(d).is_dir())
        .unwrap_or("release-manifests");
    let manifests = read_manifests(&dir.join(manifests_dir));
    let mut modules: Vec<ModuleScan> = Vec::new();
    for entry in sorted_dirs(&dir) {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || NOT_MODULES.contains(&name.as_str()) {
            continue;
        }
        let scan = scan_module(&dir, &name);
        let named = manifests.iter().any(|m| m.commits.contains_key(&name));
        if named
            || scan.migrations.is_some()
            || scan.pytest.is_some()
            || scan.env_example.is_some()
            || scan.git_repo
            || !scan.cloudbuild.is_empty()
        {
            modules.push(scan);
        }
    }
    for m in &manifests {
        for name in m.commits.keys() {
            if !modules.iter().any(|s| &s.name == name) && valid_name(name) {
                modules.push(ModuleScan {
                    name: name.clone(),
                    ..ModuleScan::default()
                });
            }
        }
    }
    if modules.is_empty() {
        return Err(Error::Refused(format!(
            "found no module in {}: no migrations, test suites, `.env.example`, release manifests or git repositories; run init in the platform's folder",
            dir.display()
        )));
    }
    modules.sort_by(|a, b| b.exists.cmp(&a.exists).then(a.name.cmp(&b.name)));
    // Images: each pinned image goes to the module whose name prefixes it.
    let mut images: Vec<&String> = manifests.iter().flat_map(|m| m.images.keys()).collect();
    images.sort();
    images.dedup();
    for image in images {
        let owner = modules
            .iter_mut()
            .filter(|m| image == &m.name || image.starts_with(&format!("{}-", m.name)))
            .max_by_key(|m| m.name.len());
        if let Some(owner) = owner {
            owner.images.push(image.clone());
        }
    }

    // Environments the manifests are for (`2026-02-14-prod` → `prod`).
    let mut cloud_envs: Vec<String> = manifests
        .iter()
        .filter_map(|m| m.release_id.get(11..).map(str::to_string))
        .filter(|e| e != crate::LOCAL_ENV && valid_name(e))
        .collect();
    cloud_envs.sort_by_key(|e| env_rank(e));
    cloud_envs.dedup();
    let checklist = find_checklist(&dir);
    let all_git = modules.iter().filter(|m| m.exists).all(|m| m.git_repo);
    for m in &modules {
        let mut parts = Vec::new();
        if let Some((kind, d)) = &m.migrations {
            parts.push(format!("{} migrations in {d}", kind.as_str()));
        }
        if let Some((d, _)) = &m.pytest {
            parts.push(format!("pytest suite in {d}"));
        }
        if let Some(e) = &m.env_example {
            parts.push(e.clone());
        }
        if !m.images.is_empty() {
            parts.push(format!("images {}", m.images.join(", ")));
        }
        parts.extend(m.cloudbuild.iter().cloned());
        if !m.exists {
            parts.push("named in a release manifest, no folder here".into());
        }
        report
            .found
            .push(format!("module {}: {}", m.name, parts.join("; ")));
    }
    if let Some(c) = &checklist {
        report.found.push(format!("checklist {c}"));
    }

    let config_text = config_text(
        &platform,
        manifests_dir,
        &modules,
        checklist.as_deref(),
        all_git,
        &cloud_envs,
    );
    let config_path = dir.join("preflight.yaml");
    // Fail closed: a config this writes must be one Preflight accepts.
    let checked = PlatformConfig::check(&config_path, &config_text);
    if checked.has_errors() {
        return Err(Error::InvalidConfig {
            rendered: checked.render(),
        });
    }
    write_new(&config_path, &config_text, &mut report)?;

    let date = jiff::Zoned::now().date();
    let manifest_path = dir.join(manifests_dir).join(format!("{date}-local.yaml"));
    let manifest_text = manifest_template(&date.to_string(), &dir, &modules).await;
    write_new(&manifest_path, &manifest_text, &mut report)?;

    if checklist.is_none() {
        let path = dir.join("docs").join("release_checklist.md");
        write_new(&path, &checklist_skeleton(&modules), &mut report)?;
    }
    Ok(report)
}

fn write_new(path: &Path, text: &str, report: &mut InitReport) -> Result<(), Error> {
    if path.exists() {
        report.kept.push(path.to_path_buf());
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(f) => f,
        // Created between the check and now: still never replaced.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            report.kept.push(path.to_path_buf());
            return Ok(());
        }
        Err(source) => {
            return Err(Error::Write {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    report.written.push(path.to_path_buf());
    Ok(())
}

fn slug(text: &str) -> String {
    let s: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "platform".into() } else { s }
}

/// Module and image names Preflight accepts (and YAML needs no quoting for).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    sorted_entries(dir)
        .into_iter()
        .filter(|p| p.is_dir())
        .collect()
}

fn read_manifests(dir: &Path) -> Vec<RawManifest> {
    sorted_entries(dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|t| serde_saphyr::from_str::<RawManifest>(&t).ok())
        .collect()
}

/// Whether a file of `dir` has a name `wanted` accepts.
fn has_file(dir: &Path, wanted: impl Fn(&str) -> bool) -> bool {
    sorted_entries(dir)
        .iter()
        .filter_map(|p| p.file_name())
        .any(|n| wanted(&n.to_string_lossy()))
}

/// Every file and folder under `root` down to `depth`, skipping hidden
/// folders, dependencies and build output.
fn walk(root: &Path, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0)];
    while let Some((dir, d)) = stack.pop() {
        for path in sorted_entries(&dir) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                if name.starts_with('.')
                    || matches!(
                        name.as_str(),
                        "node_modules" | "target" | "venv" | "__pycache__"
                    )
                {
                    continue;
                }
                if d + 1 < depth {
                    stack.push((path.clone(), d + 1));
                }
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A folder's entries (files and folders) in name order; none when unreadable.
fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    all.sort();
    all
}

fn rel(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn scan_module(platform: &Path, name: &str) -> ModuleScan {
    let root = platform.join(name);
    let mut scan = ModuleScan {
        name: name.to_string(),
        exists: true,
        git_repo: root.join(".git").exists(),
        ..ModuleScan::default()
    };
    let files = walk(&root, 4);
    let mut sources: Vec<(Kind, String)> = Vec::new();
    for path in &files {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = path.parent().unwrap_or(&root);
        if file == "alembic.ini" && path.is_file() {
            if let Some(versions) = alembic_versions(path) {
                sources.push((Kind::Alembic, rel(&root, &versions)));
            }
        } else if path.is_dir() && path.ends_with("supabase/migrations") {
            sources.push((Kind::Supabase, rel(&root, path)));
        } else if path.is_dir()
            && matches!(file.as_str(), "schema" | "migrations")
            && !path.ends_with("supabase/migrations")
            && numbered_sql(path)
        {
            sources.push((Kind::Sql, rel(&root, path)));
        } else if path.is_dir()
            && file == "migrations"
            && !path.join("env.py").is_file()
            && !path.join("versions").is_dir()
            && python_scripts(path)
        {
            sources.push((Kind::Python, rel(&root, path)));
        } else if path.is_file()
            && (file == "pytest.ini"
                || (file == "pyproject.toml"
                    && std::fs::read_to_string(path).is_ok_and(|t| t.contains("[tool.pytest"))))
            && scan.pytest.is_none()
        {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let integration = text
                .lines()
                .any(|l| l.trim_start().starts_with("integration"));
            scan.pytest = Some((rel(platform, parent), integration));
        } else if file == ".env.example" && path.is_file() && scan.env_example.is_none() {
            scan.env_example = Some(rel(platform, path));
            let local = parent.join(".env.local");
            if local.is_file() {
                scan.env_local = Some(rel(platform, &local));
            }
        } else if file.starts_with("cloudbuild")
            && (file.ends_with(".yaml") || file.ends_with(".yml"))
        {
            scan.cloudbuild.push(rel(platform, path));
        }
    }
    // An `.env.example` one level up from a nested `tests/` still counts.
    if scan.pytest.is_none() && root.join("tests").is_dir() {
        scan.pytest = Some((name.to_string(), false));
    }
    sources.sort_by_key(|(k, d)| (*k as u8, d.len()));
    let mut sources = sources.into_iter();
    scan.migrations = sources.next();
    scan.also = sources
        .map(|(k, d)| format!("{} in {d}", k.as_str()))
        .collect();
    scan
}

/// Alembic's versions folder for an `alembic.ini`: `version_locations` when
/// set, else `<script_location>/versions`.
fn alembic_versions(ini: &Path) -> Option<PathBuf> {
    let here = ini.parent()?;
    let text = std::fs::read_to_string(ini).ok()?;
    let location = text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "script_location")
            .then(|| v.trim().replace("%(here)s", &here.to_string_lossy()))
    })?;
    let location = if Path::new(&location).is_absolute() {
        PathBuf::from(location)
    } else {
        here.join(location)
    };
    let versions = location.join("versions");
    let project =
        preflight_migrate::AlembicProject::locate(std::slice::from_ref(&versions), false).ok()?;
    project.versions.into_iter().next().filter(|v| v.is_dir())
}

fn numbered_sql(dir: &Path) -> bool {
    has_file(dir, |n| {
        n.ends_with(".sql") && n.starts_with(|c: char| c.is_ascii_digit())
    })
}

fn python_scripts(dir: &Path) -> bool {
    has_file(dir, |n| n.ends_with(".py") && !n.starts_with('_'))
}

fn find_checklist(dir: &Path) -> Option<String> {
    walk(&dir.join("docs"), 2)
        .into_iter()
        .find(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| e == "md")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().to_lowercase().contains("checklist"))
        })
        .map(|p| rel(dir, &p))
}

fn database_of(module: &str) -> String {
    module.replace(['-', '.'], "_")
}

/// The usual order of environments; others after them, by name.
fn env_rank(env: &str) -> (usize, String) {
    let rank = ["dev", "staging", "prod"]
        .iter()
        .position(|e| *e == env)
        .unwrap_or(3);
    (rank, env.to_string())
}

fn config_text(
    platform: &str,
    manifests_dir: &str,
    modules: &[ModuleScan],
    checklist: Option<&str>,
    all_git: bool,
    cloud_envs: &[String],
) -> String {
    let cloud_list = format!("[{}]", cloud_envs.join(", "));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# yaml-language-server: $schema=https://raw.githubusercontent.com/preflight-release/preflight/main/schemas/preflight.schema.json"
    );
    let _ = writeln!(
        out,
        "# Written by `preflight init` from what the folders say; review every\n\
         # line. Reference: docs/configuration.md of Preflight, or\n\
         # `preflight schema reference`. Check it with `preflight doctor --env local`."
    );
    let _ = writeln!(out, "platform: {platform}");
    let _ = writeln!(out, "manifests: {manifests_dir}");
    if let Some(c) = checklist {
        let _ = writeln!(
            out,
            "\n# The production checklist the release ticks and gates on."
        );
        let _ = writeln!(out, "checklist:\n  file: {c}");
        let _ = writeln!(
            out,
            "  # Sections that must be complete before the build, e.g. 1-5:"
        );
        let _ = writeln!(out, "  # before_build: 1-5");
        let _ = writeln!(
            out,
            "  # Items the release checks itself, with the step's evidence:"
        );
        let _ = writeln!(out, "  # bindings:");
        for m in modules.iter().filter(|m| m.migrations.is_some()) {
            let _ = writeln!(out, "  #   - item: \"<id>\"\n  #     migration: {}", m.name);
        }
        let _ = writeln!(out, "  #   - item: \"<id>\"\n  #     phase: backup");
    }
    let migrated: Vec<&ModuleScan> = modules.iter().filter(|m| m.migrations.is_some()).collect();
    if !migrated.is_empty() {
        let _ = writeln!(
            out,
            "\n# One database per migrated module; rename to your databases' names."
        );
        let _ = writeln!(out, "databases:");
        for m in &migrated {
            let _ = writeln!(out, "  {}: {{}}", database_of(&m.name));
        }
    }
    let _ = writeln!(out, "\nmodules:");
    for m in modules {
        let mut body = String::new();
        if let Some((kind, dir)) = &m.migrations {
            let _ = writeln!(body, "    database: {}", database_of(&m.name));
            if !m.images.is_empty() {
                let _ = writeln!(body, "    images: [{}]", m.images.join(", "));
            }
            let _ = writeln!(
                body,
                "    migrations:\n      kind: {}\n      dir: {dir}",
                kind.as_str()
            );
            for other in &m.also {
                let _ = writeln!(body, "      # also found: {other} (one source per module)");
            }
        } else if !m.images.is_empty() {
            let _ = writeln!(body, "    images: [{}]", m.images.join(", "));
        }
        for cb in &m.cloudbuild {
            let _ = writeln!(
                body,
                "    # found {cb}: `preflight gcp build-config` writes one from a manifest"
            );
        }
        if body.trim().is_empty() || body.lines().all(|l| l.trim_start().starts_with('#')) {
            let _ = writeln!(out, "  {}: {{}}", m.name);
            out.push_str(&body);
        } else {
            let _ = writeln!(out, "  {}:", m.name);
            out.push_str(&body);
        }
    }
    let _ = writeln!(out, "\nenvironments:");
    let _ = writeln!(
        out,
        "  # The rehearsal: every database on the project's own PostgreSQL cluster."
    );
    let _ = writeln!(out, "  local:");
    if !all_git {
        let _ = writeln!(
            out,
            "    # Modules here are folders, not checkouts of their own: not verified.\n    checkout: skip"
        );
    }
    if !migrated.is_empty() {
        let _ = writeln!(out, "    databases:");
        for m in &migrated {
            let _ = writeln!(out, "      {}: local", database_of(&m.name));
        }
    }
    let cloud_skeleton = |out: &mut String, name: &str, prefix: &str| {
        let protected = if name == "prod" {
            format!("{prefix}  protected: true\n{prefix}  drift: hard\n")
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "{prefix}  gcp_project: <project>\n{prefix}  region: us-central1\n\
             {prefix}  registry: gcr.io/<project>\n{prefix}  artifacts: gs://<bucket>/preflight\n{protected}"
        );
        if !migrated.is_empty() {
            let _ = writeln!(out, "{prefix}  databases:");
            for m in &migrated {
                let _ = writeln!(
                    out,
                    "{prefix}    {}: secret://projects/<project>/secrets/{}-database-url",
                    database_of(&m.name),
                    m.name
                );
            }
        }
    };
    if cloud_envs.is_empty() {
        let _ = writeln!(
            out,
            "  # A cloud environment (uncomment and fill in):\n  # prod:"
        );
        cloud_skeleton(&mut out, "prod", "  #");
    }
    for env in cloud_envs {
        let _ = writeln!(
            out,
            "  # Named by a release manifest; fill in and uncomment:\n  {env}: {{}}"
        );
        cloud_skeleton(&mut out, env, "  #");
    }
    let tested: Vec<&ModuleScan> = modules.iter().filter(|m| m.pytest.is_some()).collect();
    if !tested.is_empty() {
        let _ = writeln!(
            out,
            "\n# Test suites: hard gates stop the release, soft ones warn."
        );
        let _ = writeln!(out, "gates:");
        for m in &tested {
            let Some((dir, integration)) = &m.pytest else {
                continue;
            };
            if *integration && !cloud_envs.is_empty() {
                let _ = writeln!(
                    out,
                    "  - name: {n}-tests\n    command: [pytest, -m, \"not integration\"]\n    dir: {dir}\n    severity: hard\n  - name: {n}-integration-tests\n    command: [pytest, -m, integration]\n    dir: {dir}\n    severity: soft\n    envs: {cloud_list}",
                    n = m.name
                );
            } else {
                let _ = writeln!(
                    out,
                    "  - name: {}-tests\n    command: [pytest]\n    dir: {dir}\n    severity: hard",
                    m.name
                );
            }
        }
    }
    let with_env: Vec<&ModuleScan> = modules.iter().filter(|m| m.env_example.is_some()).collect();
    if !with_env.is_empty() {
        let _ = writeln!(
            out,
            "\n# `.env` files against their example (values are never shown)."
        );
        let _ = writeln!(out, "probes:");
        for m in &with_env {
            let example = m.env_example.as_deref().unwrap_or_default();
            if let Some(local) = &m.env_local {
                let _ = writeln!(
                    out,
                    "  - name: {n}-env\n    kind: env_parity\n    module: {n}\n    example: {example}\n    actual: {local}\n    envs: [local]",
                    n = m.name
                );
            }
            let actual = Path::new(example).with_file_name(".env");
            let (prefix, envs) = if cloud_envs.is_empty() {
                ("# ", "[prod]".to_string())
            } else {
                ("", cloud_list.clone())
            };
            let probe = format!(
                "  - name: {n}-env-release\n    kind: env_parity\n    module: {n}\n    example: {example}\n    actual: {}\n    envs: {envs}",
                actual.display(),
                n = m.name
            );
            for line in probe.lines() {
                let _ = writeln!(out, "{prefix}{line}");
            }
        }
        let _ = writeln!(
            out,
            "\n# Every `.env.example` key as a Secret Manager secret (`preflight gcp doctor`):"
        );
        let _ = writeln!(out, "# gcp:\n#   secrets:");
        for m in &with_env {
            let _ = writeln!(
                out,
                "#     - module: {}\n#       env_example: {}",
                m.name,
                m.env_example.as_deref().unwrap_or_default()
            );
        }
    }
    out
}

/// A manifest for the rehearsal: commits from checkouts' HEAD where the
/// module is a git repository, every migration file pinned; the
/// rest as placeholders that fail validation until filled in.
async fn manifest_template(date: &str, dir: &Path, modules: &[ModuleScan]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# yaml-language-server: $schema=https://raw.githubusercontent.com/preflight-release/preflight/main/schemas/release-manifest.schema.json"
    );
    let _ = writeln!(
        out,
        "# Written by `preflight init`: fill in every <placeholder>, then\n\
         #   preflight manifest validate <this file> --config preflight.yaml\n\
         #   preflight release run --env local --manifest <this file>"
    );
    let _ = writeln!(out, "release_id: {date}-local");
    let _ = writeln!(out, "description: <what this release ships>\n\ncommits:");
    for m in modules {
        let pin = if m.git_repo {
            preflight_manifest::head_commit(&dir.join(&m.name), true).ok()
        } else {
            None
        };
        let _ = writeln!(
            out,
            "  {}: {}",
            m.name,
            pin.unwrap_or_else(|| "<git-sha-or-tag>".into())
        );
    }
    let with_images: Vec<&ModuleScan> = modules.iter().filter(|m| !m.images.is_empty()).collect();
    if !with_images.is_empty() {
        let _ = writeln!(out, "\nimages:");
        for m in with_images {
            for image in &m.images {
                let _ = writeln!(out, "  {image}: <registry>/{image}:<tag>");
            }
        }
    }
    let migrated: Vec<&ModuleScan> = modules.iter().filter(|m| m.migrations.is_some()).collect();
    if !migrated.is_empty() {
        let _ = writeln!(out, "\nmigrations:");
        for m in migrated {
            let Some((kind, rel_dir)) = &m.migrations else {
                continue;
            };
            let folder = dir.join(&m.name).join(rel_dir);
            let pin = match kind {
                Kind::Alembic => preflight_migrate::AlembicProject::locate(&[folder], false)
                    .ok()
                    .and_then(|p| p.graph().ok())
                    .map(|(g, _)| g.heads().iter().map(|h| h.to_string()).collect::<Vec<_>>())
                    .filter(|h| h.len() == 1)
                    .map(|h| format!("\"{}\"", h[0])),
                Kind::Sql | Kind::Supabase => migration_pins(*kind, rel_dir, folder).await,
                Kind::Python => None,
            };
            let line = pin.unwrap_or_else(|| match kind {
                Kind::Python => "[python:<script>]  # every script, in the order they run".into(),
                _ => "<target>".into(),
            });
            let _ = writeln!(out, "  {}: {line}", m.name);
        }
    }
    out
}

/// Every migration of a SQL or Supabase folder as a pin list, in the
/// order Preflight applies them (the migrate crate's own listing: numeric
/// for SQL, file-name byte order for Supabase, skipped files left out);
/// `None` when the folder cannot be listed or is empty.
async fn migration_pins(kind: Kind, rel_dir: &str, folder: PathBuf) -> Option<String> {
    use preflight_migrate::{MigrationSource as _, SqlDir, SupabaseDir};
    let (migrations, _) = match kind {
        Kind::Sql => SqlDir { dir: folder }.list().await,
        _ => SupabaseDir { dir: folder }.list().await,
    }
    .ok()?;
    let entries: Vec<String> = migrations
        .iter()
        .map(|m| match kind {
            Kind::Sql => format!(
                "sql:{rel_dir}/{}",
                m.path.file_name().unwrap_or_default().to_string_lossy()
            ),
            _ => format!("supabase:{}", m.version),
        })
        .collect();
    (!entries.is_empty()).then(|| format!("[{}]", entries.join(", ")))
}

fn checklist_skeleton(modules: &[ModuleScan]) -> String {
    let mut out = String::from(
        "# Release checklist\n\n\
         Written by `preflight init`. Tick items with `preflight checklist check ID -f \
         docs/release_checklist.md --by NAME --evidence …`; bind the ones the release checks \
         itself under `checklist.bindings` in `preflight.yaml`.\n\n\
         ## 1. Repository readiness\n\n\
         | Done | Owner | Action / Verification | Notes |\n\
         | --- | --- | --- | --- |\n",
    );
    for m in modules.iter().filter(|m| m.exists) {
        let _ = writeln!(
            out,
            "| [ ] | {} owner | `{}` is clean, at the commit the manifest pins |  |",
            m.name, m.name
        );
    }
    out.push_str(
        "\n## 2. Database migrations\n\n\
         | Done | Owner | Action / Verification | Notes |\n\
         | --- | --- | --- | --- |\n",
    );
    for m in modules.iter().filter(|m| m.migrations.is_some()) {
        let _ = writeln!(
            out,
            "| [ ] | {} owner | `{}` migrations applied to the manifest's pin |  |",
            m.name, m.name
        );
    }
    out.push_str(
        "| [ ] | Release commander | Backups of every database taken and verified |  |\n\n\
         ## 3. Sign-off\n\n\
         - [ ] Release commander approves the release\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins follow the order migrations apply in: numeric for SQL (not
    /// the name order `10_` before `2_`), skipped files left out.
    #[tokio::test]
    async fn sql_pins_follow_the_apply_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["1_a.sql", "2_b.sql", "10_c.sql", "README.md"] {
            std::fs::write(dir.path().join(name), "SELECT 1;\n").unwrap();
        }
        let pins = migration_pins(Kind::Sql, "db", dir.path().to_path_buf()).await;
        assert_eq!(
            pins.as_deref(),
            Some("[sql:db/1_a.sql, sql:db/2_b.sql, sql:db/10_c.sql]")
        );
    }
}
