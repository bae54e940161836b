//! `preflight verify` and `preflight env diff` on a small project with a
//! real loopback HTTP server.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use preflight_cli::Outcome;

use crate::{example, preflight};

const TOKEN: &str = "tok-cli-5f4e3d2c1b";

/// A blocking HTTP server on its own thread: `/health` is fine, anything
/// else echoes the Authorization header with a 500, as a careless service might.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line
                    .strip_prefix("authorization:")
                    .or(line.strip_prefix("Authorization:"))
                {
                    auth = v.trim().to_string();
                }
            }
            let (status, body) = if first.starts_with("GET /health ") {
                ("200 OK", r#"{"status":"ok"}"#.to_string())
            } else {
                ("500 Internal Server Error", format!("bad token {auth}"))
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

fn project(dir: &Path, base_url: &str, actual_env: &str) -> String {
    std::fs::write(dir.join(".env.example"), "API_KEY=\nDATABASE_URL=\n").unwrap();
    std::fs::write(dir.join(".env"), actual_env).unwrap();
    let config = format!(
        r#"platform: test
modules:
  api: {{}}
environments:
  local:
    services:
      api: {base_url}
gates:
  - name: unit
    command: [sh, -c, "echo 12 passed"]
  - name: integration
    command: [sh, -c, "echo 1 failed; exit 1"]
    severity: soft
probes:
  - name: api-health
    kind: http
    module: api
    url: "{{services.api}}/health"
    json:
      /status: ok
  - name: api-auth
    kind: http
    module: api
    url: "{{services.api}}/private"
    headers:
      Authorization: "Bearer {TOKEN}"
    severity: soft
  - name: search-health
    kind: http
    url: "{{services.search}}/health"
    severity: soft
  - name: env-parity
    kind: env_parity
    example: .env.example
    actual: .env
"#
    );
    let path = dir.join("preflight.yaml");
    std::fs::write(&path, config).unwrap();
    path.to_string_lossy().into_owned()
}

fn stable(text: &str, dir: &Path) -> String {
    let ms = regex::Regex::new(r"\b\d+(\.\d+)? (ms|s)\b").unwrap();
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let text = text.replace(&dir.display().to_string(), "[dir]");
    let text = ms.replace_all(&text, "[t]");
    // Column widths follow the time column; collapse runs of spaces.
    let spaces = regex::Regex::new(r" {2,}").unwrap();
    let text = port.replace_all(&text, "127.0.0.1:[port]");
    spaces.replace_all(&text, "  ").into_owned()
}

#[test]
fn verify_runs_gates_and_probes_writes_reports_and_redacts() {
    let dir = tempfile::tempdir().unwrap();
    let config = project(
        dir.path(),
        &serve(),
        "API_KEY=k-123\nDATABASE_URL=postgres://x\n",
    );
    let junit = dir.path().join("out/verify.xml");
    let json = dir.path().join("out/verify.json");
    let markdown = dir.path().join("out/verify.md");
    let (outcome, out, err) = preflight(&[
        "verify",
        "--config",
        &config,
        "--env",
        "local",
        "--gates",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--markdown",
        markdown.to_str().unwrap(),
    ]);
    // Soft failures warn; every hard probe passed.
    assert_eq!(outcome, Outcome::Ok, "{out}\n{err}");
    insta::assert_snapshot!(stable(&out, dir.path()));
    let files = [&junit, &json, &markdown].map(|p| std::fs::read_to_string(p).unwrap());
    for text in files.iter().chain([&out, &err]) {
        assert!(!text.contains(TOKEN), "token leaked:\n{text}");
    }
    assert!(files[0].contains("<testcase name=\"api-health\""));
    let report: serde_json::Value = serde_json::from_str(&files[1]).unwrap();
    assert_eq!(report["results"].as_array().unwrap().len(), 6);
    assert!(files[2].starts_with("| Probe |"));
}

#[test]
fn a_failed_hard_probe_exits_1_and_unknown_names_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = project(dir.path(), &serve(), "API_KEY=\n");
    let (outcome, out, _) = preflight(&[
        "verify",
        "--config",
        &config,
        "--env",
        "local",
        "--only",
        "env-parity",
    ]);
    assert_eq!(outcome, Outcome::NotOk);
    assert!(out.contains("missing: DATABASE_URL"), "{out}");
    assert!(out.contains("empty:   API_KEY"), "{out}");

    let (outcome, _, err) = preflight(&[
        "verify", "--config", &config, "--env", "local", "--only", "nope",
    ]);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert!(err.contains("no probe, gate or module `nope`"), "{err}");
}

#[test]
fn env_diff_lists_keys_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env.example"), "A=\nB=\nC=\n").unwrap();
    std::fs::write(dir.path().join(".env"), "A=value-one\nC=\nD=value-two\n").unwrap();
    let example = dir.path().join(".env.example");
    let actual = dir.path().join(".env");
    let (outcome, out, _) = preflight(&[
        "env",
        "diff",
        example.to_str().unwrap(),
        actual.to_str().unwrap(),
    ]);
    assert_eq!(outcome, Outcome::NotOk);
    assert!(!out.contains("value-"));
    insta::assert_snapshot!(stable(&out, dir.path()), @r"
    missing: B
    empty:  C
    extra:  D
    [dir]/.env: 1 missing, 1 empty, 1 extra of 3 keys in [dir]/.env.example
    ");
}

#[test]
fn gcp_build_config_for_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cloudbuild.yaml");
    let args = [
        "gcp",
        "build-config",
        "--config",
        &example("preflight.yaml"),
        "--manifest",
        &example("release-manifests/2026-02-14-prod.yaml"),
        "--out",
        out.to_str().unwrap(),
    ];
    // The example's release runs this build and deploys itself: a build
    // that deployed too is refused.
    let (outcome, _, err) = preflight(&args);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert!(err.contains("generate it with --build-only"), "{err}");
    assert!(!out.exists());
    let (outcome, stdout, _) = preflight(&[&args[..], &["--build-only"]].concat());
    assert_eq!(outcome, Outcome::Ok);
    assert!(stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with(
        "# Generated by `preflight gcp build-config` from release-manifests/2026-02-14-prod.yaml for `prod`"
    ));
    assert!(text.contains("_RELEASE_MANIFEST: release-manifests/2026-02-14-prod.yaml"));
    assert!(text.contains("gcr.io/mobiusos-new/mobius-chat-api:v1.4.2"));
    assert!(
        !text.contains("run deploy") && !text.contains("- deploy"),
        "{text}"
    );
}

#[test]
fn gcp_commands_name_what_is_wrong() {
    let config = example("preflight.yaml");
    let (outcome, _, err) = preflight(&[
        "gcp", "run-job", "migrate", "--config", &config, "--env", "prod",
    ]);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert!(
        err.contains("no job `migrate` under gcp.jobs in ../../examples/mobius/preflight.yaml (jobs: mobius-chat-migrate)"),
        "{err}"
    );
    let (outcome, _, err) = preflight(&["gcp", "doctor", "--config", &config, "--env", "local"]);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert!(
        err.contains("environment `local` has no gcp_project"),
        "{err}"
    );
}

#[test]
fn an_unquoted_multi_line_env_value_never_reaches_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let example = dir.path().join(".env.example");
    let actual = dir.path().join(".env");
    std::fs::write(&example, "PRIVATE_KEY=\nDATABASE_URL=\n").unwrap();
    std::fs::write(
        &actual,
        "PRIVATE_KEY=-----BEGIN KEY-----\nmultiline-canary-b64data\n-----END KEY-----\nDATABASE_URL=postgres://x\n",
    )
    .unwrap();
    for format in ["human", "json"] {
        let (outcome, out, err) = crate::preflight(&[
            "env",
            "diff",
            example.to_str().unwrap(),
            actual.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert_eq!(outcome, preflight_cli::Outcome::CouldNotCheck, "{out}{err}");
        assert!(
            !out.contains("canary") && !err.contains("canary"),
            "{out}{err}"
        );
        assert!(err.contains(".env:2:1"), "{err}");
        assert!(err.contains("`PRIVATE_KEY` (above)"), "{err}");
    }
}

/// The GitHub Action's run step, as GitHub runs it (bash, inputs in the
/// environment), on the example: it runs `verify`, writes the JUnit
/// report and names it in the step's outputs; extra arguments arrive as
/// arguments, and a hostile input stays text.
#[test]
fn the_github_action_runs_verify_and_reports_junit() {
    let action: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../action.yml")).unwrap(),
    )
    .unwrap();
    let steps = action["runs"]["steps"].as_array().unwrap();
    let run = steps.iter().find(|s| s["id"] == "run").unwrap();
    let script = run["run"].as_str().unwrap();
    let project = crate::example::example_copy();
    let temp = tempfile::tempdir().unwrap();
    let bin = temp.path().join("preflight/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_preflight"), bin.join("preflight")).unwrap();
    let outputs = temp.path().join("outputs");
    let junit = temp.path().join("report.xml");
    let pwned = temp.path().join("PWNED");
    // The step as GitHub runs it: bash, the inputs in its environment.
    let step = |env: &str, args: &str, junit: &std::path::Path| {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(project.path())
            .env("RUNNER_TEMP", temp.path())
            .env("GITHUB_OUTPUT", &outputs)
            .env("PREFLIGHT_COMMAND", "verify")
            .env("PREFLIGHT_CONFIG", "preflight.yaml")
            .env("PREFLIGHT_ENV", env)
            .env("PREFLIGHT_MANIFEST", "")
            .env("PREFLIGHT_ARGS", args)
            .env("PREFLIGHT_JUNIT", junit)
            .env("NO_COLOR", "1")
            .status()
            .unwrap()
    };
    let status = step("local", "--only\nmobius-rag-env\n", &junit);
    assert!(status.success());
    let report = std::fs::read_to_string(&junit).unwrap();
    assert!(
        report.contains("<testcase name=\"mobius-rag-env\""),
        "{report}"
    );
    assert_eq!(
        std::fs::read_to_string(&outputs).unwrap(),
        format!("junit={}\n", junit.display())
    );
    // An environment name with shell syntax is an argument, not a command.
    let status = step(
        &format!("local; touch {}", pwned.display()),
        "",
        &temp.path().join("other.xml"),
    );
    assert_eq!(status.code(), Some(2), "an unknown environment");
    assert!(!pwned.exists());
}
