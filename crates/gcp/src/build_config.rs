//! Generates a Cloud Build config (`cloudbuild.yaml`) from a release
//! manifest and `preflight.yaml`: one step per pinned image that builds it
//! in its module's folder, one push per image, then one deploy step per
//! Cloud Run service in `gcp.services`, all pinned to the manifest's tags.
//!
//! No step runs a shell over a value from the manifest or config: every
//! value is its own argument (Cloud Build runs `args` without a shell), and
//! `$` is written `$$` so Cloud Build's substitution leaves it alone.

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
}

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
    let region = env.region.as_deref().unwrap_or("us-central1");
    if manifest.release_id.env != env.name {
        return Err(Error::BuildConfig {
            reason: format!(
                "the manifest is for `{}`, not `{}`",
                manifest.release_id.env, env.name
            ),
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
        for (name, reference) in &pinned {
            let dockerfile = dockerfile_for(&module.name, name, pinned.len());
            steps.push(Step {
                id: format!("build-{name}"),
                name: "gcr.io/cloud-builders/docker",
                dir: Some(literal(&repo)),
                wait_for: vec!["check-release-manifest".to_string()],
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
    let builds: Vec<String> = steps.iter().skip(1).map(|s| s.id.clone()).collect();
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
    for (service, wanted) in &config.gcp.services {
        let Some(reference) = manifest.images.get(&wanted.image) else {
            continue;
        };
        steps.push(Step {
            id: format!("deploy-{service}"),
            name: "gcr.io/cloud-builders/gcloud",
            dir: None,
            wait_for: pushes.clone(),
            entrypoint: None,
            args: vec![
                "run".to_string(),
                "deploy".to_string(),
                literal(service),
                format!("--image={}", literal(&reference.to_string())),
                format!("--project={}", literal(project)),
                format!("--region={}", literal(region)),
            ],
            env: Vec::new(),
        });
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
