//! The release engine through the library alone (no binary), on copies of
//! the Mobius example and the project's throwaway PostgreSQL cluster.

use std::path::Path;
use std::process::Command;

use preflight_release::{
    Error, Phase, PhaseStatus, Platform, ReleaseOptions, ReleaseStatus, run_release,
};

mod example;

use example::{ResetLocal, add_chat_migration, edit, example_copy};

const MANIFEST: &str = "release-manifests/2026-02-14-local.yaml";

fn options(project: &Path) -> ReleaseOptions {
    let mut o = ReleaseOptions::new(
        project.join("preflight.yaml"),
        project.join(MANIFEST),
        "local",
    );
    o.operator = "release-test".into();
    o
}

/// Every flavour's ledger row count, to prove nothing was migrated.
async fn migrated(project: &Path) -> Vec<(String, String)> {
    let platform = Platform::load(&project.join("preflight.yaml")).unwrap();
    let target = platform.target("local").await.unwrap();
    let manifest = platform
        .load_manifest(&project.join(MANIFEST), Some("local"))
        .unwrap();
    platform
        .check_migrations(&target, Some(&manifest), None)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.module, c.state.as_str().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_rehearsal_runs_through_the_library_alone() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let mut phases = Vec::new();
    let log = run_release(&options(project.path()), &mut |e| {
        if let preflight_release::ReleaseEvent::PhaseFinished { phase, status, .. } = e {
            phases.push((*phase, *status));
        }
    })
    .await
    .unwrap();
    assert_eq!(
        log.status,
        ReleaseStatus::Succeeded,
        "{}",
        log.to_markdown()
    );
    assert_eq!(log.attempt, 1);
    assert_eq!(phases.len(), Phase::ALL.len());
    assert_eq!(
        log.phase(Phase::Migrate).unwrap().status,
        PhaseStatus::Passed
    );
    assert_eq!(
        log.phase(Phase::Backup).unwrap().status,
        PhaseStatus::Passed
    );
    assert!(
        migrated(project.path())
            .await
            .iter()
            .all(|(_, s)| s == "at manifest")
    );
    // A second run of the same id is a new attempt; the first keeps its evidence.
    let again = run_release(&options(project.path()), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again.attempt, 2);
    let logs = project
        .path()
        .join(".preflight/release_logs/2026-02-14-local");
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(logs.join("attempt-1.json")).unwrap())
            .unwrap();
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["phases"][5]["status"], "passed", "{first:#}");
    assert!(logs.join("attempt-2.md").is_file());
    let states = project
        .path()
        .join(".preflight/releases/local/2026-02-14-local");
    assert!(states.join("attempt-1.state.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_migrate_never_runs_past_a_gate_and_backup_that_did_not_pass() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    for from in [
        ReleaseOptions {
            from: Some(Phase::Migrate),
            ..options(project.path())
        },
        ReleaseOptions {
            only: Some(Phase::Migrate),
            ..options(project.path())
        },
    ] {
        let log = run_release(&from, &mut |_| {}).await.unwrap();
        assert_eq!(log.status, ReleaseStatus::Failed);
        assert_eq!(log.failed_phase, Some(Phase::Migrate));
        let summary = &log.phase(Phase::Migrate).unwrap().summary;
        assert!(
            summary.contains("hard-gate and backup has not passed"),
            "{summary}"
        );
    }
    // Nothing was migrated.
    assert!(
        migrated(project.path())
            .await
            .iter()
            .all(|(_, s)| s == "pending"),
        "{:?}",
        migrated(project.path()).await
    );
    // Skipping on the record is allowed where the environment is not protected…
    let skipping = ReleaseOptions {
        from: Some(Phase::Migrate),
        skip: vec![Phase::HardGate, Phase::Backup],
        skip_reason: Some("restored from last night's snapshot".into()),
        ..options(project.path())
    };
    let log = run_release(&skipping, &mut |_| {}).await.unwrap();
    assert_eq!(log.status, ReleaseStatus::Running, "{}", log.to_markdown());
    let backup = log.phase(Phase::Backup).unwrap();
    assert_eq!(backup.status, PhaseStatus::SkippedByOperator);
    assert_eq!(
        backup.decision.as_ref().unwrap().reason,
        "restored from last night's snapshot"
    );
    assert!(log.to_markdown().contains("## Operator decisions"));
    // JUnit: the phase is a skipped suite saying who and why; nothing fails.
    let junit = log.to_junit();
    assert!(junit.contains("<skipped message=\"skipped by "), "{junit}");
    assert!(
        junit.contains("restored from last night&apos;s snapshot"),
        "{junit}"
    );
    assert!(junit.contains("failures=\"0\" errors=\"0\""), "{junit}");
    // …and refused where it is.
    edit(
        &project.path().join("preflight.yaml"),
        "    checkout: skip\n",
        "    checkout: skip\n    protected: true\n",
    );
    let refused = run_release(&skipping, &mut |_| {}).await.unwrap_err();
    assert!(matches!(refused, Error::Refused(_)), "{refused}");
    assert!(refused.to_string().contains("protected"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_that_does_not_fit_the_config_stops_before_anything_runs() {
    let project = example_copy();
    let manifest = project.path().join(MANIFEST);
    edit(
        &manifest,
        "  mobius-chat: [sql:db/schema/001_init.sql, sql:db/schema/002_published_rag_metadata.sql]",
        "  mobius-chat: [sql:other/dir/002_totally_wrong_name.sql]\n  mobius-ghost: [python:x]",
    );
    let err = run_release(&options(project.path()), &mut |_| {})
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidManifest { .. }), "{text}");
    assert!(text.contains("unknown-module"), "{text}");
    assert!(text.contains("pin-kind-mismatch"), "{text}");
    assert!(!project.path().join(".preflight/releases").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_without_a_url_for_a_migrated_database_is_refused() {
    let project = example_copy();
    edit(
        &project.path().join("preflight.yaml"),
        "      mobius_ops: local\n",
        "",
    );
    let err = run_release(&options(project.path()), &mut |_| {})
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("missing-database-url"), "{text}");
    assert!(text.contains("mobius_ops"), "{text}");
}

#[test]
fn a_relative_config_path_has_an_absolute_root() {
    let platform = Platform::load(Path::new("../../examples/mobius/preflight.yaml")).unwrap();
    assert!(platform.root().is_absolute());
    assert_eq!(
        platform.root().canonicalize().unwrap(),
        Path::new("../../examples/mobius").canonicalize().unwrap()
    );
}

#[test]
fn repo_readiness_fails_closed() {
    let project = example_copy();
    let root = project.path();
    let repo = root.join("mobius-chat");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "main"]);
    git(&["checkout", "-qb", "feature"]);
    std::fs::write(repo.join("feature.txt"), "x").unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-qm", "feature"]);
    let feature = git(&["rev-parse", "HEAD"]);
    let manifest_path = root.join("release-manifests/2026-02-12-staging.yaml");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    let pinned = text
        .lines()
        .map(|l| {
            if l.starts_with("  mobius-chat: ") && !l.contains('[') {
                format!("  mobius-chat: {feature}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&manifest_path, pinned).unwrap();
    let platform = Platform::load(&root.join("preflight.yaml")).unwrap();
    let manifest = platform.load_manifest(&manifest_path, None).unwrap();
    let check = |platform: &Platform| {
        platform
            .check_repos(&manifest, Default::default())
            .into_iter()
            .map(|c| (c.module.clone(), c.state, c.detail))
            .collect::<Vec<_>>()
    };
    let chat = |all: Vec<(String, preflight_release::RepoState, String)>| {
        all.into_iter()
            .find(|(m, _, _)| m == "mobius-chat")
            .unwrap()
    };
    // An unmerged feature-branch SHA.
    let (_, state, detail) = chat(check(&platform));
    assert_eq!(state, preflight_release::RepoState::NotReady);
    assert!(detail.contains("is not on `main`"), "{detail}");
    // Merged, but with a modified and an untracked file.
    git(&["checkout", "-q", "main"]);
    git(&["merge", "-q", "--ff-only", "feature"]);
    std::fs::write(repo.join("db/schema/001_init.sql"), "-- edited\n").unwrap();
    std::fs::write(repo.join("db/schema/099_untracked.sql"), "SELECT 1;\n").unwrap();
    let (_, state, detail) = chat(check(&platform));
    assert_eq!(state, preflight_release::RepoState::NotReady);
    assert!(detail.contains("2 modified or untracked"), "{detail}");
    // Clean and at the pin.
    git(&["checkout", "-q", "--", "."]);
    std::fs::remove_file(repo.join("db/schema/099_untracked.sql")).unwrap();
    let (_, state, detail) = chat(check(&platform));
    assert_eq!(state, preflight_release::RepoState::Ready, "{detail}");
    // A module folder that is not a checkout of its own fails, never silently passes.
    let all = check(&platform);
    let (_, state, detail) = all.iter().find(|(m, _, _)| m == "mobius-os").unwrap();
    assert_eq!(*state, preflight_release::RepoState::NotReady);
    assert!(detail.contains("not a git checkout"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_stops_the_release_and_resume_finishes_it() {
    assert!(
        Command::new("alembic").arg("--version").output().is_ok(),
        "run through scripts/test, which puts the venv (alembic, pytest) on PATH"
    );
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    add_chat_migration(
        project.path(),
        MANIFEST,
        "CREATE TABLE chat_feedback (id bigserial PRIMARY KEY, turn_id bigint REFERENCES chat_turn (id));\n",
    );
    let schema = project.path().join("mobius-chat/db/schema");
    let opts = options(project.path());
    let mut events = Vec::new();
    let log = run_release(&opts, &mut |e| {
        events.push(serde_json::to_string(e).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(log.status, ReleaseStatus::Failed);
    assert_eq!(log.failed_phase, Some(Phase::Migrate));
    let migrate = log.phase(Phase::Migrate).unwrap();
    let chat = migrate
        .steps
        .iter()
        .find(|s| s.name == "mobius-chat")
        .unwrap();
    assert!(!chat.passed());
    assert!(chat.summary.contains("003"), "{}", chat.summary);
    assert!(
        chat.evidence
            .iter()
            .chain([&chat.summary])
            .any(|l| l.contains("chat_turn")),
        "{chat:?}"
    );
    // Modules before it were applied; phases after it did not run.
    assert!(
        migrate
            .steps
            .iter()
            .find(|s| s.name == "mobius-os")
            .unwrap()
            .passed()
    );
    assert_eq!(
        log.phase(Phase::Verify).unwrap().status,
        PhaseStatus::NotRun
    );
    let markdown = std::fs::read_to_string(
        project
            .path()
            .join(".preflight/release_logs/2026-02-14-local.md"),
    )
    .unwrap();
    assert!(markdown.contains("**Stopped at `migrate`.**"), "{markdown}");
    assert!(
        events
            .iter()
            .any(|e| e.contains("\"event\":\"phase_finished\"")
                && e.contains("\"status\":\"failed\""))
    );

    // Fix the migration (the manifest is unchanged) and resume.
    std::fs::write(schema.join("003_chat_feedback.sql"), "CREATE TABLE chat_feedback (id bigserial PRIMARY KEY, turn_id bigint REFERENCES chat_turns (id));\n").unwrap();
    let resumed = run_release(
        &ReleaseOptions {
            resume: true,
            ..opts.clone()
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        resumed.status,
        ReleaseStatus::Succeeded,
        "{:#?}",
        resumed.phases
    );
    assert_eq!(resumed.resumed, 1);
    // Done phases were not repeated: their records are the first run's.
    for phase in [Phase::HardGate, Phase::Backup] {
        assert_eq!(
            resumed.phase(phase).unwrap().started_at,
            log.phase(phase).unwrap().started_at,
            "{phase:?}"
        );
    }
    assert_ne!(
        resumed.phase(Phase::Migrate).unwrap().started_at,
        migrate.started_at
    );
    let migrate = resumed.phase(Phase::Migrate).unwrap();
    assert_eq!(
        migrate
            .steps
            .iter()
            .find(|s| s.name == "mobius-chat")
            .unwrap()
            .summary,
        "applied 1 to mobius_chat; now at the manifest"
    );

    // Resuming a finished release is refused.
    let again = run_release(
        &ReleaseOptions {
            resume: true,
            ..opts
        },
        &mut |_| {},
    )
    .await;
    assert!(again.unwrap_err().to_string().contains("already succeeded"));
}

/// A manual change to a database in an environment that says `drift: hard`
/// stops the next release in the preflight checks, before the freeze, with
/// the finding in the log; `schema_drift` classifies it; a clean database
/// reports no drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_change_stops_the_release_before_the_freeze() {
    use preflight_release::{DriftOptions, DriftState};
    use sqlx::Connection as _;
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    edit(
        &project.path().join("preflight.yaml"),
        "  local:\n",
        "  local:\n    drift: hard\n",
    );
    let first = run_release(&options(project.path()), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        first.status,
        ReleaseStatus::Succeeded,
        "{}",
        first.to_markdown()
    );
    let platform = Platform::load(&project.path().join("preflight.yaml")).unwrap();
    let target = platform.target("local").await.unwrap();
    let clean = platform
        .schema_drift(&target, None, &DriftOptions::default())
        .await
        .unwrap();
    assert_eq!(clean.len(), 5);
    assert!(
        clean.iter().all(|r| r.state == DriftState::Clean),
        "{clean:#?}"
    );

    // Someone fixes production by hand.
    let url = &target.database("mobius_chat").unwrap().url;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql("ALTER TABLE chat_turns ADD COLUMN hotfix text; CREATE FUNCTION quick_fix() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        .execute(&mut conn)
        .await
        .unwrap();
    let found = platform
        .schema_drift(
            &target,
            None,
            &DriftOptions {
                module: Some("mobius-chat".into()),
                privileges: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].state, DriftState::Drift);
    let names: Vec<String> = found[0]
        .findings
        .iter()
        .map(|f| format!("{} {} {}", f.label(), f.kind.as_str(), f.name))
        .collect();
    assert_eq!(
        names,
        [
            "unrecorded column public.chat_turns.hotfix",
            "unrecorded function public.quick_fix()"
        ]
    );

    let second = run_release(&options(project.path()), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(second.status, ReleaseStatus::Failed);
    let preflight = second
        .phases
        .iter()
        .find(|p| p.phase == Phase::Preflight)
        .unwrap();
    assert_eq!(preflight.status, PhaseStatus::Failed);
    let step = preflight
        .steps
        .iter()
        .find(|s| s.name == "drift mobius_chat")
        .unwrap();
    assert!(
        step.evidence
            .iter()
            .any(|e| e.starts_with("unrecorded column public.chat_turns.hotfix")),
        "{step:?}"
    );
    // Nothing after the preflight checks ran: no freeze, no migration
    // (guards that passed in attempt 1 are only carried over, marked so).
    assert!(
        second
            .phases
            .iter()
            .filter(|p| p.phase != Phase::Preflight && p.carried_from.is_none())
            .all(|p| p.status == PhaseStatus::NotRun),
        "{}",
        second.to_markdown()
    );
    assert!(second.to_markdown().contains("public.chat_turns.hotfix"));
}

/// A pending migration that breaks a rule the environment blocks stops the
/// release in the preflight checks, with the violation at its file, line
/// and column in the log; its safe rewrite passes, other rules only warn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_lint_violation_stops_the_release_and_its_safe_rewrite_passes() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let first = run_release(&options(project.path()), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        first.status,
        ReleaseStatus::Succeeded,
        "{}",
        first.to_markdown()
    );
    edit(
        &project.path().join("preflight.yaml"),
        "  local:\n",
        "  local:\n    lint:\n      block: [require-concurrent-index-creation]\n",
    );
    add_chat_migration(
        project.path(),
        MANIFEST,
        "CREATE TABLE chat_feedback (id bigint PRIMARY KEY, turn_id bigint);\n\nCREATE INDEX chat_turns_thread ON chat_turns (thread_id);\n",
    );
    let log = run_release(&options(project.path()), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(log.status, ReleaseStatus::Failed, "{}", log.to_markdown());
    let preflight = log
        .phases
        .iter()
        .find(|p| p.phase == Phase::Preflight)
        .unwrap();
    assert_eq!(preflight.status, PhaseStatus::Failed);
    let step = preflight
        .steps
        .iter()
        .find(|s| s.name == "lint mobius-chat")
        .unwrap();
    assert!(step.summary.contains("1 blocking violation(s)"), "{step:?}");
    let evidence = step.evidence.join("\n");
    assert!(
        evidence.contains("error[require-concurrent-index-creation]")
            && evidence.contains("003_chat_feedback.sql:3:1"),
        "{evidence}"
    );
    assert!(
        log.phases
            .iter()
            .filter(|p| p.phase == Phase::Migrate)
            .all(|p| p.status == PhaseStatus::NotRun)
    );

    // The safe rewrite: concurrently, outside a transaction.
    std::fs::write(
        project.path().join("mobius-chat/db/schema/003_chat_feedback.sql"),
        "-- preflight:no-transaction\nCREATE TABLE IF NOT EXISTS chat_feedback (id bigint PRIMARY KEY, turn_id bigint);\n\nCREATE INDEX CONCURRENTLY IF NOT EXISTS chat_turns_thread ON chat_turns (thread_id);\n",
    )
    .unwrap();
    let log = run_release(&options(project.path()), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        log.status,
        ReleaseStatus::Succeeded,
        "{}",
        log.to_markdown()
    );
}

/// `contract snapshot` writes a contract that the database it came from
/// passes, for every flavour; a hand-made overload then fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_snapshot_passes_against_its_database_and_catches_an_overload() {
    use preflight_verify::{Contract, ContractProbe, Outcome, ProbeSpec, Runner};
    use sqlx::Connection as _;
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let log = run_release(&options(project.path()), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        log.status,
        ReleaseStatus::Succeeded,
        "{}",
        log.to_markdown()
    );
    let platform = Platform::load(&project.path().join("preflight.yaml")).unwrap();
    let target = platform.target("local").await.unwrap();
    let check = |text: String, url: String| async move {
        let contract = Contract::parse(Path::new("snapshot.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let report = Runner::new(1)
            .unwrap()
            .run(vec![ProbeSpec::new(
                "snapshot",
                ContractProbe {
                    database_url: url,
                    contract,
                },
            )])
            .await;
        report.results.into_iter().next().unwrap()
    };
    for (module, database) in [
        ("mobius-os", "mobius"),
        ("mobius-chat", "mobius_chat"),
        ("mobius-ops", "mobius_ops"),
        ("mobius-user", "mobius_user"),
    ] {
        let text = platform
            .contract_snapshot(&target, module, "a snapshot")
            .await
            .unwrap();
        assert!(text.starts_with("# a snapshot\n"), "{text}");
        let url = target.database(database).unwrap().url.clone();
        let result = check(text, url).await;
        assert_eq!(
            result.outcome,
            Outcome::Passed,
            "{module}: {:?}",
            result.evidence
        );
    }
    let text = platform
        .contract_snapshot(&target, "mobius-ops", "ops")
        .await
        .unwrap();
    assert!(
        text.contains("\"ops.claim_pending_job(text[], integer, text) -> SETOF ops.jobs\""),
        "{text}"
    );
    assert!(
        text.contains("kind: supabase\n    version: \"20260203100000\""),
        "{text}"
    );
    let url = target.database("mobius_ops").unwrap().url.clone();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE FUNCTION ops.queue_job(kind text) RETURNS uuid LANGUAGE sql AS $$ SELECT gen_random_uuid() $$")
        .execute(&mut conn)
        .await
        .unwrap();
    let result = check(text, url).await;
    assert_eq!(result.outcome, Outcome::Failed);
    assert!(
        result
            .evidence
            .join("\n")
            .contains("an extra overload exists: ops.queue_job(text)"),
        "{:?}",
        result.evidence
    );
}

/// A contract the migrations cannot meet fails in the preflight checks, on
/// the schema the manifest's pins build, before anything is frozen or
/// migrated (it used to surface only in the verify phase, after migrating).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_the_migrations_cannot_meet_fails_before_the_freeze() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    edit(
        &project.path().join("contracts/mobius_chat.yaml"),
        "tables:\n",
        "tables:\n  - name: chat_turns\n    columns:\n      sentiment: text\n",
    );
    let log = run_release(&options(project.path()), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(log.status, ReleaseStatus::Failed, "{}", log.to_markdown());
    let preflight = log
        .phases
        .iter()
        .find(|p| p.phase == Phase::Preflight)
        .unwrap();
    assert_eq!(preflight.status, PhaseStatus::Failed);
    let step = preflight
        .steps
        .iter()
        .find(|s| s.name == "contract mobius-chat-contract after migrating")
        .unwrap_or_else(|| panic!("{}", log.to_markdown()));
    assert!(
        step.evidence
            .iter()
            .any(|e| e.contains("column public.chat_turns.sentiment: missing")),
        "{step:?}"
    );
    // Nothing was migrated.
    assert!(
        migrated(project.path())
            .await
            .iter()
            .all(|(_, state)| state != "at manifest"),
        "{:?}",
        migrated(project.path()).await
    );
}

/// The watch window reports every round as it ends, so a long window is
/// never silent in a CI log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_watch_round_is_an_event() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    edit(
        &project.path().join("preflight.yaml"),
        "    envs: [prod]\n    interval_secs: 60\n    window_secs: 900\n",
        "    envs: [local]\n    interval_secs: 1\n    window_secs: 2\n",
    );
    edit(
        &project.path().join("preflight.yaml"),
        "probes:\n",
        "probes:\n  - name: local-smoke\n    kind: command\n    command: [\"true\"]\n    phase: smoke\n    envs: [local]\n",
    );
    let mut rounds = Vec::new();
    let log = run_release(&options(project.path()), &mut |e| {
        if let preflight_release::ReleaseEvent::WatchRound {
            round,
            passed,
            total,
            ..
        } = e
        {
            rounds.push((*round, *passed, *total));
        }
    })
    .await
    .unwrap();
    let watch = log.phase(Phase::Watch).unwrap();
    assert_eq!(watch.status, PhaseStatus::Passed, "{}", log.to_markdown());
    assert!(!rounds.is_empty());
    for (i, (round, passed, total)) in rounds.iter().enumerate() {
        assert_eq!(*round as usize, i + 1);
        assert!(*total > 0 && passed == total, "{rounds:?}");
    }
    assert!(
        watch
            .summary
            .starts_with(&format!("{} round(s) healthy", rounds.len())),
        "{}",
        watch.summary
    );
}

/// An environment without a region gets no guessed one: each check that
/// finds a Cloud Run service or a schedule by its region fails, saying so,
/// without calling Google Cloud.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_cloud_checks_never_guess_a_region() {
    let project = example_copy();
    let config = project.path().join("preflight.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("    region: us-central1\n", "")).unwrap();
    let platform = Platform::load(&config).unwrap();
    let env = platform.environment("prod").unwrap().clone();
    assert_eq!(env.region, None);
    let specs: Vec<_> = platform
        .gcp_specs(&env, &Default::default())
        .into_iter()
        .filter(|s| s.name.starts_with("gcp.vpc.") || s.name.starts_with("gcp.freeze."))
        .collect();
    assert!(
        specs
            .iter()
            .any(|s| s.name == "gcp.freeze.mobius-rag-worker")
    );
    let report = preflight_verify::Runner::new(4).unwrap().run(specs).await;
    assert!(!report.results.is_empty());
    for r in &report.results {
        assert!(!r.outcome.passed(), "{}: {}", r.name, r.summary);
        assert!(
            r.summary
                .contains("`prod` has no region, so the Cloud Run service"),
            "{}: {}",
            r.name,
            r.summary
        );
    }
}
