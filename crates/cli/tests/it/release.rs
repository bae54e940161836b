//! The release pipeline end to end on the Mobius example, on a throwaway
//! PostgreSQL: through the binary (the library's own tests are in crates/release).

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::example::{ResetLocal, add_chat_migration, edit, example_copy};
use crate::migrate::venv_path;

const MANIFEST: &str = "release-manifests/2026-02-14-local.yaml";

/// Runs a release as an operator does, from the platform's folder with the
/// default `--config preflight.yaml` (a bare file name, whose folder must
/// still be the project root) and a relative manifest path.
fn release(project: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_preflight"))
        .current_dir(project)
        .args(["release", "run", "--env", "local", "--manifest", MANIFEST])
        .args(extra)
        .env("PATH", venv_path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// The release log with what varies between runs filtered out.
fn stable_log(text: &str, project: &Path) -> String {
    let filters = [
        (
            regex::Regex::new(r"\d{4}-\d\d-\d\dT[0-9:.]+Z").unwrap(),
            "[time]",
        ),
        (regex::Regex::new(r"\d{8}T\d{6}Z?").unwrap(), "[stamp]"),
        (
            regex::Regex::new(r"\| Run by \| [^|]+\|").unwrap(),
            "| Run by | [operator] |",
        ),
        (
            regex::Regex::new(r"\b\d+(\.\d+)? ?(ms|s)\b").unwrap(),
            "[dur]",
        ),
        (
            regex::Regex::new(r"sha256:? `?[0-9a-f]{12,64}`?").unwrap(),
            "sha256 [sha]",
        ),
        (regex::Regex::new(r"\d+ bytes").unwrap(), "[n] bytes"),
        (
            regex::Regex::new(r"PostgreSQL [0-9][^)]*\)?").unwrap(),
            "PostgreSQL [version]",
        ),
        (
            regex::Regex::new(r"(?m)^(platform|rootdir|cachedir|configfile).*$").unwrap(),
            "[pytest header]",
        ),
    ];
    let mut out = text.replace(&project.display().to_string(), "[project]");
    for (re, with) in &filters {
        out = re.replace_all(&out, *with).into_owned();
    }
    out
}

#[test]
fn the_local_rehearsal_runs_every_phase_through_the_binary() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let out = release(project.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("release 2026-02-14-local to local succeeded"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skip deploy     no deploy steps configured for `local`"),
        "{stdout}"
    );

    let logs = project.path().join(".preflight/release_logs");
    let markdown = std::fs::read_to_string(logs.join("2026-02-14-local.md")).unwrap();
    insta::assert_snapshot!(stable_log(&markdown, project.path()));
    let junit = std::fs::read_to_string(logs.join("2026-02-14-local.junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuite name=\"release local migrate\""),
        "{junit}"
    );
    // A phase with nothing to do is a skipped suite saying why, and a
    // release that succeeded fails no case.
    assert!(
        junit.contains("<testsuite name=\"release local deploy\" tests=\"1\" skipped=\"1\""),
        "{junit}"
    );
    assert!(
        junit.contains("<skipped message=\"no deploy steps configured for `local`\""),
        "{junit}"
    );
    assert!(junit.contains("<testsuites name=\"preflight\""), "{junit}");
    assert!(
        !junit.contains("<failure") && !junit.contains("<error"),
        "{junit}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(logs.join("2026-02-14-local.json")).unwrap())
            .unwrap();
    assert_eq!(json["status"], "succeeded");
    see_the_html_report(&logs.join("2026-02-14-local.html"), &json);
    // Uploaded to the environment's artifact store.
    assert!(
        json["uploaded_to"][0]
            .as_str()
            .unwrap()
            .contains("artifacts/local/release_logs/2026-02-14-local/")
    );

    // The bound checklist items were checked with evidence and archived.
    let archive = json["checklist_archive"].as_str().unwrap();
    let filled = std::fs::read_to_string(archive).unwrap();
    let checked: Vec<&str> = filled.lines().filter(|l| l.starts_with("| [x]")).collect();
    assert_eq!(
        checked.len(),
        5,
        "3.1–3.4 (migrations) and 3.6 (backup); 6.8 (smoke) was skipped: {checked:#?}"
    );

    // A second run has nothing to migrate or back up.
    let again = release(project.path(), &[]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert!(
        stdout.contains("skip backup     nothing to migrate, so nothing to back up"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mobius-chat: mobius_chat already at the manifest"),
        "{stdout}"
    );
}

#[test]
fn a_failing_hard_gate_aborts_before_anything_changes_and_a_soft_one_only_warns() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let tests = project.path().join("mobius-chat/tests");
    std::fs::write(
        tests.join("test_broken.py"),
        "def test_unit_regression():\n    assert 1 + 1 == 3\n",
    )
    .unwrap();
    let out = release(project.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL hard-gate"), "{stdout}");
    assert!(
        stdout.contains("release 2026-02-14-local to local FAILED at hard-gate"),
        "{stdout}"
    );
    assert!(stdout.contains("--resume"), "{stdout}");
    assert!(
        !stdout.contains("pg_dump"),
        "nothing after the gate ran: {stdout}"
    );

    // Now as an integration test run by the soft gate in `local` too.
    std::fs::write(
        tests.join("test_broken.py"),
        "import pytest\n\n@pytest.mark.integration\ndef test_flaky_upstream():\n    assert False, 'upstream timed out'\n",
    )
    .unwrap();
    edit(
        &project.path().join("preflight.yaml"),
        "    envs: [dev, staging, prod]\n    timeout_secs: 600",
        "    timeout_secs: 600",
    );
    let out = release(project.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("warn soft-gate  0 of 1 gate(s) passed, 1 soft failure(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("succeeded"), "{stdout}");
}

#[test]
fn a_second_release_to_the_same_env_is_refused() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    // A freeze step that takes a while keeps the first run inside the lock.
    edit(
        &project.path().join("preflight.yaml"),
        "  freeze: []\n",
        "  freeze:\n    - name: hold\n      command: [sleep, \"4\"]\n      envs: [local]\n",
    );
    let mut first = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(["release", "run", "--env", "local", "--config"])
        .arg(project.path().join("preflight.yaml"))
        .arg("--manifest")
        .arg(project.path().join(MANIFEST))
        .env("PATH", venv_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The first line is printed once the lock is held.
    let mut line = String::new();
    std::io::BufReader::new(first.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("release 2026-02-14-local → local"),
        "{line}"
    );

    let second = release(project.path(), &[]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "another release to `local` is running (preflight release 2026-02-14-local by"
        ),
        "{stderr}"
    );
    assert!(first.wait().unwrap().success());
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let out = release(project.path(), &["--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("mobius-chat: apply 001, 002"), "{stdout}");
    assert!(
        stdout.contains("unit-and-contract-tests: pytest -m not integration (in mobius-chat)"),
        "{stdout}"
    );
    assert!(stdout.contains("dry run: nothing was changed"), "{stdout}");
    assert!(!project.path().join(".preflight/release_logs").exists());
    assert!(!project.path().join(".preflight/releases").exists());

    // The dev plan fills placeholders from the manifest and stops at the
    // database URLs it cannot resolve (an unset variable).
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(["release", "run", "--env", "dev", "--dry-run", "--config"])
        .arg(project.path().join("preflight.yaml"))
        .arg("--manifest")
        .arg(project.path().join("release-manifests/2026-02-10-dev.yaml"))
        .env_remove("DEV_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("$DEV_DATABASE_URL, which is not set"),
        "{stdout}"
    );
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn a_secret_a_gate_prints_or_an_operator_gives_as_evidence_reaches_no_output_or_file() {
    const TOKEN: &str = "hdr-canary-5b1f0e";
    const EVIDENCE: &str = "evid-canary-93ac21";
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    // A probe declares the token as a header secret; a gate prints it.
    edit(
        &project.path().join("preflight.yaml"),
        "probes:\n",
        "probes:\n  - name: canary-probe\n    kind: http\n    url: \"http://127.0.0.1:9/health\"\n    headers:\n      Authorization: env:PREFLIGHT_CANARY_TOKEN\n    envs: [local]\n    severity: soft\n",
    );
    edit(
        &project.path().join("preflight.yaml"),
        "gates:\n",
        "gates:\n  - name: leaky-gate\n    command: [sh, -c, 'echo \"token is $PREFLIGHT_CANARY_TOKEN\"']\n    envs: [local]\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .current_dir(project.path())
        .args(["release", "run", "--env", "local", "--manifest", MANIFEST])
        .args(["--format", "json"])
        .env("PATH", venv_path())
        .env("PREFLIGHT_CANARY_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("leaky-gate"), "{stdout}");

    // Credential-shaped evidence given by a person.
    let checklist = project.path().join("docs/production_build_checklist.md");
    let checklist = if checklist.exists() {
        checklist
    } else {
        files_under(project.path())
            .into_iter()
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n == "production_build_checklist.md")
            })
            .unwrap()
    };
    let check = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(["checklist", "check", "1.1", "--by", "alice", "--evidence"])
        .arg(format!("psql ok with password={EVIDENCE}"))
        .arg("--file")
        .arg(&checklist)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    for text in [stdout.as_ref(), stderr.as_ref()] {
        assert!(!text.contains(TOKEN), "{text}");
    }
    let mut read = 0;
    for file in files_under(project.path()) {
        let Ok(text) = std::fs::read(&file) else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        read += 1;
        for canary in [TOKEN, EVIDENCE] {
            assert!(!text.contains(canary), "{} holds {canary}", file.display());
        }
    }
    assert!(read > 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_the_migrate_phase_records_it_interrupted_and_resume_finishes() {
    use sqlx::Connection as _;
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    add_chat_migration(
        project.path(),
        MANIFEST,
        "CREATE TABLE chat_feedback (id bigserial PRIMARY KEY);\nSELECT pg_sleep(60);\n",
    );
    let schema = project.path().join("mobius-chat/db/schema");
    let child = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .current_dir(project.path())
        .args(["release", "run", "--env", "local", "--manifest", MANIFEST])
        .env("PATH", venv_path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the slow migration runs on the local cluster.
    let started = std::time::Instant::now();
    let url = loop {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the migration never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let status = Command::new(env!("CARGO_BIN_EXE_preflight"))
            .current_dir(project.path())
            .args(["local", "status", "--format", "json"])
            .output()
            .unwrap();
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&status.stdout) else {
            continue;
        };
        let json = &json["result"];
        let Some(port) = json["port"].as_u64().filter(|_| json["running"] == true) else {
            continue;
        };
        let url = format!("postgres://postgres@127.0.0.1:{port}/mobius_chat");
        let Ok(mut conn) = sqlx::PgConnection::connect(&url).await else {
            continue;
        };
        let running: i64 = sqlx::query_scalar(
            // In the live database: the drift check builds a shadow of the
            // same migrations in another database before the freeze.
            "SELECT count(*) FROM pg_stat_activity WHERE strpos(query, 'pg_sleep(60)') > 0 AND application_name = 'preflight migrate' AND datname = 'mobius_chat'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if running > 0 {
            break url;
        }
    };
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("INT  migrate"), "{stdout}");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            project
                .path()
                .join(".preflight/releases/local/2026-02-14-local/state.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let migrate = state["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == "migrate")
        .unwrap();
    assert_eq!(migrate["status"], "interrupted", "{migrate}");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let feedback: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'chat_feedback'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(feedback, 0, "the interrupted migration was rolled back");

    // Fixed, the release resumes at migrate.
    std::fs::write(
        schema.join("003_chat_feedback.sql"),
        "CREATE TABLE chat_feedback (id bigserial PRIMARY KEY);\n",
    )
    .unwrap();
    let resumed = release(project.path(), &["--resume"]);
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(resumed.status.success(), "{stdout}");
    assert!(stdout.contains("succeeded"), "{stdout}");
}

/// Standard base64, as Secret Manager's REST API carries payloads.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A Secret Manager `versions/…:access` answer holding `value`.
fn secret_reply(name: &str, value: &str) -> crate::gcp::server::Reply {
    crate::gcp::server::Reply {
        status: 200,
        body: format!(
            r#"{{"name":"{name}","payload":{{"data":"{}"}}}}"#,
            base64(format!("{value}\n").as_bytes())
        ),
    }
}

#[test]
fn base64_matches_the_standard_alphabet_and_padding() {
    assert_eq!(base64(b"postgres"), "cG9zdGdyZXM=");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
}

/// A cloud release: the database URL comes from Secret Manager (with a
/// password), the webhook from the environment, the checklist signing key
/// from Secret Manager. None of the three reaches stdout, stderr, any file
/// the run writes or any process's command line, and each was really used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_manager_values_and_the_webhook_url_reach_no_output_file_or_argv() {
    use crate::gcp::server::{FixtureServer, Reply};
    const DB_PASSWORD: &str = "sm-db-canary-8c41d2";
    const HOOK: &str = "hook-canary-2e7a90";
    const KEY: &str = "key-canary-6b05f3-long-enough";
    let pg = preflight_migrate::TempPostgres::start().unwrap();
    // Trust authentication accepts any password: the canary is carried, not checked.
    let url = pg.create_database("app").unwrap().replacen(
        "postgres@",
        &format!("postgres:{DB_PASSWORD}@"),
        1,
    );
    let server = FixtureServer::start().await;
    let access =
        |secret: &str| format!("/v1/projects/canary-proj/secrets/{secret}/versions/latest:access");
    server.route(
        "GET",
        &access("app-database-url"),
        vec![secret_reply(
            "projects/1/secrets/app-database-url/versions/1",
            &url,
        )],
    );
    server.route(
        "GET",
        &access("checklist-key"),
        vec![secret_reply(
            "projects/1/secrets/checklist-key/versions/1",
            KEY,
        )],
    );
    let hook_path = format!("/hooks/services/T0/{HOOK}");
    server.route(
        "POST",
        &hook_path,
        vec![Reply {
            status: 200,
            body: "ok".into(),
        }],
    );

    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    for (path, text) in [
        (
            "preflight.yaml",
            "platform: canary\nmanifests: release-manifests\n\
             checklist:\n  file: docs/checklist.md\n  bindings:\n    - item: \"1.1\"\n      phase: backup\n\
             databases:\n  app: {}\n\
             modules:\n  app:\n    repo: app\n    database: app\n    migrations:\n      kind: sql\n      dir: db\n\
             environments:\n  cloud:\n    checkout: skip\n    databases:\n      app: secret://projects/canary-proj/secrets/app-database-url\n\
             release:\n  notify:\n    webhook: env:CANARY_WEBHOOK\n",
        ),
        (
            "release-manifests/r1.yaml",
            "release_id: 2026-12-02-cloud\ncommits:\n  app: v1.0.0\nmigrations:\n  app: [sql:db/001_init.sql]\n",
        ),
        ("app/db/001_init.sql", "CREATE TABLE t (id int);\n"),
        (
            "docs/checklist.md",
            "# Release\n\n## 1. Database\n\n- [ ] **1.1** Backup taken\n",
        ),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    let endpoint = server.url();
    let webhook = format!("{endpoint}{hook_path}");
    let dir = root.to_path_buf();
    let (outputs, cmdlines) = tokio::task::spawn_blocking(move || {
        crate::migrate::sample_cmdlines(|| {
            let run = |args: &[&str]| {
                Command::new(env!("CARGO_BIN_EXE_preflight"))
                    .current_dir(&dir)
                    .args(args)
                    .env("PATH", venv_path())
                    .env("NO_COLOR", "1")
                    .env("PREFLIGHT_GCP_ENDPOINT", &endpoint)
                    .env("CANARY_WEBHOOK", &webhook)
                    .env(
                        "PREFLIGHT_CHECKLIST_KEY",
                        "secret://projects/canary-proj/secrets/checklist-key",
                    )
                    .output()
                    .unwrap()
            };
            vec![
                run(&["doctor", "--env", "cloud"]),
                run(&["migrate", "status", "--env", "cloud", "--format", "json"]),
                run(&[
                    "release",
                    "run",
                    "--env",
                    "cloud",
                    "--manifest",
                    "release-manifests/r1.yaml",
                ]),
                run(&["checklist", "gate", "docs/checklist.md"]),
            ]
        })
    })
    .await
    .unwrap();

    let release = &outputs[2];
    assert!(
        release.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&release.stdout),
        String::from_utf8_lossy(&release.stderr)
    );
    // Each secret was used: the migration ran, the webhook was called,
    // the checklist item was checked with a signed entry.
    // At the start and at the end.
    assert_eq!(server.hits("POST", &hook_path), 2);
    // The message links the HTML report where the upload puts it.
    let message = server
        .requests()
        .into_iter()
        .find(|r| r.path == hook_path)
        .unwrap()
        .body;
    assert!(
        message.contains("/release_logs/") && message.contains(".html"),
        "{message}"
    );
    let state = std::fs::read_to_string(root.join("docs/checklist.state.jsonl")).unwrap();
    assert!(state.contains("\"mac\""), "{state}");
    let doctor = String::from_utf8_lossy(&outputs[0].stdout);
    assert!(
        doctor.contains("reachable via secret://projects/canary-proj/secrets/app-database-url"),
        "{doctor}"
    );
    // The signed log reads back with the key from Secret Manager.
    assert!(
        outputs[3].status.success(),
        "{}{}",
        String::from_utf8_lossy(&outputs[3].stdout),
        String::from_utf8_lossy(&outputs[3].stderr)
    );

    for out in &outputs {
        for text in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(text);
            for canary in [DB_PASSWORD, HOOK, KEY] {
                assert!(!text.contains(canary), "{canary} in\n{text}");
            }
        }
    }
    let mut read = 0;
    for file in files_under(root) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        read += 1;
        for canary in [DB_PASSWORD, HOOK, KEY] {
            assert!(!text.contains(canary), "{} holds {canary}", file.display());
        }
    }
    assert!(read > 5, "{read}");
    for line in &cmdlines {
        for canary in [DB_PASSWORD, HOOK, KEY] {
            assert!(!line.contains(canary), "{line}");
        }
    }
}

/// `release status` sees a release in flight (its phase, last step and
/// lock), then `status`, `list` and `show` read its record once it ended.
#[test]
fn a_release_is_visible_in_flight_and_afterwards() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let config = project.path().join("preflight.yaml");
    // A long watch window on a passing smoke probe: the run stays in flight.
    edit(
        &config,
        "    envs: [prod]\n    interval_secs: 60\n    window_secs: 900\n",
        "    envs: [local]\n    interval_secs: 1\n    window_secs: 600\n",
    );
    edit(
        &config,
        "probes:\n",
        "probes:\n  - name: local-smoke\n    kind: command\n    command: [\"true\"]\n    phase: smoke\n    envs: [local]\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .current_dir(project.path())
        .args(["release", "run", "--env", "local", "--manifest", MANIFEST])
        .env("PATH", venv_path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let watching = line.contains("watch round 1:");
        seen.push(line);
        if watching {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("watch round 1: 1/1 probes passed")),
        "{seen:?}"
    );
    let cli = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_preflight"))
            .current_dir(project.path())
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, text) = cli(&["release", "status", "--env", "local"]);
    assert_eq!(code, Some(0));
    assert!(
        text.starts_with("release 2026-02-14-local → local (attempt 1) by "),
        "{text}"
    );
    assert!(
        text.contains("\n  phase watch, last step: watch round "),
        "{text}"
    );
    assert!(
        text.contains("\n  lock: preflight release 2026-02-14-local by "),
        "{text}"
    );
    assert!(!text.contains("is gone"), "{text}");
    let (_, json) = cli(&["--format", "json", "release", "status", "--env", "local"]);
    let json = crate::json_result(&json);
    assert_eq!(json["in_flight"][0]["progress"]["phase"], "watch");
    assert_eq!(json["in_flight"][0]["process_alive"], true);
    // Stop it as Ctrl-C would: it ends, recorded as interrupted.
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    for _ in lines {}
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let (_, text) = cli(&["release", "status", "--env", "local"]);
    assert!(
        text.starts_with("no release in flight in local\n"),
        "{text}"
    );
    assert!(
        text.contains("last: 2026-02-14-local failed (attempt 1, "),
        "{text}"
    );
    let (code, text) = cli(&["release", "list", "--env", "local"]);
    assert_eq!(code, Some(0));
    let row = text.lines().next().unwrap();
    assert!(row.starts_with("2026-02-14-local "), "{text}");
    assert!(
        row.contains("failed at watch") && row.contains("attempt 1"),
        "{text}"
    );
    assert!(row.contains("2026-02-14-local.yaml ("), "{text}");
    let (code, text) = cli(&["release", "show", "2026-02-14-local"]);
    assert_eq!(code, Some(0));
    assert!(
        text.starts_with("# Release 2026-02-14-local → local"),
        "{text}"
    );
    let (code, _) = cli(&["release", "show", "2031-01-01-nope"]);
    assert_eq!(code, Some(2));
    // Run elsewhere (no state file here): read from the artifact store.
    std::fs::remove_dir_all(project.path().join(".preflight/releases")).unwrap();
    let (_, json) = cli(&["--format", "json", "release", "list", "--env", "local"]);
    let json = crate::json_result(&json);
    let first = &json["releases"][0];
    assert_eq!(first["release_id"], "2026-02-14-local");
    assert_eq!(first["status"], "failed");
    assert!(
        first["source"]
            .as_str()
            .unwrap()
            .contains("release_logs/2026-02-14-local/2026-02-14-local.json"),
        "{first}"
    );
    let (code, text) = cli(&["release", "show", "2026-02-14-local", "--env", "local"]);
    assert_eq!(code, Some(0));
    assert!(
        text.starts_with("# Release 2026-02-14-local → local"),
        "{text}"
    );
}

/// Renders the HTML report in headless Chromium (Debian's `chromium`) and
/// checks what a person sees: the outcome first, a timeline whose bars are
/// drawn to scale, evidence folded away, the checklist's state. A probe
/// script is added to a copy of the page only (the report has none).
fn see_the_html_report(report: &Path, log: &serde_json::Value) {
    let html = std::fs::read_to_string(report).unwrap();
    assert!(!html.contains("<script"), "the report runs no script");
    let probe = r#"<script>
const px = e => e.getBoundingClientRect();
const bars = [...document.querySelectorAll('.bar')].map(b => ({
  phase: b.dataset.phase, left: px(b).left - px(b.parentElement).left,
  width: px(b).width, track: px(b.parentElement).width }));
document.body.insertAdjacentHTML('beforeend', '<pre id="seen"></pre>');
document.getElementById('seen').textContent = JSON.stringify({
  text: document.querySelector('main').innerText,
  header: getComputedStyle(document.querySelector('header')).backgroundColor,
  bars });
</script>"#;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, html.replace("</body>", &format!("{probe}</body>"))).unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,2000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .env("HOME", dir.path())
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs (scripts/setup installs Debian's chromium)");
    let dom = String::from_utf8_lossy(&out.stdout);
    // The last one: the probe's own source holds the element's markup too.
    let seen = dom
        .rsplit("<pre id=\"seen\">")
        .next()
        .filter(|_| dom.contains("<pre id=\"seen\">{"))
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("the page rendered: {dom}"));
    let seen: serde_json::Value = serde_json::from_str(
        &seen
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
    .unwrap();
    // innerText: what is on the screen, blank lines aside.
    let text = seen["text"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let text = text.as_str();
    // The outcome, first, on green.
    assert!(
        text.starts_with("Release 2026-02-14-local → local\n✅ Succeeded"),
        "{text}"
    );
    assert_eq!(seen["header"], "rgb(26, 127, 55)");
    for heading in ["Timeline", "Phases", "Checklist"] {
        assert!(text.contains(&format!("\n{heading}")), "{heading}: {text}");
    }
    assert!(text.contains(" items checked; not approved"), "{text}");
    // Every phase that ran has a bar, placed and sized on one time scale.
    let phases = log["phases"].as_array().unwrap();
    let ran: Vec<&serde_json::Value> = phases
        .iter()
        .filter(|p| !p["started_at"].is_null())
        .collect();
    let bars = seen["bars"].as_array().unwrap();
    assert_eq!(bars.len(), ran.len());
    let start = |p: &serde_json::Value| {
        p["started_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    let release_start: jiff::Timestamp = log["started_at"].as_str().unwrap().parse().unwrap();
    let span = ran
        .iter()
        .map(|p| {
            start(p).duration_since(release_start).as_secs_f64()
                + p["duration"].as_f64().unwrap() / 1000.0
        })
        .fold(0.0, f64::max);
    for (bar, phase) in bars.iter().zip(&ran) {
        assert_eq!(bar["phase"], phase["phase"]);
        let track = bar["track"].as_f64().unwrap();
        let f = |k: &str| bar[k].as_f64().unwrap() / track;
        let want_left = start(phase).duration_since(release_start).as_secs_f64() / span;
        let want_width = phase["duration"].as_f64().unwrap() / 1000.0 / span;
        assert!((f("left") - want_left).abs() < 0.01, "{bar} vs {want_left}");
        // Bars have a minimum width of 3 px so a 1 ms phase stays visible.
        assert!(
            (f("width") - want_width).abs() < 0.01 || bar["width"].as_f64().unwrap() <= 3.5,
            "{bar} vs {want_width}"
        );
        assert!(f("left") + f("width") <= 1.01, "{bar}");
    }
    // Evidence is folded: in the page, not on the screen until opened.
    let evidence = phases
        .iter()
        .flat_map(|p| p["steps"].as_array().cloned().unwrap_or_default())
        .filter(|s| s["outcome"] == "passed")
        .find_map(|s| s["evidence"][0].as_str().map(str::to_string))
        .expect("a step with evidence");
    let first_line = evidence.lines().next().unwrap().trim();
    assert!(
        html.contains(
            &first_line
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        )
    );
    assert!(!text.contains(first_line), "{first_line} is folded away");
    // Each phase's outcome is one visible line; one with warnings is open.
    assert!(
        text.contains("\npassed migrate 5 module(s) passed\n"),
        "{text}"
    );
    assert!(
        text.contains("\nskipped deploy no deploy steps configured for `local`\n"),
        "{text}"
    );
    assert!(
        text.contains("\npassed with warnings preflight ")
            && text.contains("\nstep\toutcome\ttime\tsummary\n"),
        "{text}"
    );
}

/// `init` on a copy of the example without its config writes one that
/// validates and rehearses the example's own local manifest, a manifest
/// template and no file over an existing one.
#[test]
fn init_reproduces_a_config_that_validates_and_rehearses() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let config = project.path().join("preflight.yaml");
    std::fs::remove_file(&config).unwrap();
    let cli = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_preflight"))
            .current_dir(project.path())
            .args(args)
            .env("PATH", venv_path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (code, out) = cli(&["init", "--platform", "mobius"]);
    assert_eq!(code, Some(0), "{out}");
    for line in [
        "found module mobius-os: alembic migrations in backend/migrations/versions; images mobius-os-backend",
        "found module mobius-chat: sql migrations in db/schema; pytest suite in mobius-chat",
        "found module mobius-ops: supabase migrations in supabase/migrations",
        "found module mobius-rag: python migrations in app/migrations; mobius-rag/.env.example",
        "found module mobius-user: alembic migrations in migrations/versions",
        "found checklist docs/production_build_checklist.md",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("platform: mobius\n"));
    assert!(
        written.contains("    command: [pytest, -m, \"not integration\"]\n"),
        "{written}"
    );
    // It validates with the example's manifests, and rehearses.
    let (code, out) = cli(&[
        "manifest",
        "validate",
        MANIFEST,
        "--config",
        "preflight.yaml",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = cli(&["release", "run", "--env", "local", "--manifest", MANIFEST]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("release 2026-02-14-local to local succeeded"),
        "{out}"
    );
    assert!(out.contains("ok   migrate    5 module(s) passed"), "{out}");
    // The template pins what the files say and leaves the rest to fill in.
    let today = jiff::Zoned::now().date();
    let template = std::fs::read_to_string(
        project
            .path()
            .join(format!("release-manifests/{today}-local.yaml")),
    )
    .unwrap();
    assert!(
        template.contains("  mobius-os: \"c4d5e6f7a8b9\"\n"),
        "{template}"
    );
    assert!(template.contains("  mobius-chat: [sql:db/schema/001_init.sql, sql:db/schema/002_published_rag_metadata.sql]\n"), "{template}");
    assert!(template.contains("  mobius-ops: [supabase:20260201120000, supabase:20260202090000, supabase:20260203100000]\n"), "{template}");
    // Again: nothing replaced.
    std::fs::write(&config, "platform: edited\n").unwrap();
    let (code, out) = cli(&["init"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("(exists; not replaced)"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "platform: edited\n"
    );
    // An empty folder has nothing to configure: said, not guessed.
    let empty = tempfile::tempdir().unwrap();
    let (code, out) = cli(&["init", empty.path().to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("found no module in"), "{out}");
}

/// Backups you can trust: `backup list` shows each dump with its release,
/// `backup verify` restores one into a throwaway database and runs its
/// contract, `backup restore` goes only where the operator says (with
/// --yes, never into the source), and a corrupted dump is refused.
#[tokio::test]
async fn backups_are_listed_verified_and_restored_where_asked() {
    use sqlx::Connection as _;
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let out = release(project.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A second attempt migrates the chat database again: its dump holds
    // the schema the first one built.
    add_chat_migration(
        project.path(),
        MANIFEST,
        "CREATE TABLE chat_feedback (id bigserial PRIMARY KEY);\n",
    );
    let out = release(project.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let cli = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_preflight"))
            .current_dir(project.path())
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (code, list) = cli(&["backup", "list", "--env", "local"]);
    assert_eq!(code, Some(0), "{list}");
    assert_eq!(list.lines().count(), 6, "{list}");
    let chats: Vec<&str> = list
        .lines()
        .filter(|l| l.starts_with("mobius_chat "))
        .collect();
    assert_eq!(chats.len(), 2, "{list}");
    assert!(
        chats.iter().all(|l| l.contains(" 2026-02-14-local ")),
        "{list}"
    );

    let chat = ["--env", "local", "--database", "mobius_chat"];
    let (code, verified) = cli(&[&["backup", "verify"][..], &chat[..]].concat());
    assert_eq!(code, Some(0), "{verified}");
    assert!(verified.contains("\n  ok sha256 "), "{verified}");
    let tables: usize = verified
        .split("throwaway database (")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{verified}"));
    assert!(tables >= 1, "{verified}");
    // The contract moved to 003 with this release; the dump is of 002.
    assert!(
        verified.contains("\n  differs from contract mobius-chat-contract: "),
        "{verified}"
    );
    assert!(
        verified.contains("\nusable; its schema is not the current contract's"),
        "{verified}"
    );

    // Restore: only with --yes, never into the environment's own database.
    let (_, status) = cli(&["--format", "json", "local", "status"]);
    let port = crate::json_result(&status)["port"].as_u64().unwrap();
    let source = format!("postgres://postgres@127.0.0.1:{port}/mobius_chat");
    let mut admin =
        sqlx::PgConnection::connect(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
            .await
            .unwrap();
    sqlx::raw_sql("CREATE DATABASE restored_chat")
        .execute(&mut admin)
        .await
        .unwrap();
    let target = format!("postgres://postgres@127.0.0.1:{port}/restored_chat");
    let restore = [&["backup", "restore"][..], &chat[..], &["--to"][..]].concat();
    let (code, out) = cli(&[&restore[..], &[target.as_str()]].concat());
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("add --yes"), "{out}");
    let (code, out) = cli(&[&restore[..], &[source.as_str(), "--yes"]].concat());
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("itself"), "{out}");
    let (code, out) = cli(&[&restore[..], &[target.as_str(), "--yes"]].concat());
    assert_eq!(code, Some(0), "{out}");
    let mut restored = sqlx::PgConnection::connect(&target).await.unwrap();
    let threads: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'chat_threads'")
            .fetch_one(&mut restored)
            .await
            .unwrap();
    assert_eq!(threads, 1);
    let feedback: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'chat_feedback'")
            .fetch_one(&mut restored)
            .await
            .unwrap();
    assert_eq!(feedback, 0, "the dump predates 003");

    // A dump changed after it was stored is refused, and not restored.
    let dir = project
        .path()
        .join(".preflight/artifacts/local/backups/mobius_chat");
    let mut dumps: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dump"))
        .collect();
    dumps.sort();
    let dump = dumps.pop().unwrap();
    let mut bytes = std::fs::read(&dump).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&dump, bytes).unwrap();
    let (code, refused) = cli(&[&["backup", "verify"][..], &chat[..]].concat());
    assert_eq!(code, Some(1), "{refused}");
    assert!(refused.contains("NOT usable"), "{refused}");
    assert!(!refused.contains("restored into"), "{refused}");
    let (code, out) = cli(&[&restore[..], &[target.as_str(), "--yes"]].concat());
    assert_eq!(code, Some(2), "{out}");
}

/// The same backups through Cloud Storage (fake-gcs-server): the release
/// stores its dumps in `gs://`, `backup list` reads them there with their
/// release, and `backup verify` downloads one, checks it and restores it.
#[tokio::test]
async fn backups_in_cloud_storage_are_listed_and_verified() {
    let gcs = crate::emulator::FakeGcs::start().await;
    gcs.create_bucket("mobius-backups").await;
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    edit(
        &project.path().join("preflight.yaml"),
        "  local:\n",
        "  local:\n    artifacts: gs://mobius-backups/preflight\n",
    );
    let host = gcs.url.trim_start_matches("http://").to_string();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
            .current_dir(project.path())
            .args(args)
            .env("PATH", venv_path())
            .env("NO_COLOR", "1")
            .env("STORAGE_EMULATOR_HOST", &host)
            .output()
            .unwrap()
    };
    let out = run(&["release", "run", "--env", "local", "--manifest", MANIFEST]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let list = run(&[
        "backup",
        "list",
        "--env",
        "local",
        "--database",
        "mobius_chat",
    ]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{text}");
    assert!(
        text.contains(" 2026-02-14-local  gs://mobius-backups/preflight/backups/mobius_chat/"),
        "{text}"
    );
    let verify = run(&[
        "backup",
        "verify",
        "--env",
        "local",
        "--database",
        "mobius_chat",
    ]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        text.starts_with("backup gs://mobius-backups/preflight/backups/mobius_chat/"),
        "{text}"
    );
    assert!(
        text.contains("\n  ok sha256 ") && text.contains("restored into a throwaway database"),
        "{text}"
    );
}
