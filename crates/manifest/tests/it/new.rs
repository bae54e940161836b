//! `new` fills the template and pins checkouts from git.

use std::process::Command;

use jiff::civil::date;
use preflight_manifest::{
    Code, Error, Manifest, NewOptions, PlatformConfig, ValidateOptions, new_manifest,
};

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-qm", "first"]);
    dir
}

#[test]
fn pins_head_and_leaves_other_placeholders() {
    let checkout = repo();
    let head = git(checkout.path(), &["rev-parse", "HEAD"]);
    let options = NewOptions {
        env: "dev".into(),
        date: Some(date(2026, 2, 10)),
        pins: vec![("mobius-chat".into(), checkout.path().to_path_buf())],
        allow_dirty: false,
    };
    let text = new_manifest(None, &options).unwrap();
    assert!(text.starts_with("release_id: 2026-02-10-dev\n"));
    assert!(text.contains(&format!("  mobius-chat: {head}\n")));
    let checked = Manifest::check("new.yaml".as_ref(), &text, &ValidateOptions::default());
    assert!(
        checked
            .diagnostics
            .iter()
            .all(|d| d.code == Code::Placeholder)
    );
    assert_eq!(
        checked.diagnostics.len(),
        7 + 12 + 2,
        "{}",
        checked.render()
    );
}

#[test]
fn refuses_a_dirty_checkout_unless_allowed() {
    let checkout = repo();
    std::fs::write(checkout.path().join("untracked_migration.sql"), "select 1;").unwrap();
    let mut options = NewOptions {
        env: "dev".into(),
        date: Some(date(2026, 2, 10)),
        pins: vec![("mobius-chat".into(), checkout.path().to_path_buf())],
        allow_dirty: false,
    };
    match new_manifest(None, &options).unwrap_err() {
        Error::DirtyCheckout { files, .. } => assert_eq!(files, ["untracked_migration.sql"]),
        other => panic!("{other:?}"),
    }
    options.allow_dirty = true;
    assert!(new_manifest(None, &options).is_ok());
}

#[test]
fn not_a_repository_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let options = NewOptions {
        env: "dev".into(),
        date: None,
        pins: vec![("mobius-chat".into(), dir.path().to_path_buf())],
        allow_dirty: false,
    };
    assert!(matches!(
        new_manifest(None, &options).unwrap_err(),
        Error::Git { .. }
    ));
}

#[test]
fn from_config_uses_modules_images_and_registry() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mobius");
    let config = PlatformConfig::load(&root.join("preflight.yaml"))
        .unwrap()
        .value
        .unwrap();
    let options = NewOptions {
        env: "prod".into(),
        date: Some(date(2026, 3, 1)),
        pins: vec![],
        allow_dirty: false,
    };
    let text = new_manifest(Some(&config), &options).unwrap();
    insta::assert_snapshot!(text);
}
