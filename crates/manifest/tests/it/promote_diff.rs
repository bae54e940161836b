//! Promotion rewrites only what it must; diffs list every change.

use jiff::civil::date;
use preflight_manifest::{
    ChangeKind, Error, Manifest, ManifestDiff, PromoteOptions, ValidateOptions, promote,
};

const STAGING: &str = "\
# staging release
release_id: 2026-02-12-staging   # promoted below
commits:
  mobius-chat: v1.4.2
  mobius-rag: 4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c
images:
  mobius-chat-api: \"gcr.io/mobius-staging/mobius-chat-api:v1.4.2\"
  mobius-rag-worker: gcr.io/mobius-staging/mobius-rag-worker:4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c
  mobius-rag-backend: us-docker.pkg.dev/shared/mobius-rag-backend:4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c
migrations:
  mobius-rag: [python:add_publish_tables]
feature_flags:
  chat_live_stream: true
";

fn staging() -> preflight_manifest::Checked<Manifest> {
    Manifest::check(
        "staging.yaml".as_ref(),
        STAGING,
        &ValidateOptions::default(),
    )
}

#[test]
fn promote_rewrites_release_id_and_mapped_images_only() {
    let options = PromoteOptions {
        to_env: "prod".into(),
        date: Some(date(2026, 2, 14)),
        registry_map: vec![("gcr.io/mobius-staging".into(), "gcr.io/mobiusos-new".into())],
    };
    let p = promote(&staging(), &options).unwrap();
    assert_eq!(p.release_id.to_string(), "2026-02-14-prod");
    assert_eq!(p.rewritten.len(), 2);
    insta::assert_snapshot!(p.text);
    // One image matched no rule: it is promoted unchanged, with a warning.
    assert_eq!(p.diagnostics.len(), 1);
    assert!(p.diagnostics[0].message.contains("mobius-rag-backend"));
    let promoted = Manifest::check("prod.yaml".as_ref(), &p.text, &ValidateOptions::default());
    let promoted = promoted.value.unwrap();
    let original = staging().value.unwrap();
    assert_eq!(promoted.commits, original.commits, "SHAs are kept");
    assert_eq!(promoted.migrations, original.migrations);
}

#[test]
fn promote_refuses_a_source_with_errors() {
    let bad = STAGING.replace("v1.4.2\n  mobius-rag:", "main\n  mobius-rag:");
    let checked = Manifest::check("staging.yaml".as_ref(), &bad, &ValidateOptions::default());
    let options = PromoteOptions {
        to_env: "prod".into(),
        date: None,
        registry_map: vec![],
    };
    let err = promote(&checked, &options).unwrap_err();
    assert!(matches!(err, Error::Invalid { errors: 1, .. }), "{err:?}");
}

#[test]
fn promote_refuses_a_result_invalid_for_the_target() {
    let dev = "release_id: 2026-02-10-dev\ncommits:\n  mobius-chat: v1.4.2\nimages:\n  mobius-chat-api: gcr.io/mobius-dev/mobius-chat-api:latest\n";
    let checked = Manifest::check("dev.yaml".as_ref(), dev, &ValidateOptions::default());
    assert!(!checked.has_errors(), "latest is a warning in dev");
    let options = PromoteOptions {
        to_env: "prod".into(),
        date: Some(date(2026, 2, 14)),
        registry_map: vec![],
    };
    match promote(&checked, &options).unwrap_err() {
        Error::PromotedInvalid { diagnostics, .. } => {
            assert_eq!(diagnostics.iter().filter(|d| d.is_error()).count(), 1);
            assert_eq!(diagnostics[0].code.as_str(), "mutable-image-tag");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn diff_lists_added_removed_and_changed() {
    let old = staging().value.unwrap();
    let newer = STAGING
        .replace("v1.4.2\n  mobius-rag:", "v1.5.0\n  mobius-rag:")
        .replace("  chat_live_stream: true\n", "  rag_publish_gate: true\n")
        .replace("mobius-chat-api:v1.4.2", "mobius-chat-api:v1.5.0");
    let new = Manifest::check("new.yaml".as_ref(), &newer, &ValidateOptions::default())
        .value
        .unwrap();
    let diff = ManifestDiff::between(&old, &new);
    let kinds: Vec<(&str, &str, ChangeKind)> = diff
        .changes
        .iter()
        .map(|c| (c.section, c.key.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("commits", "mobius-chat", ChangeKind::Changed),
            ("images", "mobius-chat-api", ChangeKind::Changed),
            ("feature_flags", "chat_live_stream", ChangeKind::Removed),
            ("feature_flags", "rag_publish_gate", ChangeKind::Added),
        ]
    );
    insta::assert_snapshot!(diff.render());
    insta::assert_json_snapshot!(diff);
    assert!(ManifestDiff::between(&old, &old).is_empty());
}
