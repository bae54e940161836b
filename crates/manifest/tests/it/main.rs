//! Integration tests of preflight-manifest: one binary, one module per area.

mod config;
mod fuzz;
mod hostile;
mod malformed;
mod new;
mod promote_diff;
mod schema;
mod template;

use std::path::{Path, PathBuf};

/// The fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Reads a fixture and the path to show for it in diagnostics (relative, so snapshots are stable).
pub fn fixture(rel: &str) -> (PathBuf, String) {
    let text =
        std::fs::read_to_string(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    (PathBuf::from("fixtures").join(rel), text)
}
