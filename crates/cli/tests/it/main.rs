//! Integration tests of the `preflight` command line: one binary, a module per area.

mod checklist;
#[path = "../../../gcp/tests/it/emulator.rs"]
mod emulator;
#[path = "../../../release/tests/it/example.rs"]
mod example;
mod gcp;
mod manifest;
mod migrate;
mod release;
mod rollout;
mod verify;

use std::path::Path;

use preflight_cli::{Outcome, run_with};

/// Runs the CLI in-process and returns (outcome, stdout, stderr).
pub fn preflight(args: &[&str]) -> (Outcome, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("preflight").chain(args.iter().copied());
    let outcome = run_with(argv, &mut out, &mut err, false);
    (
        outcome,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// The example platform, relative to this crate (tests run from the crate folder).
pub const EXAMPLE: &str = "../../examples/mobius";

pub fn example(rel: &str) -> String {
    let path = Path::new(EXAMPLE).join(rel);
    assert!(path.exists(), "{}", path.display());
    path.to_string_lossy().into_owned()
}

/// Runs the real binary (exit codes as a shell sees them).
pub fn binary(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// The `result` of a `--format json` run's envelope (the last JSON
/// document on stdout; progress lines may come before it), after checking
/// the envelope's shape.
pub fn json_result(stdout: impl AsRef<[u8]>) -> serde_json::Value {
    let envelope = serde_json::Deserializer::from_slice(stdout.as_ref())
        .into_iter::<serde_json::Value>()
        .filter_map(Result::ok)
        .last()
        .unwrap_or_else(|| panic!("no JSON in {}", String::from_utf8_lossy(stdout.as_ref())));
    for key in ["command", "ok", "exit_code", "result", "problems"] {
        assert!(envelope.get(key).is_some(), "{key} missing from {envelope}");
    }
    envelope["result"].clone()
}
