//! Every malformed manifest and config in `fixtures/invalid/` gives errors,
//! and its rendered diagnostics are pinned by a snapshot.

use preflight_manifest::{Manifest, PlatformConfig, ValidateOptions};

use crate::{fixture, fixtures};

#[test]
fn each_malformed_file_renders_its_diagnostics() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "only {} malformed fixtures", names.len());
    for name in names {
        let (path, text) = fixture(&format!("invalid/{name}"));
        let stem = name.trim_end_matches(".yaml");
        let (diagnostics, rendered) = if stem.starts_with('c') {
            let checked = PlatformConfig::check(&path, &text);
            (checked.diagnostics.clone(), checked.render())
        } else {
            let checked = Manifest::check(&path, &text, &ValidateOptions::default());
            (checked.diagnostics.clone(), checked.render())
        };
        assert!(!diagnostics.is_empty(), "{name} produced no diagnostics");
        // Warning-only fixtures say so in their name.
        if !stem.contains("warn") {
            assert!(
                diagnostics.iter().any(|d| d.is_error()),
                "{name} produced no errors:\n{rendered}"
            );
        }
        for d in &diagnostics {
            assert!(
                d.line >= 1 && d.column >= 1,
                "{name}: position {}:{}",
                d.line,
                d.column
            );
        }
        insta::assert_snapshot!(stem, rendered);
    }
}

#[test]
fn json_diagnostics_have_the_documented_fields() {
    let (path, text) = fixture("invalid/m33_many_problems_at_once.yaml");
    let checked = Manifest::check(&path, &text, &ValidateOptions::default());
    let json = serde_json::to_value(&checked.diagnostics).unwrap();
    let first = &json.as_array().unwrap()[0];
    let mut keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "code", "column", "file", "hint", "line", "message", "severity"
        ]
    );
    insta::assert_json_snapshot!("m33_json", json);
}

#[test]
fn every_problem_is_reported_at_once() {
    let (path, text) = fixture("invalid/m33_many_problems_at_once.yaml");
    let checked = Manifest::check(&path, &text, &ValidateOptions::default());
    let codes: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "invalid-release-id",
            "unknown-key",
            "mutable-ref",
            "placeholder",
            "mutable-image-tag",
            "missing-commit",
            "invalid-migration",
            "invalid-flag",
        ]
    );
}

#[test]
fn expected_env_and_known_envs_are_enforced() {
    let text = "release_id: 2026-02-14-prd\ncommits:\n  mobius-chat: v1.4.2\n";
    let options = ValidateOptions {
        expected_env: Some("prod".into()),
        known_envs: Some(vec![
            "local".into(),
            "dev".into(),
            "staging".into(),
            "prod".into(),
        ]),
        platform: None,
    };
    let checked = Manifest::check("prd.yaml".as_ref(), text, &options);
    insta::assert_snapshot!(checked.render());
}
