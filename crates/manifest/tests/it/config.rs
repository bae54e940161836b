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
    assert_eq!(checklist.bindings[4].item, "3.6");
    assert_eq!(
        checklist.bindings[4].step,
        preflight_manifest::BindingStep::Phase(preflight_manifest::Phase::Backup)
    );
    let bad = "platform: p\nmodules:\n  m: {}\nchecklist:\n  file: c.md\n  before_build: one-five\n  bindings:\n    - item: \"1.1\"\n      phase: backup\n      probe: health\n";
    let checked = PlatformConfig::check("p.yaml".as_ref(), bad);
    insta::assert_snapshot!(checked.render());
}

#[test]
fn a_misspelt_binding_phase_or_unknown_step_is_an_error() {
    let text = "platform: p\nmodules:\n  m: {}\ngates:\n  - name: unit\n    command: [pytest]\nchecklist:\n  file: c.md\n  bindings:\n    - item: \"3.6\"\n      phase: bakup\n    - item: \"3.7\"\n      gate: unit\n    - item: \"3.8\"\n      probe: nope\n    - item: \"3.9\"\n      migration: m\n";
    let checked = PlatformConfig::check("p.yaml".as_ref(), text);
    assert!(checked.has_errors());
    insta::assert_snapshot!(checked.render());
}

#[test]
fn environments_are_protected_and_checkouts_skipped_only_when_said() {
    let text = "platform: p\nmodules:\n  m: {branch: release}\nenvironments:\n  prod:\n    protected: true\n  ci:\n    checkout: skip\n  bad:\n    checkout: never\n";
    let checked = PlatformConfig::check("p.yaml".as_ref(), text);
    assert_eq!(checked.diagnostics.len(), 1, "{}", checked.render());
    assert!(
        checked
            .render()
            .contains("`checkout` must be `require` or `skip`")
    );
    let ok = "platform: p\nmodules:\n  m: {branch: release}\nenvironments:\n  prod:\n    protected: true\n  ci:\n    checkout: skip\n";
    let config = PlatformConfig::check("p.yaml".as_ref(), ok).value.unwrap();
    assert!(config.environment("prod").unwrap().protected);
    assert_eq!(
        config.environment("ci").unwrap().checkout,
        preflight_manifest::CheckoutPolicy::Skip
    );
    assert_eq!(config.module("m").unwrap().branch, "release");
}

#[test]
fn a_manifest_is_checked_against_the_config() {
    let config = "platform: p\nmodules:\n  chat:\n    database: chat\n    migrations: {kind: sql, dir: db/schema}\n  os:\n    database: os\n    migrations: {kind: alembic, dir: versions}\ndatabases:\n  chat: {}\n  os: {}\nenvironments:\n  dev:\n    databases:\n      chat: env:CHAT_URL\n";
    let config = PlatformConfig::check("preflight.yaml".as_ref(), config)
        .value
        .unwrap();
    let manifest = "release_id: 2026-02-14-dev\ncommits:\n  chat: v1.0.0\n  os: v1.0.0\n  ghost: v1.0.0\nmigrations:\n  ghost: [python:x]\n  chat: [c4d5e6f7a8b9, python:seed, sql:other/dir/002_wrong.sql, sql:db/schema/001_init.sql]\n";
    let options = preflight_manifest::ValidateOptions {
        expected_env: Some("dev".into()),
        known_envs: Some(config.env_names()),
        platform: Some(config.facts(Some("dev"))),
    };
    let checked = preflight_manifest::Manifest::check("m.yaml".as_ref(), manifest, &options);
    assert!(checked.value.is_none());
    insta::assert_snapshot!(checked.render());
}

#[test]
fn alembic_modules_list_several_versions_folders() {
    let text = "platform: p\ndatabases:\n  db: {}\nmodules:\n  api:\n    database: db\n    migrations:\n      kind: alembic\n      dirs: [migrations/versions/initial, migrations/versions/2024.1]\n      recursive: true\nenvironments:\n  local:\n    databases:\n      db: local\n";
    let checked = PlatformConfig::check("p.yaml".as_ref(), text);
    assert!(checked.diagnostics.is_empty(), "{}", checked.render());
    let config = checked.value.unwrap();
    let source = config.module("api").unwrap().migrations.clone().unwrap();
    assert_eq!(
        source.dirs(),
        [
            std::path::Path::new("migrations/versions/initial"),
            std::path::Path::new("migrations/versions/2024.1")
        ]
    );
    assert!(source.recursive);

    // Only Alembic reads several folders; `dir` and `dirs` are one or the other.
    for (yaml, expected) in [
        (
            "      kind: sql\n      dirs: [a, b]\n",
            "`dirs` is for Alembic; sql migrations are read from one `dir`",
        ),
        (
            "      kind: supabase\n      recursive: true\n",
            "`recursive` is for Alembic; supabase migrations are read from one `dir`",
        ),
        (
            "      kind: alembic\n      dir: a\n      dirs: [b]\n",
            "both `dir` and `dirs`",
        ),
        (
            "      kind: alembic\n      dirs: []\n",
            "`dirs` is an empty list",
        ),
        (
            "      kind: alembic\n      recursive: yes please\n",
            "expected `recursive` to be true or false",
        ),
    ] {
        let text = format!(
            "platform: p\ndatabases:\n  db: {{}}\nmodules:\n  api:\n    database: db\n    migrations:\n{yaml}environments:\n  local:\n    databases:\n      db: local\n"
        );
        let rendered = PlatformConfig::check("p.yaml".as_ref(), &text).render();
        assert!(rendered.contains(expected), "{yaml}: {rendered}");
        assert!(
            rendered.contains("p.yaml:8:")
                || rendered.contains("p.yaml:9:")
                || rendered.contains("p.yaml:10:"),
            "{rendered}"
        );
    }
}
