//! Copies of the Mobius example for tests that change files or start its
//! local cluster. The CLI's tests include this file too (`#[path]`).

use std::path::Path;
use std::process::Command;

/// A copy of examples/mobius in a temp dir, so its `.preflight/` is private.
pub fn example_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mobius/.");
    let status = Command::new("cp")
        .arg("-r")
        .arg(example)
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(dir.path().join(".preflight"));
    dir
}

/// Stops the kept cluster when a test ends, pass or fail.
pub struct ResetLocal(pub std::path::PathBuf);

impl Drop for ResetLocal {
    fn drop(&mut self) {
        let _ = preflight_migrate::LocalPostgres::reset(&self.0);
    }
}

/// Replaces the first `from` in the file at `path` with `to` (which must be there).
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Adds `003_chat_feedback.sql` (with `sql`) to the chat module, pins it in
/// `manifest` and moves the chat contract to version 003.
pub fn add_chat_migration(project: &Path, manifest: &str, sql: &str) {
    std::fs::write(
        project.join("mobius-chat/db/schema/003_chat_feedback.sql"),
        sql,
    )
    .unwrap();
    edit(
        &project.join(manifest),
        "sql:db/schema/002_published_rag_metadata.sql]",
        "sql:db/schema/002_published_rag_metadata.sql, sql:db/schema/003_chat_feedback.sql]",
    );
    // The release also moves the chat database's contract forward.
    edit(
        &project.join("contracts/mobius_chat.yaml"),
        "version: \"002\"",
        "version: \"003\"",
    );
}
