//! The platform config model.

use preflight_manifest::{MigrationKind, PlatformConfig, UrlSource};

#[test]
fn example_config_parses_into_the_model() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mobius");
    let checked = PlatformConfig::load(&root.join("preflight.yaml")).unwrap();
    assert!(checked.diagnostics.is_empty(), "{}", checked.render());
    let config = checked.value.unwrap();
    assert_eq!(config.platform, "mobius");
    assert_eq!(config.env_names(), ["local", "dev", "staging", "prod"]);
    let chat = config.module("mobius-chat").unwrap();
    assert_eq!(chat.database.as_deref(), Some("mobius_chat"));
    assert_eq!(chat.migrations.as_ref().unwrap().kind, MigrationKind::Sql);
    let prod = config.environment("prod").unwrap();
    assert_eq!(prod.gcp_project.as_deref(), Some("mobiusos-new"));
    match &prod.databases["mobius_rag"] {
        UrlSource::Secret(s) => assert_eq!(
            (s.secret.as_str(), s.version.as_str()),
            ("mobius-rag-database-url", "3")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        config.environment("local").unwrap().databases["mobius"],
        UrlSource::Local
    );
    assert_eq!(config.gates.len(), 2);
    assert_eq!(
        config
            .databases
            .iter()
            .find(|d| d.name == "mobius_rag")
            .unwrap()
            .extensions,
        ["vector"]
    );
}

#[test]
fn literal_passwords_never_appear_in_debug_or_json() {
    let text = "platform: p\ndatabases:\n  db: {}\nmodules:\n  m: {}\nenvironments:\n  dev:\n    databases:\n      db: postgres://app:hunter2@h/db\n";
    let checked = PlatformConfig::check("p.yaml".as_ref(), text);
    let config = checked.value.unwrap();
    let debug = format!("{config:?}");
    let json = serde_json::to_string(&config).unwrap();
    let rendered = checked
        .diagnostics
        .iter()
        .map(|d| d.render(None))
        .collect::<String>();
    for shown in [debug, json, rendered] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

#[test]
fn checklist_bindings_are_read() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mobius");
    let config = PlatformConfig::load(&root.join("preflight.yaml"))
        .unwrap()
        .value
        .unwrap();
    let checklist = config.checklist.unwrap();
    assert_eq!(
        checklist.file,
        std::path::Path::new("docs/production_build_checklist.md")
    );
    assert_eq!(checklist.before_build.as_deref(), Some("1-5"));
    assert_eq!(checklist.bindings.len(), 6);
    assert_eq!(
        (
            checklist.bindings[4].item.as_str(),
            checklist.bindings[4].step_kind.as_str()
        ),
        ("3.6", "phase")
    );
    let bad = "platform: p\nmodules:\n  m: {}\nchecklist:\n  file: c.md\n  before_build: one-five\n  bindings:\n    - item: \"1.1\"\n      phase: backup\n      probe: health\n";
    let checked = PlatformConfig::check("p.yaml".as_ref(), bad);
    insta::assert_snapshot!(checked.render());
}
