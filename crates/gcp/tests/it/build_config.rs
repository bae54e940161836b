//! The Cloud Build config generated for the Mobius example.

use std::path::PathBuf;

use preflight_gcp::{BuildConfigOptions, build_config};
use preflight_manifest::{Manifest, PlatformConfig, ValidateOptions};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/mobius")
}

fn load(manifest: &str) -> (Manifest, PlatformConfig) {
    let config = PlatformConfig::load(&example().join("preflight.yaml")).unwrap();
    assert!(!config.has_errors(), "{}", config.render());
    let manifest = Manifest::load(
        &example().join("release-manifests").join(manifest),
        &ValidateOptions::default(),
    )
    .unwrap();
    assert!(!manifest.has_errors(), "{}", manifest.render());
    (manifest.value.unwrap(), config.value.unwrap())
}

/// The config generated for the example's `manifest` in `env`. The
/// example's release runs the build itself (`gcp.build`), which allows
/// only `build_only`; the full config is for a pipeline without it.
fn generate(manifest: &str, env: &str, build_only: bool) -> Result<String, preflight_gcp::Error> {
    let (m, mut config) = load(manifest);
    if !build_only {
        config.gcp.build = None;
    }
    build_config(
        &m,
        &config,
        &BuildConfigOptions {
            manifest_path: format!("release-manifests/{manifest}"),
            env: env.into(),
            build_only,
        },
    )
}

#[test]
fn mobius_prod_build_config() {
    let text = generate("2026-02-14-prod.yaml", "prod", false).unwrap();
    insta::assert_snapshot!(text);
}

#[test]
fn refuses_a_manifest_for_another_environment() {
    let err = generate("2026-02-12-staging.yaml", "prod", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot generate the Cloud Build config: the manifest is for `staging`, not `prod`"
    );
}

#[test]
fn no_value_from_the_manifest_or_config_becomes_shell_text() {
    let (manifest, mut config) = load("2026-02-14-prod.yaml");
    config.gcp.build = None;
    let text = generate("2026-02-14-prod.yaml", "prod", false).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    for step in doc["steps"].as_array().unwrap() {
        if step.get("entrypoint").is_some() {
            // Scripts are fixed text; paths and commits come in as variables.
            let script = step["args"][1].as_str().unwrap();
            assert!(!script.contains("release-manifests"), "{script}");
            for commit in manifest.commits.values() {
                assert!(!script.contains(&commit.to_string()), "{script}");
            }
            for module in &config.modules {
                assert!(!script.contains(&module.name), "{script}");
            }
        } else {
            assert!(step.get("entrypoint").is_none(), "{step}");
        }
    }
    // A manifest path with shell or substitution text is refused.
    let err = build_config(
        &manifest,
        &config,
        &BuildConfigOptions {
            manifest_path: "m.yaml\"; touch PWNED; \"".into(),
            env: "prod".into(),
            build_only: false,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("may hold only"), "{err}");
}

#[test]
fn build_only_checks_out_builds_and_pushes_nothing_more() {
    let text = generate("2026-02-14-prod.yaml", "prod", true).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let ids: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().any(|i| i.starts_with("checkout-")), "{ids:?}");
    assert!(ids.iter().any(|i| i.starts_with("push-")), "{ids:?}");
    assert!(
        !ids.iter()
            .any(|i| i.starts_with("migrate-") || i.starts_with("deploy-")),
        "{ids:?}"
    );
}

/// The checkout step's script, run by bash on a real clone as Cloud Build
/// would run it (`$$` is `$` once substituted): it checks out a pinned
/// commit it has, fetches one it lacks from `origin`, and fails the build
/// naming a commit that exists nowhere.
#[test]
fn the_checkout_script_checks_out_the_pin_or_fails_the_build() {
    let text = generate("2026-02-14-prod.yaml", "prod", true).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let step = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "checkout-mobius-chat")
        .unwrap();
    assert_eq!(
        step["env"],
        serde_json::json!(["REPO_DIR=mobius-chat", "COMMIT=v1.4.2"])
    );
    let script = step["args"][1].as_str().unwrap().replace("$$", "$");

    let dir = tempfile::tempdir().unwrap();
    let git = |cwd: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(cwd)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // `origin` has two commits; the build's clone only the first.
    let origin = dir.path().join("origin");
    std::fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "-q", "-b", "main"]);
    git(&origin, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let first = git(&origin, &["rev-parse", "HEAD"]);
    git(&origin, &["clone", "-q", ".", "../work/mobius-chat"]);
    git(&origin, &["commit", "-q", "--allow-empty", "-m", "two"]);
    git(
        &origin,
        &["config", "uploadpack.allowAnySHA1InWant", "true"],
    );
    let second = git(&origin, &["rev-parse", "HEAD"]);
    let work = dir.path().join("work");
    let run = |commit: &str| {
        std::process::Command::new("bash")
            .current_dir(&work)
            .args(["-c", &script])
            .env("REPO_DIR", "mobius-chat")
            .env("COMMIT", commit)
            .output()
            .unwrap()
    };
    for commit in [&first, &second] {
        let out = run(commit);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            git(&work.join("mobius-chat"), &["rev-parse", "HEAD"]),
            *commit
        );
    }
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let out = run(missing);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("mobius-chat: commit {missing} is missing")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A release that runs the build itself and migrates and deploys through
/// its own phases gets no build that migrates or deploys: that build would
/// run ahead of the freeze and every gate.
#[test]
fn a_build_the_release_runs_may_only_build() {
    let (manifest, config) = load("2026-02-14-prod.yaml");
    assert!(config.gcp.build.is_some() && config.gcp.rollout.is_some());
    let options = |build_only| BuildConfigOptions {
        manifest_path: "release-manifests/2026-02-14-prod.yaml".into(),
        env: "prod".into(),
        build_only,
    };
    let err = build_config(&manifest, &config, &options(false)).unwrap_err();
    assert!(
        err.to_string().ends_with("generate it with --build-only"),
        "{err}"
    );
    assert!(build_config(&manifest, &config, &options(true)).is_ok());
}

/// Jobs and services are found by region: a build that deploys needs the
/// environment's, never a guessed one.
#[test]
fn a_build_that_deploys_needs_a_region() {
    let (manifest, mut config) = load("2026-02-14-prod.yaml");
    config.gcp.build = None;
    for env in &mut config.environments {
        env.region = None;
    }
    let options = |build_only| BuildConfigOptions {
        manifest_path: "release-manifests/2026-02-14-prod.yaml".into(),
        env: "prod".into(),
        build_only,
    };
    let err = build_config(&manifest, &config, &options(false)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot generate the Cloud Build config: environment `prod` has no region, so its Cloud Run jobs and services cannot be found"
    );
    assert!(build_config(&manifest, &config, &options(true)).is_ok());
}
