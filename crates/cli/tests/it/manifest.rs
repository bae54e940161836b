//! `preflight manifest …`: output for people and JSON, exit codes 0/1/2.

use crate::{EXAMPLE, binary, example, preflight};
use preflight_cli::Outcome;

#[test]
fn validate_the_example_manifests() {
    let config = example("preflight.yaml");
    let files = [
        "2026-02-10-dev.yaml",
        "2026-02-12-staging.yaml",
        "2026-02-14-prod.yaml",
    ]
    .map(|f| example(&format!("release-manifests/{f}")));
    let mut args = vec!["manifest", "validate", "--config", config.as_str()];
    args.extend(files.iter().map(String::as_str));
    let (outcome, out, err) = preflight(&args);
    assert_eq!(outcome, Outcome::Ok, "{out}{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn validate_reports_errors_and_exits_1() {
    let bad = "../manifest/tests/fixtures/invalid/m33_many_problems_at_once.yaml";
    let (outcome, out, _) = preflight(&["manifest", "validate", bad]);
    assert_eq!(outcome, Outcome::NotOk);
    insta::assert_snapshot!(out);
    let (outcome, json, _) = preflight(&["--format", "json", "manifest", "validate", bad]);
    assert_eq!(outcome, Outcome::NotOk);
    let value = crate::json_result(&json);
    assert_eq!(value.as_array().unwrap().len(), 8);
}

#[test]
fn validate_for_the_wrong_env_fails() {
    let file = example("release-manifests/2026-02-12-staging.yaml");
    let (outcome, out, _) = preflight(&["manifest", "validate", "--env", "prod", &file]);
    assert_eq!(outcome, Outcome::NotOk);
    assert!(
        out.contains("error[env-mismatch]: this release is for `staging`, not `prod`"),
        "{out}"
    );
}

#[test]
fn unreadable_file_and_bad_usage_exit_2() {
    let (outcome, _, err) = preflight(&["manifest", "validate", "does/not/exist.yaml"]);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert_eq!(
        err.lines().next().unwrap(),
        "error: cannot read does/not/exist.yaml"
    );
    assert!(
        err.contains("caused by: No such file or directory"),
        "{err}"
    );
    let (outcome, _, err) = preflight(&["manifest", "frobnicate"]);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert!(err.contains("unrecognized subcommand"), "{err}");
}

#[test]
fn invalid_config_exits_2() {
    let config = "../manifest/tests/fixtures/invalid/c03_config_undefined_database.yaml";
    let file = example("release-manifests/2026-02-10-dev.yaml");
    let (outcome, _, err) = preflight(&["manifest", "validate", "--config", config, &file]);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert!(err.contains("error[undefined-reference]"), "{err}");
}

#[test]
fn binary_exit_codes_match() {
    let good = example("release-manifests/2026-02-14-prod.yaml");
    assert_eq!(
        binary(&["manifest", "validate", &good]).status.code(),
        Some(0)
    );
    let bad = "../manifest/tests/fixtures/invalid/m21_image_latest_in_prod.yaml";
    assert_eq!(
        binary(&["manifest", "validate", bad]).status.code(),
        Some(1)
    );
    assert_eq!(
        binary(&["manifest", "validate", "nope.yaml"]).status.code(),
        Some(2)
    );
    assert_eq!(
        binary(&["--format", "yaml", "manifest", "validate", &good])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn diff_for_people_and_json() {
    let old = example("release-manifests/2026-02-10-dev.yaml");
    let new = example("release-manifests/2026-02-12-staging.yaml");
    let (outcome, out, _) = preflight(&["manifest", "diff", &old, &new]);
    assert_eq!(outcome, Outcome::Ok);
    insta::assert_snapshot!(out);
    let (_, json, _) = preflight(&["--format", "json", "manifest", "diff", &old, &new]);
    let value = crate::json_result(&json);
    assert_eq!(value["new_release"], "2026-02-12-staging");
}

#[test]
fn promote_writes_the_checked_in_prod_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("prod.yaml");
    let out_str = out_path.to_str().unwrap();
    let staging = example("release-manifests/2026-02-12-staging.yaml");
    let args = [
        "manifest",
        "promote",
        &staging,
        "--to",
        "prod",
        "--date",
        "2026-02-14",
        "--map",
        "gcr.io/mobius-staging=gcr.io/mobiusos-new",
        "-o",
        out_str,
    ];
    let (outcome, _, err) = preflight(&args);
    assert_eq!(outcome, Outcome::Ok, "{err}");
    let written = std::fs::read_to_string(&out_path).unwrap();
    let checked_in =
        std::fs::read_to_string(format!("{EXAMPLE}/release-manifests/2026-02-14-prod.yaml"))
            .unwrap();
    assert_eq!(written, checked_in);
    // A second run does not overwrite without --force.
    let (outcome, _, err) = preflight(&args);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert!(
        err.contains("already exists (use --force to replace it)"),
        "{err}"
    );
}

#[test]
fn promote_refuses_invalid_sources_and_results() {
    let bad = "../manifest/tests/fixtures/invalid/m14_commit_branch.yaml";
    let (outcome, _, err) = preflight(&["manifest", "promote", bad, "--to", "prod"]);
    assert_eq!(outcome, Outcome::NotOk);
    assert!(err.contains("refusing to promote"), "{err}");
    let dev_latest = "../manifest/tests/fixtures/invalid/m22_image_latest_in_dev_is_warning.yaml";
    let (outcome, _, err) = preflight(&[
        "manifest",
        "promote",
        dev_latest,
        "--to",
        "prod",
        "--date",
        "2026-02-20",
    ]);
    assert_eq!(outcome, Outcome::NotOk);
    insta::assert_snapshot!(err);
}

#[test]
fn new_from_template_to_stdout() {
    let (outcome, out, _) = preflight(&["manifest", "new", "--env", "dev", "--date", "2026-02-10"]);
    assert_eq!(outcome, Outcome::Ok);
    assert!(out.starts_with("release_id: 2026-02-10-dev\n"));
    assert_eq!(out.matches("<git-sha-or-tag>").count(), 8);
    let (outcome, _, err) = preflight(&["manifest", "new", "--env", "Prod"]);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert!(err.contains("not a valid environment name"), "{err}");
}

/// `--color` and the `NO_COLOR`/`CLICOLOR_FORCE` conventions, on command
/// output and on help alike (both are pipes here, never a terminal).
#[test]
fn colour_follows_the_flag_and_the_environment_help_included() {
    let invalid = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../manifest/tests/fixtures/invalid/m03_duplicate_commit.yaml"
    );
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_preflight"));
        c.args(args)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    let coloured = |text: &str| text.contains("\x1b[");
    let validate = ["manifest", "validate", invalid];
    assert!(!coloured(&run(&validate, &[])), "a pipe: no colour");
    assert!(coloured(&run(
        &[&["--color", "always"][..], &validate].concat(),
        &[]
    )));
    assert!(coloured(&run(&validate, &[("CLICOLOR_FORCE", "1")])));
    assert!(!coloured(&run(
        &validate,
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    )));
    assert!(!coloured(&run(
        &[&["--color=never"][..], &validate].concat(),
        &[("CLICOLOR_FORCE", "1")]
    )));
    // Help is rendered before the arguments are parsed, and follows them too.
    assert!(!coloured(&run(&["--help"], &[])));
    assert!(coloured(&run(&["--help"], &[("CLICOLOR_FORCE", "1")])));
    assert!(coloured(&run(
        &["migrate", "--color", "always", "--help"],
        &[]
    )));
    assert!(!coloured(&run(
        &["--help"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    )));
}

/// On a terminal, `NO_COLOR` turns colour off in help as well.
#[test]
fn help_on_a_terminal_is_coloured_unless_asked_not_to() {
    let help = |args: &[&str]| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        preflight_cli::run_with(args.iter().copied(), &mut out, &mut err, true);
        String::from_utf8(out).unwrap()
    };
    if std::env::var_os("NO_COLOR").is_none() {
        assert!(help(&["preflight", "--help"]).contains("\x1b["));
    }
    assert!(!help(&["preflight", "--color", "never", "--help"]).contains("\x1b["));
}

/// Completion scripts a shell accepts, and manual pages for every command.
#[test]
fn completions_and_manual_pages() {
    let bash = binary(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = String::from_utf8(bash.stdout).unwrap();
    assert!(
        script.contains("preflight__subcmd__migrate"),
        "covers subcommands"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("preflight.bash");
    std::fs::write(&path, &script).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .unwrap();
    assert!(syntax.success(), "bash parses the script");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let o = binary(&["completions", shell]);
        assert!(o.status.success() && !o.stdout.is_empty(), "{shell}");
    }
    let man = binary(&["man"]);
    let page = String::from_utf8(man.stdout).unwrap();
    assert!(
        page.starts_with(".ie") && page.contains(".TH preflight 1"),
        "{page}"
    );
    let out = dir.path().join("man");
    assert!(
        binary(&["man", "--out-dir", out.to_str().unwrap()])
            .status
            .success()
    );
    for page in [
        "preflight.1",
        "preflight-migrate-up.1",
        "preflight-release-run.1",
    ] {
        assert!(out.join(page).is_file(), "{page}");
    }
    // A closed pipe is an ordinary end, not a panic.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
}

/// `--format json`: stdout is one envelope on every command — a result,
/// a text-only result, and an error that could not be checked.
#[test]
fn every_command_answers_json_in_one_envelope() {
    let json = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args(["--format", "json"])
            .args(args)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
        (o.status.code(), v)
    };
    let staging = example("release-manifests/2026-02-12-staging.yaml");
    let (code, v) = json(&[
        "manifest",
        "promote",
        &staging,
        "--to",
        "prod",
        "--date",
        "2026-02-14",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(v["command"], "manifest promote");
    assert_eq!(v["ok"], true);
    assert!(
        v["result"]["text"]
            .as_str()
            .unwrap()
            .contains("release_id: 2026-02-14-prod"),
        "{v}"
    );
    let (code, v) = json(&["manifest", "validate", "/nonexistent/m.yaml"]);
    assert_eq!(code, Some(2));
    assert_eq!(v["ok"], false);
    assert_eq!(v["exit_code"], 2);
    let (code, v) = json(&["checklist", "show", "/nonexistent/checklist.md"]);
    assert_eq!(code, Some(2));
    assert_eq!(v["command"], "checklist show");
    assert_eq!(v["problems"][0]["severity"], "error");
    assert!(
        v["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/checklist.md"),
        "{v}"
    );
}
