//! The schemas: committed copies and the reference are current, and every
//! example file fits the raw types they come from.

use std::path::{Path, PathBuf};

use preflight_manifest::{RawConfig, RawManifest};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `scripts/schemas` rewrites these; a change to the raw types without
/// running it fails here.
#[test]
fn committed_schemas_and_reference_are_current() {
    for (path, text) in [
        (
            "schemas/preflight.schema.json",
            preflight_manifest::config_schema(),
        ),
        (
            "schemas/release-manifest.schema.json",
            preflight_manifest::manifest_schema(),
        ),
        (
            "docs/configuration.md",
            preflight_manifest::reference_markdown(),
        ),
    ] {
        let committed = std::fs::read_to_string(root().join(path)).unwrap_or_default();
        assert!(
            committed == text,
            "{path} is out of date: run scripts/schemas and commit the result"
        );
    }
}

#[test]
fn every_example_fits_the_raw_types() {
    let mut configs = 0;
    let mut manifests = 0;
    let examples = root().join("examples");
    let mut stack = vec![examples];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() && !name.starts_with('.') && name != "node_modules" {
                stack.push(path);
            } else if name == "preflight.yaml" {
                let text = std::fs::read_to_string(&path).unwrap();
                serde_saphyr::from_str::<RawConfig>(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                configs += 1;
            } else if path
                .parent()
                .is_some_and(|p| p.ends_with("release-manifests"))
                && name.ends_with(".yaml")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                serde_saphyr::from_str::<RawManifest>(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                manifests += 1;
            }
        }
    }
    assert!(
        configs >= 1 && manifests >= 4,
        "{configs} configs, {manifests} manifests"
    );
}

/// Editors find the schema from the example files' first line.
#[test]
fn examples_point_editors_at_the_schemas() {
    let mobius = root().join("examples/mobius");
    let config = std::fs::read_to_string(mobius.join("preflight.yaml")).unwrap();
    assert!(
        config.starts_with("# yaml-language-server: $schema=../../schemas/preflight.schema.json\n")
    );
    let manifest =
        std::fs::read_to_string(mobius.join("release-manifests/2026-02-14-prod.yaml")).unwrap();
    assert!(manifest.starts_with(
        "# yaml-language-server: $schema=../../../schemas/release-manifest.schema.json\n"
    ));
}
