//! Generates a Cloud Build config (`cloudbuild.yaml`) from a release
//! manifest and `preflight.yaml`: a check that the build was given this
//! manifest (`_RELEASE_MANIFEST`), one step per module that checks out its
//! pinned commit (and fails the build when the commit is missing), one
//! build per pinned image from that checkout, one push per image, then
//! each migration job set to its pinned image and run to completion, then
//! one deploy per Cloud Run service in `gcp.services` (its service account
//! and Direct VPC egress from the config). `build_only` stops after the
//! pushes, for a release whose own phases migrate and deploy.
//!
//! No step runs a shell over a value from the manifest or config: every
//! value is its own argument (Cloud Build runs `args` without a shell) or
//! an environment variable of a fixed script, and `$` is written `$$` so
//! Cloud Build's substitution leaves it alone.

use std::collections::BTreeMap;

use preflight_manifest::{Manifest, PlatformConfig};
use serde::Serialize;

use crate::Error;

/// What the generated config is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfigOptions {
    /// The manifest's path as the build sees it (relative to the build's
    /// source root), the default of `_RELEASE_MANIFEST`.
    pub manifest_path: String,
    /// The environment deployed to (its project and region).
    pub env: String,
    /// Only check out, build and push: the release's own phases run the
    /// migration jobs and deploy (`gcp.build` with `gcp.rollout`).
    pub build_only: bool,
}

/// The checkout step's script: fixed text, the folder and commit come in
/// as `REPO_DIR` and `COMMIT`. A commit the clone does not have is fetched
/// once; if it is still missing the build fails, naming it.
const CHECKOUT_SCRIPT: &str = "set -eu; \
git -C \"$$REPO_DIR\" cat-file -e \"$$COMMIT^{commit}\" 2>/dev/null || git -C \"$$REPO_DIR\" fetch --quiet origin \"$$COMMIT\" || true; \
git -C \"$$REPO_DIR\" cat-file -e \"$$COMMIT^{commit}\" 2>/dev/null || { echo \"$$REPO_DIR: commit $$COMMIT is missing\" >&2; exit 1; }; \
git -C \"$$REPO_DIR\" checkout --quiet --detach \"$$COMMIT\"; \
echo \"$$REPO_DIR at $$(git -C \"$$REPO_DIR\" rev-parse HEAD)\"";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CloudBuildFile {
    steps: Vec<Step>,
    images: Vec<String>,
    substitutions: BTreeMap<String, String>,
    tags: Vec<String>,
    timeout: String,
    options: BuildOptions,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildOptions {
    logging: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Step {
    id: String,
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    wait_for: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entrypoint: Option<&'static str>,
    args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env: Vec<String>,
}

/// `value` as Cloud Build passes it through: `$` would start a substitution.
fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

/// The `cloudbuild.yaml` text for `manifest` in `options.env`.
pub fn build_config(
    manifest: &Manifest,
    config: &PlatformConfig,
    options: &BuildConfigOptions,
) -> Result<String, Error> {
    let env = config
        .environment(&options.env)
        .ok_or_else(|| Error::BuildConfig {
            reason: format!("no environment `{}` in the config", options.env),
        })?;
    let project = env
        .gcp_project
        .as_deref()
        .ok_or_else(|| Error::BuildConfig {
            reason: format!("environment `{}` has no gcp_project", env.name),
        })?;
    if manifest.release_id.env != env.name {
        return Err(Error::BuildConfig {
            reason: format!(
                "the manifest is for `{}`, not `{}`",
                manifest.release_id.env, env.name
            ),
        });
    }

    // The release runs this trigger in its build phase, before the freeze,
    // the gates and the backup; when it also migrates (a job per module) or
    // deploys (canaries) itself, a build that did either would run them a
    // second time, ahead of every gate.
    let release_builds = config.gcp.build.is_some();
    let release_deploys =
        config.gcp.rollout.is_some() || config.gcp.jobs.values().any(|j| j.module.is_some());
    if release_builds && release_deploys && !options.build_only {
        return Err(Error::BuildConfig {
            reason: "the release runs this build (gcp.build) and migrates and deploys itself (gcp.rollout, gcp.jobs.*.module), so a build that also migrated and deployed would do both before the freeze and the gates; generate it with --build-only".to_string(),
        });
    }
    // The path is a substitution's default and a step's environment: plain
    // path characters only.
    let path_ok = !options.manifest_path.is_empty()
        && options
            .manifest_path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if !path_ok {
        return Err(Error::BuildConfig {
            reason: format!(
                "the manifest path `{}` may hold only letters, digits, `.`, `_`, `-` and `/`",
                options.manifest_path.escape_debug()
            ),
        });
    }
    // The check step fails the build when the trigger was run with another
    // manifest than the one this config was generated from.
    // The check step fails the build when the trigger was run with another
    // manifest than the one this config was generated from. The script is
    // fixed text; both paths reach it as environment variables.
    let mut steps = vec![Step {
        id: "check-release-manifest".to_string(),
        name: "gcr.io/cloud-builders/gcloud",
        dir: None,
        wait_for: vec!["-".to_string()],
        entrypoint: Some("bash"),
        args: vec![
            "-c".to_string(),
            "test \"$$RELEASE_MANIFEST\" = \"$$GENERATED_FOR\" || { echo \"this config was generated for $$GENERATED_FOR, not $$RELEASE_MANIFEST\" >&2; exit 1; }".to_string(),
        ],
        env: vec![
            "RELEASE_MANIFEST=${_RELEASE_MANIFEST}".to_string(),
            format!("GENERATED_FOR={}", options.manifest_path),
        ],
    }];
    let mut images = Vec::new();
    let mut builds = Vec::new();
    for module in &config.modules {
        let pinned: Vec<(&String, String)> = module
            .images
            .iter()
            .filter_map(|name| manifest.images.get(name).map(|r| (name, r.to_string())))
            .collect();
        let repo = module.repo.to_string_lossy().into_owned();
        let commit = manifest
            .commits
            .get(&module.name)
            .map(|c| c.to_string())
            .unwrap_or_default();
        if pinned.is_empty() {
            continue;
        }
        if commit.is_empty() {
            return Err(Error::BuildConfig {
                reason: format!(
                    "the manifest pins images of `{}` but no commit to build them from",
                    module.name
                ),
            });
        }
        let checkout = format!("checkout-{}", module.name);
        steps.push(Step {
            id: checkout.clone(),
            name: "gcr.io/cloud-builders/git",
            dir: None,
            wait_for: vec!["check-release-manifest".to_string()],
            entrypoint: Some("bash"),
            args: vec!["-c".to_string(), CHECKOUT_SCRIPT.to_string()],
            env: vec![
                format!("REPO_DIR={}", literal(&repo)),
                format!("COMMIT={}", literal(&commit)),
            ],
        });
        for (name, reference) in &pinned {
            let dockerfile = dockerfile_for(&module.name, name, pinned.len());
            builds.push(format!("build-{name}"));
            steps.push(Step {
                id: format!("build-{name}"),
                name: "gcr.io/cloud-builders/docker",
                dir: Some(literal(&repo)),
                wait_for: vec![checkout.clone()],
                entrypoint: None,
                args: [
                    "build",
                    "--file",
                    &dockerfile,
                    "--tag",
                    reference,
                    "--label",
                    &format!("org.opencontainers.image.revision={commit}"),
                    "--label",
                    &format!("preflight.release={}", manifest.release_id),
                    ".",
                ]
                .iter()
                .map(|a| literal(a))
                .collect(),
                env: Vec::new(),
            });
            images.push(reference.clone());
        }
    }
    if images.is_empty() {
        return Err(Error::BuildConfig {
            reason: "the manifest pins no image of any module".to_string(),
        });
    }
    // Deploys wait for every push, and pushes for every build, so a failed
    // build deploys nothing.
    let mut pushes = Vec::new();
    for reference in &images {
        let id = format!("push-{}", reference.rsplit('/').next().unwrap_or(reference))
            .split([':', '@'])
            .next()
            .unwrap_or_default()
            .to_string();
        pushes.push(id.clone());
        steps.push(Step {
            id,
            name: "gcr.io/cloud-builders/docker",
            dir: None,
            wait_for: builds.clone(),
            entrypoint: None,
            args: vec!["push".to_string(), literal(reference)],
            env: Vec::new(),
        });
    }
    let gcloud = |id: String, wait_for: Vec<String>, args: Vec<String>| Step {
        id,
        name: "gcr.io/cloud-builders/gcloud",
        dir: None,
        wait_for,
        entrypoint: None,
        args: args.iter().map(|a| literal(a)).collect(),
        env: Vec::new(),
    };
    // Jobs and services are found by region: never a guessed one.
    let deploys = !options.build_only
        && (!config.gcp.services.is_empty()
            || config.gcp.jobs.values().any(|j| j.module.is_some()));
    let region = match env.region.as_deref() {
        Some(region) => region,
        None if deploys => {
            return Err(Error::BuildConfig {
                reason: format!(
                    "environment `{}` has no region, so its Cloud Run jobs and services cannot be found",
                    env.name
                ),
            });
        }
        None => "",
    };
    let place = [format!("--project={project}"), format!("--region={region}")];
    // Migration jobs run the pinned image, after every push and before any
    // deploy: a failed migration deploys nothing.
    let mut migrations = Vec::new();
    let migration_jobs = config
        .gcp
        .jobs
        .iter()
        .filter(|(_, spec)| spec.module.is_some() && !options.build_only);
    for (job, spec) in migration_jobs {
        let Some(reference) = spec.image.as_ref().and_then(|i| manifest.images.get(i)) else {
            continue;
        };
        let update = format!("update-job-{job}");
        let mut args = vec![
            "run".to_string(),
            "jobs".to_string(),
            "update".to_string(),
            job.clone(),
            format!("--image={reference}"),
        ];
        args.extend(place.iter().cloned());
        steps.push(gcloud(update.clone(), pushes.clone(), args));
        let run = format!("migrate-{job}");
        let mut args = vec![
            "run".to_string(),
            "jobs".to_string(),
            "execute".to_string(),
            job.clone(),
            "--wait".to_string(),
            format!("--update-env-vars=RELEASE_ID={}", manifest.release_id),
        ];
        args.extend(place.iter().cloned());
        steps.push(gcloud(run.clone(), vec![update], args));
        migrations.push(run);
    }
    let deploy_after = if migrations.is_empty() {
        pushes.clone()
    } else {
        migrations
    };
    for (service, wanted) in config.gcp.services.iter().filter(|_| !options.build_only) {
        let Some(reference) = manifest.images.get(&wanted.image) else {
            continue;
        };
        let mut args = vec![
            "run".to_string(),
            "deploy".to_string(),
            service.clone(),
            format!("--image={reference}"),
        ];
        args.extend(place.iter().cloned());
        if let Some(account) = &wanted.service_account {
            let account = account
                .replace("{gcp_project}", project)
                .replace("{env}", &env.name);
            args.push(format!("--service-account={account}"));
        }
        if let Some((network, subnet)) = &wanted.network {
            args.push(format!("--network={network}"));
            args.push(format!("--subnet={subnet}"));
            args.push("--vpc-egress=private-ranges-only".to_string());
        } else if wanted.redis {
            return Err(Error::BuildConfig {
                reason: format!(
                    "the service `{service}` uses Redis but gcp.services.{service} names no `network` for its Direct VPC egress"
                ),
            });
        }
        args.push(format!(
            "--labels=preflight-release={}",
            label(&manifest.release_id.to_string())
        ));
        steps.push(gcloud(
            format!("deploy-{service}"),
            deploy_after.clone(),
            args,
        ));
    }
    let timeout_secs = config.gcp.build.as_ref().map_or(3600, |b| b.timeout_secs);
    let file = CloudBuildFile {
        steps,
        images,
        substitutions: BTreeMap::from([(
            "_RELEASE_MANIFEST".to_string(),
            options.manifest_path.clone(),
        )]),
        tags: vec![
            "preflight".to_string(),
            literal(&manifest.release_id.to_string()),
        ],
        timeout: format!("{timeout_secs}s"),
        options: BuildOptions {
            logging: "CLOUD_LOGGING_ONLY",
        },
    };
    let body = serde_saphyr::to_string(&file).map_err(|e| Error::BuildConfig {
        reason: e.to_string(),
    })?;
    Ok(format!(
        "# Generated by `preflight gcp build-config` from {} for `{}`; do not edit.\n{body}",
        options.manifest_path, env.name
    ))
}

/// A label value Cloud Run accepts: lower case letters, digits, `-`, `_`.
fn label(text: &str) -> String {
    text.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect()
}

/// `Dockerfile` for a module's only image; `Dockerfile.<role>` when a module
/// has several (`mobius-rag-worker` in `mobius-rag` → `Dockerfile.worker`).
fn dockerfile_for(module: &str, image: &str, images_in_module: usize) -> String {
    if images_in_module == 1 {
        return "Dockerfile".to_string();
    }
    let role = image
        .strip_prefix(module)
        .map(|r| r.trim_start_matches('-'))
        .filter(|r| !r.is_empty())
        .unwrap_or(image);
    format!("Dockerfile.{role}")
}

#[cfg(test)]
mod tests {
    use super::dockerfile_for;

    #[test]
    fn dockerfiles() {
        assert_eq!(
            dockerfile_for("mobius-os", "mobius-os-backend", 1),
            "Dockerfile"
        );
        assert_eq!(
            dockerfile_for("mobius-rag", "mobius-rag-worker", 2),
            "Dockerfile.worker"
        );
        assert_eq!(dockerfile_for("m", "other", 2), "Dockerfile.other");
    }
}
