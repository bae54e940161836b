//! Command, env parity, TCP and dbt probes.

use std::time::Duration;

use preflight_verify::{
    CommandProbe, DbtResultsProbe, EnvDiff, EnvFile, EnvParityProbe, OUTPUT_TAIL, Outcome,
    ProbeSpec, Runner, TcpProbe,
};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[tokio::test]
async fn commands_keep_the_tail_and_honour_exit_codes_and_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let mut noisy = CommandProbe::new([
        "sh",
        "-c",
        "for i in $(seq 1 50); do echo line $i; done; echo oops >&2; exit 3",
    ]);
    noisy.dir = Some(dir.path().to_path_buf());
    let mut expected_three = noisy.clone();
    expected_three.expect_exit = 3;
    let mut with_env = CommandProbe::new([
        "sh",
        "-c",
        "test \"$GATE_TOKEN\" = tok-123456 && echo token is $GATE_TOKEN",
    ]);
    with_env
        .env
        .insert("GATE_TOKEN".into(), "tok-123456".into());
    let report = Runner::new(4)
        .unwrap()
        .run(vec![
            ProbeSpec::new("noisy", noisy),
            ProbeSpec::new("expected-3", expected_three),
            ProbeSpec::new("sleeper", CommandProbe::new(["sleep", "30"]))
                .timeout(Duration::from_millis(200)),
            ProbeSpec::new("missing", CommandProbe::new(["definitely-not-a-program-x"])),
            ProbeSpec::new("env", with_env),
        ])
        .await;
    let r = &report.results;
    assert_eq!(r[0].outcome, Outcome::Failed);
    assert_eq!(r[0].summary, "exit 3, expected 0");
    assert_eq!(r[0].evidence.len(), OUTPUT_TAIL + 2);
    assert_eq!(r[0].evidence[0], "line 31");
    assert_eq!(r[0].evidence[OUTPUT_TAIL - 1], "line 50");
    assert_eq!(r[0].evidence[OUTPUT_TAIL..], ["--- stderr ---", "oops"]);
    assert_eq!(r[1].outcome, Outcome::Passed);
    assert_eq!(r[2].outcome, Outcome::TimedOut);
    assert_eq!(r[3].outcome, Outcome::Errored);
    assert!(
        r[3].summary
            .starts_with("cannot start `definitely-not-a-program-x`")
    );
    assert_eq!(r[4].outcome, Outcome::Passed);
    assert_eq!(r[4].evidence, ["token is ***"]);
}

/// Whether a process with this pid runs (not a zombie).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

#[tokio::test]
async fn a_timed_out_command_ends_its_whole_group_and_keeps_its_tail() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // A grandchild in the background, and the shell waiting on another.
    let script = format!(
        "sleep 300 & echo $! > {0}; sleep 301 & echo $! >> {0}; echo started; wait",
        pids.display()
    );
    let report = Runner::new(1)
        .unwrap()
        .run(vec![
            ProbeSpec::new("hang", CommandProbe::new(["sh", "-c", &script]))
                .timeout(Duration::from_millis(500)),
        ])
        .await;
    let r = &report.results[0];
    assert_eq!(r.outcome, Outcome::TimedOut);
    assert_eq!(r.evidence, ["started"], "the tail read before the timeout");
    let pids = std::fs::read_to_string(&pids).unwrap();
    let pids: Vec<&str> = pids.lines().collect();
    assert_eq!(pids.len(), 2);
    // SIGTERM ends `sleep` at once; allow for the grace period anyway.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(p)) && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for pid in pids {
        assert!(!alive(pid), "grandchild {pid} outlived its timed-out step");
    }
}

#[tokio::test]
async fn a_command_is_done_when_it_exits_even_if_a_background_child_holds_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!("echo done; sleep 1236 & echo $! > {}", pid_file.display());
    let report = Runner::new(1)
        .unwrap()
        .run(vec![
            ProbeSpec::new("bg", CommandProbe::new(["sh", "-c", &script]))
                .timeout(Duration::from_secs(20)),
        ])
        .await;
    let r = &report.results[0];
    // Passed, not timed out: the held pipe did not keep the step running.
    assert_eq!(r.outcome, Outcome::Passed, "{r:?}");
    assert_eq!(r.evidence, ["done"]);
    // Not ours to keep: end the leftover so the test leaves nothing behind.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
}

#[tokio::test]
async fn env_parity_lists_keys_never_values() {
    let example = fixture("env/.env.example");
    let actual = fixture("env/.env");
    let diff = EnvDiff::between(
        &EnvFile::load(&example).unwrap(),
        &EnvFile::load(&actual).unwrap(),
    );
    assert_eq!(diff.missing, ["REDIS_URL"]);
    assert_eq!(diff.empty, ["OPENAI_API_KEY"]);
    assert_eq!(diff.extra, ["DEBUG_SQL"]);
    let report = Runner::new(1)
        .unwrap()
        .run(vec![ProbeSpec::new(
            "rag-env",
            EnvParityProbe { example, actual },
        )])
        .await;
    let r = &report.results[0];
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.summary, "1 missing, 1 empty, 1 extra of 4 keys");
    let all = format!(
        "{}{}{}",
        report.to_json(),
        report.to_markdown(),
        report.to_junit("verify")
    );
    for value in ["hunter2-db-pass", "super-secret-session", "true-debug"] {
        assert!(!all.contains(value), "{value} leaked");
    }
}

#[tokio::test]
async fn tcp_and_dbt() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let report = Runner::new(4)
        .unwrap()
        .run(vec![
            ProbeSpec::new("redis", TcpProbe { address: open }),
            ProbeSpec::new("redis-down", TcpProbe { address: closed }),
            ProbeSpec::new(
                "dbt-ok",
                DbtResultsProbe {
                    run_results: fixture("dbt/ok.json"),
                },
            ),
            ProbeSpec::new(
                "dbt-failed",
                DbtResultsProbe {
                    run_results: fixture("dbt/failed.json"),
                },
            ),
            ProbeSpec::new(
                "dbt-absent",
                DbtResultsProbe {
                    run_results: fixture("dbt/absent.json"),
                },
            ),
        ])
        .await;
    let r = &report.results;
    assert_eq!(r[0].outcome, Outcome::Passed);
    assert_eq!(r[1].outcome, Outcome::Failed);
    assert_eq!(r[2].outcome, Outcome::Passed);
    assert_eq!(r[2].summary, "3 nodes, none failed (1 warned)");
    assert_eq!(r[3].outcome, Outcome::Failed);
    assert_eq!(r[3].summary, "2 of 4 nodes failed");
    assert_eq!(
        r[3].evidence,
        [
            "error model.mobius.fct_claims: Database Error in model fct_claims",
            "fail test.mobius.not_null_claims_id: Got 3 results, configured to fail if != 0",
        ]
    );
    assert_eq!(r[4].outcome, Outcome::Errored);
}
