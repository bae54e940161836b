//! Generates a Cloud Build config (`cloudbuild.yaml`) from a release
//! manifest and `preflight.yaml`: one step per module that builds its
//! pinned images, the images pushed, then one deploy step per Cloud Run
//! service in `gcp.services`, all pinned to the manifest's tags.

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

    // The check step fails the build when the trigger was run with another
    // manifest than the one this config was generated from.
    let mut steps = vec![Step {
        id: "check-release-manifest".to_string(),
        name: "gcr.io/cloud-builders/gcloud",
        dir: None,
        wait_for: vec!["-".to_string()],
        entrypoint: Some("bash"),
        args: vec![
            "-c".to_string(),
            format!(
                "test \"${{_RELEASE_MANIFEST}}\" = \"{0}\" || {{ echo \"this config was generated for {0}, not ${{_RELEASE_MANIFEST}}\" >&2; exit 1; }}",
                options.manifest_path
            ),
        ],
    }];
    let mut images = Vec::new();
    for module in &config.modules {
        let pinned: Vec<(&String, String)> = module
            .images
            .iter()
            .filter_map(|name| manifest.images.get(name).map(|r| (name, r.to_string())))
            .collect();
        if pinned.is_empty() {
            continue;
        }
        let repo = module.repo.to_string_lossy().into_owned();
        let commit = manifest
            .commits
            .get(&module.name)
            .map(|c| c.to_string())
            .unwrap_or_default();
        let mut script = Vec::new();
        for (name, reference) in &pinned {
            let dockerfile = dockerfile_for(&module.name, name, pinned.len());
            script.push(format!(
                "docker build --file {dockerfile} --tag {reference} --label org.opencontainers.image.revision={commit} --label preflight.release={} .",
                manifest.release_id
            ));
            images.push(reference.clone());
        }
        steps.push(Step {
            id: format!("build-{}", module.name),
            name: "gcr.io/cloud-builders/docker",
            dir: Some(repo),
            wait_for: vec!["check-release-manifest".to_string()],
            entrypoint: Some("bash"),
            args: vec!["-ceu".to_string(), script.join("\n")],
        });
    }
    if images.is_empty() {
        return Err(Error::BuildConfig {
            reason: "the manifest pins no image of any module".to_string(),
        });
    }
    // Deploys wait for every build, so a failed build deploys nothing.
    let builds: Vec<String> = steps.iter().skip(1).map(|s| s.id.clone()).collect();
    let mut push = Step {
        id: "push-images".to_string(),
        name: "gcr.io/cloud-builders/docker",
        dir: None,
        wait_for: builds,
        entrypoint: Some("bash"),
        args: vec!["-ceu".to_string(), String::new()],
    };
    push.args[1] = images
        .iter()
        .map(|i| format!("docker push {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    steps.push(push);
    for (service, wanted) in &config.gcp.services {
        let Some(reference) = manifest.images.get(&wanted.image) else {
            continue;
        };
        steps.push(Step {
            id: format!("deploy-{service}"),
            name: "gcr.io/cloud-builders/gcloud",
            dir: None,
            wait_for: vec!["push-images".to_string()],
            entrypoint: None,
            args: vec![
                "run".to_string(),
                "deploy".to_string(),
                service.clone(),
                format!("--image={reference}"),
                format!("--project={project}"),
                format!("--region={region}"),
            ],
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
        tags: vec!["preflight".to_string(), manifest.release_id.to_string()],
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
