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

#[test]
fn mobius_prod_build_config() {
    let (manifest, config) = load("2026-02-14-prod.yaml");
    let text = build_config(
        &manifest,
        &config,
        &BuildConfigOptions {
            manifest_path: "release-manifests/2026-02-14-prod.yaml".into(),
            env: "prod".into(),
        },
    )
    .unwrap();
    insta::assert_snapshot!(text);
}

#[test]
fn refuses_a_manifest_for_another_environment() {
    let (manifest, config) = load("2026-02-12-staging.yaml");
    let err = build_config(
        &manifest,
        &config,
        &BuildConfigOptions {
            manifest_path: "release-manifests/2026-02-12-staging.yaml".into(),
            env: "prod".into(),
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot generate the Cloud Build config: the manifest is for `staging`, not `prod`"
    );
}

#[test]
fn no_value_from_the_manifest_or_config_becomes_shell_text() {
    let (manifest, config) = load("2026-02-14-prod.yaml");
    let text = build_config(
        &manifest,
        &config,
        &BuildConfigOptions {
            manifest_path: "release-manifests/2026-02-14-prod.yaml".into(),
            env: "prod".into(),
        },
    )
    .unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    for step in doc["steps"].as_array().unwrap() {
        if step["id"] == "check-release-manifest" {
            // Its one script is fixed text; the paths come in as variables.
            let script = step["args"][1].as_str().unwrap();
            assert!(!script.contains("release-manifests"), "{script}");
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
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("may hold only"), "{err}");
}
