//! Integration tests of preflight-checklist: one binary, one module per area.

mod bindings;
mod fuzz;
mod gates;
mod parse;
mod render;
mod roundtrip;
mod state;

use std::path::{Path, PathBuf};

use preflight_checklist::Checklist;

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Parses a fixture, shown in diagnostics by its bare name.
pub fn load(name: &str) -> Checklist {
    let text = std::fs::read_to_string(fixture_path(name)).unwrap();
    Checklist::parse(Path::new(name), &text).unwrap()
}

/// A temporary copy of a fixture (so state files land in a temp dir).
pub fn temp_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::copy(fixture_path(name), &path).unwrap();
    (dir, path)
}

pub fn at(minute: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_771_000_000 + minute * 60).unwrap()
}
