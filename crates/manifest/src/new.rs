//! A new manifest from the runbook's template (`dev_dry_run_playbook.md` §3).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::civil::Date;

use crate::Error;
use crate::config::PlatformConfig;
use crate::manifest::{MigrationKind, valid_env_name};

/// The repositories of the runbook's template, in its order.
pub const TEMPLATE_REPOS: &[&str] = &[
    "mobius-os",
    "mobius-rag",
    "mobius-chat",
    "mobius-dbt",
    "mobius-auth",
    "mobius-skills",
    "mobius-user",
    "mobius-qa",
];

/// The template exactly as the dry-run playbook gives it.
pub const TEMPLATE: &str = include_str!("template.yaml");

/// What to fill in.
#[derive(Debug, Clone)]
pub struct NewOptions {
    pub env: String,
    /// The release date; today when `None`.
    pub date: Option<Date>,
    /// Repositories to pin from a local checkout's HEAD: (repo name, directory).
    pub pins: Vec<(String, PathBuf)>,
    /// Pin a checkout even when it has uncommitted changes.
    pub allow_dirty: bool,
}

/// Writes a manifest for `options.env`: from the platform config's modules
/// when one is given, otherwise from the runbook's template. Repositories
/// not pinned keep the `<git-sha-or-tag>` placeholder, so the result fails
/// validation until every one is filled in.
pub fn new_manifest(
    config: Option<&PlatformConfig>,
    options: &NewOptions,
) -> Result<String, Error> {
    if !valid_env_name(&options.env) {
        return Err(Error::InvalidEnv {
            env: options.env.clone(),
        });
    }
    let date = options.date.unwrap_or_else(|| jiff::Zoned::now().date());
    let release_id = format!("{date}-{}", options.env);
    let mut pinned = Vec::new();
    for (repo, dir) in &options.pins {
        pinned.push((repo.clone(), head_commit(dir, options.allow_dirty)?));
    }
    let pin_of = |repo: &str| {
        pinned
            .iter()
            .find(|(r, _)| r == repo)
            .map(|(_, sha)| sha.clone())
    };

    let Some(config) = config else {
        for (repo, _) in &pinned {
            if !TEMPLATE_REPOS.contains(&repo.as_str()) {
                return Err(Error::UnknownRepo { repo: repo.clone() });
            }
        }
        let mut out = String::new();
        for line in TEMPLATE.lines() {
            let trimmed = line.trim_start();
            if line.starts_with("release_id:") {
                let _ = writeln!(out, "release_id: {release_id}");
            } else if let Some((repo, sha)) = trimmed
                .split_once(": <git-sha-or-tag>")
                .and_then(|(repo, _)| pin_of(repo).map(|sha| (repo.to_string(), sha)))
            {
                let _ = writeln!(out, "  {repo}: {sha}");
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        return Ok(out);
    };

    for (repo, _) in &pinned {
        if !config.modules.iter().any(|m| &m.name == repo) {
            return Err(Error::UnknownRepo { repo: repo.clone() });
        }
    }
    let registry = config
        .environments
        .iter()
        .find(|e| e.name == options.env)
        .and_then(|e| e.registry.clone())
        .unwrap_or_else(|| "gcr.io/<project>".to_string());
    let mut out = String::new();
    let _ = writeln!(out, "release_id: {release_id}");
    let _ = writeln!(out, "description: <what this release ships>");
    let _ = writeln!(out, "\ncommits:");
    for m in &config.modules {
        let _ = writeln!(
            out,
            "  {}: {}",
            m.name,
            pin_of(&m.name).unwrap_or_else(|| "<git-sha-or-tag>".into())
        );
    }
    let with_images: Vec<_> = config
        .modules
        .iter()
        .filter(|m| !m.images.is_empty())
        .collect();
    if !with_images.is_empty() {
        let _ = writeln!(out, "\nimages:");
        for m in with_images {
            let tag = pin_of(&m.name).unwrap_or_else(|| "<tag>".into());
            for image in &m.images {
                let _ = writeln!(out, "  {image}: {registry}/{image}:{tag}");
            }
        }
    }
    let with_migrations: Vec<_> = config
        .modules
        .iter()
        .filter_map(|m| m.migrations.as_ref().map(|s| (m, s)))
        .collect();
    if !with_migrations.is_empty() {
        let _ = writeln!(out, "\nmigrations:");
        for (m, source) in with_migrations {
            let placeholder = match source.kind {
                MigrationKind::Alembic => "<alembic_revision_id>",
                MigrationKind::Sql => "sql:<file.sql>",
                MigrationKind::Supabase => "supabase:<version>",
                MigrationKind::Python => "[python:<script>]",
            };
            let _ = writeln!(out, "  {}: {placeholder}", m.name);
        }
    }
    let _ = writeln!(out, "\nfeature_flags: {{}}");
    Ok(out)
}

/// The commit a checkout is at, refusing uncommitted or untracked changes
/// unless `allow_dirty` (an untracked file may be a migration nobody committed).
pub fn head_commit(dir: &Path, allow_dirty: bool) -> Result<String, Error> {
    let sha = git(dir, &["rev-parse", "--verify", "HEAD"])?;
    if !allow_dirty {
        let status = git(dir, &["status", "--porcelain"])?;
        if !status.is_empty() {
            return Err(Error::DirtyCheckout {
                dir: dir.to_path_buf(),
                files: status
                    .lines()
                    .map(|l| l.get(3..).unwrap_or(l).to_string())
                    .collect(),
            });
        }
    }
    Ok(sha)
}

fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|source| Error::GitSpawn {
            dir: dir.to_path_buf(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Git {
            dir: dir.to_path_buf(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
