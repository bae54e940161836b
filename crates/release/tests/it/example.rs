//! Copies of the Mobius example for tests that change files or start its
//! local cluster. The CLI's tests include this file too (`#[path]`).

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
