//! Repo readiness: each module's checkout is a git work tree of its own,
//! the pinned commit exists and is on the module's branch, the checkout is
//! at it, and nothing in the tree is modified or untracked.

use std::path::{Path, PathBuf};
use std::process::Command;

use preflight_manifest::{CheckoutPolicy, GitRef, Manifest};
use serde::Serialize;

use crate::platform::Platform;

/// How one module's checkout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoState {
    /// At the pin, on the branch, clean.
    Ready,
    /// Not ready; the detail says why.
    NotReady,
    /// Not verified, because the environment says `checkout: skip`.
    Skipped,
}

/// One module's checkout against its pin.
#[derive(Debug, Clone, Serialize)]
pub struct RepoCheck {
    /// The module's name.
    pub module: String,
    /// Where its checkout is.
    pub dir: PathBuf,
    /// What the manifest pins.
    pub pin: String,
    /// Where it stands.
    pub state: RepoState,
    /// Why, for people.
    pub detail: String,
}

/// What [`Platform::check_repos`] does.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepoOptions {
    /// Fetch each checkout's remote before checking (`git fetch origin`).
    pub fetch: bool,
    /// The environment's checkout policy.
    pub policy: CheckoutPolicy,
}

impl Platform {
    /// Checks the checkout of every module the manifest pins a commit for,
    /// in config order. Blocking (runs `git`).
    pub fn check_repos(&self, manifest: &Manifest, options: RepoOptions) -> Vec<RepoCheck> {
        let mut out = Vec::new();
        for module in &self.config.modules {
            let repo_key = module.repo.display().to_string();
            let Some(pin) = manifest
                .commits
                .get(&module.name)
                .or_else(|| manifest.commits.get(&repo_key))
            else {
                continue;
            };
            let dir = self.root().join(&module.repo);
            let (state, detail) = if options.policy == CheckoutPolicy::Skip {
                (
                    RepoState::Skipped,
                    "not verified: the environment says `checkout: skip`".to_string(),
                )
            } else {
                match check_checkout(&dir, pin, &module.branch, options.fetch) {
                    Ok(detail) => (RepoState::Ready, detail),
                    Err(why) => (RepoState::NotReady, why),
                }
            };
            out.push(RepoCheck {
                module: module.name.clone(),
                dir,
                pin: pin.to_string(),
                state,
                detail,
            });
        }
        out
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<(bool, String), String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    } else {
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    };
    Ok((out.status.success(), text))
}

/// `Ok(summary)` when `dir` is a clean checkout at `pin` on `branch`.
fn check_checkout(dir: &Path, pin: &GitRef, branch: &str, fetch: bool) -> Result<String, String> {
    if !dir.is_dir() {
        return Err(format!("{} does not exist", dir.display()));
    }
    // The folder must be a work tree's top, not a folder inside another repository.
    let (ok, top) = git(dir, &["rev-parse", "--show-toplevel"])?;
    let canonical = dir.canonicalize().map_err(|e| e.to_string())?;
    if !ok || Path::new(&top).canonicalize().ok().as_deref() != Some(canonical.as_path()) {
        return Err(format!(
            "{} is not a git checkout (set `checkout: skip` on the environment if the release builds elsewhere)",
            dir.display()
        ));
    }
    if fetch {
        let (ok, text) = git(dir, &["fetch", "--quiet", "origin"])?;
        if !ok {
            return Err(format!("git fetch failed: {text}"));
        }
    }
    let (ok, wanted) = git(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{pin}^{{commit}}"),
        ],
    )?;
    if !ok || wanted.is_empty() {
        return Err(format!(
            "the pinned {pin} is not in the checkout (fetch it, or --fetch)"
        ));
    }
    let branch_ref = ["refs/remotes/origin/", "refs/heads/"]
        .iter()
        .map(|prefix| format!("{prefix}{branch}"))
        .find(|r| git(dir, &["rev-parse", "--verify", "--quiet", r]).is_ok_and(|(ok, _)| ok))
        .ok_or_else(|| format!("the branch `{branch}` is not in the checkout"))?;
    let (on_branch, _) = git(dir, &["merge-base", "--is-ancestor", &wanted, &branch_ref])?;
    if !on_branch {
        return Err(format!(
            "the pinned {pin} ({}) is not on `{branch}`: it is not an ancestor of {branch_ref} (an unmerged branch?)",
            short(&wanted)
        ));
    }
    let (_, head) = git(dir, &["rev-parse", "HEAD"])?;
    if head != wanted {
        return Err(format!(
            "checkout is at {}, the manifest pins {pin} ({})",
            short(&head),
            short(&wanted)
        ));
    }
    let (ok, dirty) = git(dir, &["status", "--porcelain", "--untracked-files=all"])?;
    if !ok {
        return Err(format!("git status failed: {dirty}"));
    }
    if !dirty.is_empty() {
        let files: Vec<&str> = dirty.lines().collect();
        let shown: Vec<&str> = files.iter().take(5).map(|l| l.trim()).collect();
        return Err(format!(
            "{} modified or untracked file(s): {}{}",
            files.len(),
            shown.join(", "),
            if files.len() > 5 { ", …" } else { "" }
        ));
    }
    Ok(format!("at {pin} ({}) on {branch}, clean", short(&wanted)))
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}
