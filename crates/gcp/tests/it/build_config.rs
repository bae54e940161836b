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
