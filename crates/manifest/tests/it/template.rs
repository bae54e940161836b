//! The runbook's own template fails with exactly its placeholders; filled, it passes.

use preflight_manifest::{Code, Manifest, MigrationKind, TEMPLATE, ValidateOptions};

use crate::fixture;

#[test]
fn seed_template_has_exactly_its_placeholder_errors() {
    let (path, text) = fixture("seed-template.yaml");
    assert_eq!(text, TEMPLATE, "the built-in template is the seed's");
    let checked = Manifest::check(&path, &text, &ValidateOptions::default());
    assert!(checked.value.is_none());
    assert!(
        checked
            .diagnostics
            .iter()
            .all(|d| d.code == Code::Placeholder && d.is_error()),
        "{}",
        checked.render()
    );
    // release_id 1 + commits 8 + images 6×2 (<project>, <tag>) + alembic ids 2.
    assert_eq!(checked.diagnostics.len(), 23);
    let found: Vec<(usize, usize, String)> = checked
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.line,
                d.column,
                d.message.split('`').nth(1).unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(found[0], (1, 13, "YYYY-MM-DD".into()));
    assert_eq!(found[9], (15, 29, "<project>".into()));
    assert_eq!(found[10], (15, 57, "<tag>".into()));
    insta::assert_snapshot!(checked.render());
}

#[test]
fn filled_template_passes() {
    let (path, text) = fixture("valid/seed-template-filled.yaml");
    let checked = Manifest::check(&path, &text, &ValidateOptions::default());
    assert!(checked.diagnostics.is_empty(), "{}", checked.render());
    let m = checked.value.unwrap();
    assert_eq!(m.release_id.to_string(), "2026-02-10-dev");
    assert_eq!(m.commits.len(), 8);
    assert_eq!(m.images.len(), 6);
    let rag: Vec<String> = m.migrations["mobius-rag"]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        rag,
        ["python:add_publish_tables", "sql:add_error_tracking.sql"]
    );
    assert_eq!(m.migrations["mobius-chat"][0].kind, MigrationKind::Sql);
    assert_eq!(m.migrations["mobius-os"][0].kind, MigrationKind::Alembic);
    assert_eq!(m.module_of("mobius-rag-worker"), Some("mobius-rag"));
}

#[test]
fn example_manifests_validate_against_the_example_config() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mobius");
    let config = preflight_manifest::PlatformConfig::load(&root.join("preflight.yaml")).unwrap();
    assert!(config.diagnostics.is_empty(), "{}", config.render());
    let config = config.value.unwrap();
    let options = ValidateOptions {
        expected_env: None,
        known_envs: Some(config.env_names()),
        platform: Some(config.facts(None)),
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("release-manifests")).unwrap() {
        let path = entry.unwrap().path();
        let checked = Manifest::load(&path, &options).unwrap();
        assert!(checked.diagnostics.is_empty(), "{}", checked.render());
        seen += 1;
    }
    assert!(seen >= 3);
}
