//! `preflight migrate …` through the real binary against real PostgreSQL.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::example::{ResetLocal, example_copy};
use preflight_migrate::TempPostgres;

fn preflight_cmd(args: &[&str], url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_preflight"));
    c.args(args).env("DATABASE_URL", url).env("NO_COLOR", "1");
    c
}

fn write(dir: &std::path::Path, name: &str, sql: &str) {
    std::fs::write(dir.join(name), sql).unwrap();
}

async fn scalar(url: &str, sql: &'static str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

/// Waits until `preflight migrate` runs a statement containing `needle` on the server.
async fn wait_until_running(url: &str, needle: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let started = Instant::now();
    loop {
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE strpos(query, $1) > 0 AND application_name = 'preflight migrate'",
        )
        .bind(needle)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if running > 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the migration never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn status_up_status_and_exit_codes() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "001_init.sql",
        "CREATE TABLE chat_threads (id bigserial PRIMARY KEY);\n",
    );
    write(
        dir.path(),
        "002_published_rag_metadata.sql",
        "ALTER TABLE chat_threads ADD COLUMN rag_meta jsonb;\n",
    );
    let d = dir.path().to_str().unwrap();
    let status = preflight_cmd(&["migrate", "status", "--kind", "sql", "--dir", d], &url)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(1), "pending migrations: exit 1");
    let out = String::from_utf8_lossy(&status.stdout).into_owned();
    insta::assert_snapshot!("status_pending", out);
    let plan = preflight_cmd(&["migrate", "plan", "--kind", "sql", "--dir", d], &url)
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&plan.stdout)
            .contains("ALTER TABLE chat_threads ADD COLUMN rag_meta jsonb;")
    );
    let up = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .output()
    .unwrap();
    assert_eq!(
        up.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let status = preflight_cmd(&["migrate", "status", "--kind", "sql", "--dir", d], &url)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0));
    // The database URL never appears in output.
    for o in [&up.stdout, &up.stderr, &status.stdout] {
        assert!(!String::from_utf8_lossy(o).contains("127.0.0.1"));
    }
    let bad = preflight_cmd(
        &["migrate", "status", "--kind", "sql", "--dir", d],
        "postgres://postgres:s3cret@127.0.0.1:1/x",
    )
    .output()
    .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&bad.stderr).contains("s3cret"));
}

#[tokio::test]
async fn eight_processes_apply_every_migration_exactly_once() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "000_counter.sql",
        "CREATE TABLE applied_count (version text);\n",
    );
    for i in 1..=25 {
        write(
            dir.path(),
            &format!("{i:03}_m.sql"),
            &format!("INSERT INTO applied_count VALUES ('{i:03}');\n"),
        );
    }
    let d = dir.path().to_str().unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| {
            preflight_cmd(
                &[
                    "-q",
                    "migrate",
                    "up",
                    "--no-backup",
                    "--kind",
                    "sql",
                    "--dir",
                    d,
                ],
                &url,
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(scalar(&url, "SELECT count(*) FROM applied_count").await, 25);
    assert_eq!(
        scalar(&url, "SELECT count(DISTINCT version) FROM applied_count").await,
        25
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM preflight.schema_migrations").await,
        26
    );
}

#[tokio::test]
async fn kill_9_mid_migration_leaves_no_ledger_row_and_the_next_run_succeeds() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_init.sql", "CREATE TABLE t (id int);\n");
    write(
        dir.path(),
        "002_slow.sql",
        "INSERT INTO t VALUES (2);\nSELECT pg_sleep(3);\n",
    );
    let d = dir.path().to_str().unwrap();
    let mut child = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_until_running(&url, "pg_sleep(3)").await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM preflight.schema_migrations WHERE version = '002'"
        )
        .await,
        0
    );
    let again = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .output()
    .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM t WHERE id = 2").await,
        1,
        "applied exactly once"
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM preflight.schema_migrations").await,
        2
    );
}

#[tokio::test]
async fn kill_9_mid_no_transaction_migration_leaves_a_failed_row_that_up_refuses() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_init.sql", "CREATE TABLE t (id int);\n");
    write(
        dir.path(),
        "002_slow.sql",
        "-- preflight:no-transaction\nINSERT INTO t VALUES (2);\nSELECT pg_sleep(3);\nINSERT INTO t VALUES (3);\n",
    );
    let d = dir.path().to_str().unwrap();
    let mut child = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_until_running(&url, "pg_sleep(3)").await;
    child.kill().unwrap(); // SIGKILL: half of 002 is applied
    child.wait().unwrap();
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM preflight.schema_migrations WHERE version = '002' AND NOT success"
        )
        .await,
        1,
        "the started row marks the half-applied migration"
    );
    let again = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "{stderr}");
    assert!(stderr.contains("failed part-way"), "{stderr}");
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM t WHERE id = 2").await,
        1,
        "never run twice"
    );
}

#[tokio::test]
async fn ctrl_c_cancels_the_running_migration_rolls_it_back_and_releases_the_lock() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_init.sql", "CREATE TABLE t (id int);\n");
    write(
        dir.path(),
        "002_slow.sql",
        "CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n",
    );
    let d = dir.path().to_str().unwrap();
    let child = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_until_running(&url, "pg_sleep(60)").await;
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted while applying 002, which was rolled back and not recorded"),
        "{stderr}"
    );
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM preflight.schema_migrations WHERE version = '002'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'slow'"
        )
        .await,
        0,
        "rolled back"
    );
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        )
        .await,
        0,
        "the migration lock was released"
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid()").await,
        0,
        "nothing still runs on the server"
    );
}

#[tokio::test]
async fn the_example_chat_and_supabase_modules_apply() {
    let pg = TempPostgres::start().unwrap();
    for (db, kind, dir) in [
        (
            "mobius_chat",
            "sql",
            "../../examples/mobius/mobius-chat/db/schema",
        ),
        (
            "mobius_ops",
            "supabase",
            "../../examples/mobius/mobius-ops/supabase/migrations",
        ),
    ] {
        let url = pg.create_database(db).unwrap();
        let up = preflight_cmd(
            &["migrate", "up", "--no-backup", "--kind", kind, "--dir", dir],
            &url,
        )
        .output()
        .unwrap();
        assert!(
            up.status.success(),
            "{db}: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        let status = preflight_cmd(
            &[
                "--format", "json", "migrate", "status", "--kind", kind, "--dir", dir,
            ],
            &url,
        )
        .output()
        .unwrap();
        assert_eq!(status.status.code(), Some(0));
        let json = crate::json_result(&status.stdout);
        assert!(
            json["entries"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["state"] == "applied")
        );
    }
}

#[test]
fn the_local_env_keeps_its_cluster_between_commands() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let config = project.path().join("preflight.yaml");
    let config = config.to_str().unwrap();
    let args = |verb: &str| {
        vec![
            "migrate".to_string(),
            verb.to_string(),
            "--config".into(),
            config.into(),
            "--env".into(),
            "local".into(),
            "--module".into(),
            "mobius-chat".into(),
        ]
    };
    let run = |a: Vec<String>| {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args(a)
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let before = run(args("status"));
    assert_eq!(
        before.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&before.stderr)
    );
    let up = run(args("up"));
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let stdout = String::from_utf8_lossy(&up.stdout);
    assert!(
        stdout.contains("applied 2 migration(s) to mobius_chat (local)"),
        "{stdout}"
    );
    assert!(
        !String::from_utf8_lossy(&up.stderr).contains("backup"),
        "local takes no backup"
    );
    let after = run(args("status"));
    assert_eq!(
        after.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );

    let local = |verb: &str| {
        run(vec![
            "local".into(),
            verb.into(),
            "--config".into(),
            config.into(),
        ])
    };
    let status = String::from_utf8_lossy(&local("status").stdout).to_string();
    assert!(
        status.starts_with("running on 127.0.0.1:") && status.contains("  mobius_chat"),
        "{status}"
    );
    assert_eq!(String::from_utf8_lossy(&local("stop").stdout), "stopped\n");
    // Started again on demand, with the same data.
    let again = run(args("status"));
    assert_eq!(again.status.code(), Some(0));
    assert!(local("reset").status.success());
    assert!(String::from_utf8_lossy(&local("status").stdout).starts_with("no local cluster"));
}

#[test]
fn up_backs_up_first_outside_local() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("mobius_chat").unwrap();
    let project = example_copy();
    let config = project.path().join("preflight.yaml");
    let up = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args([
            "migrate",
            "up",
            "--env",
            "dev",
            "--module",
            "mobius-chat",
            "--config",
        ])
        .arg(&config)
        .env("DEV_CHAT_DATABASE_URL", &url)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "{stderr}");
    assert!(stderr.contains("backup: "), "{stderr}");
    let backups = project
        .path()
        .join(".preflight/artifacts/dev/backups/mobius_chat");
    let files: Vec<_> = std::fs::read_dir(&backups).unwrap().flatten().collect();
    assert_eq!(files.len(), 2, "the dump and its checksum");

    // Nothing pending: no second backup.
    let again = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args([
            "migrate",
            "up",
            "--env",
            "dev",
            "--module",
            "mobius-chat",
            "--config",
        ])
        .arg(&config)
        .env("DEV_CHAT_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 2);

    // An unset variable is named.
    let unset = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args([
            "migrate",
            "status",
            "--env",
            "dev",
            "--module",
            "mobius-chat",
            "--config",
        ])
        .arg(&config)
        .env_remove("DEV_CHAT_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(unset.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unset.stdout).contains("$DEV_CHAT_DATABASE_URL, which is not set")
    );
}

#[tokio::test]
async fn baseline_repair_new_and_rollback_through_the_cli() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_init.sql", "CREATE TABLE a (id int);\n");
    write(dir.path(), "002_more.sql", "CREATE TABLE b (id int);\n");
    let d = dir.path().to_str().unwrap();
    let new = preflight_cmd(
        &["migrate", "new", "--kind", "sql", "--dir", d, "add c"],
        &url,
    )
    .output()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&new.stdout)
            .trim_end()
            .ends_with("003_add_c.sql")
    );
    write(dir.path(), "003_add_c.sql", "CREATE TABLE c (id int);\n");
    let baseline = preflight_cmd(
        &["migrate", "baseline", "--kind", "sql", "--dir", d, "002"],
        &url,
    )
    .output()
    .unwrap();
    assert!(
        baseline.status.success(),
        "{}",
        String::from_utf8_lossy(&baseline.stderr)
    );
    let text = String::from_utf8_lossy(&baseline.stdout);
    assert!(text.contains("2 ledger row(s) changed"), "{text}");
    let up = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .output()
    .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let repair = preflight_cmd(
        &[
            "migrate", "repair", "--kind", "sql", "--dir", d, "--status", "reverted", "003",
        ],
        &url,
    )
    .output()
    .unwrap();
    assert!(repair.status.success());
    let status = preflight_cmd(&["migrate", "status", "--kind", "sql", "--dir", d], &url)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&status.stdout).contains("pending        003"));
    let rollback = preflight_cmd(
        &["migrate", "rollback", "--kind", "sql", "--dir", d, "002"],
        &url,
    )
    .output()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&rollback.stdout)
            .trim_end()
            .ends_with("004_rollback_more.sql")
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM preflight.ledger_audit").await,
        3
    );
}

/// `PATH` with the repo's `.venv/bin` first, so `alembic` and `python` are the venv's.
pub fn venv_path() -> std::ffi::OsString {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin");
    let mut paths = vec![venv];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

#[test]
fn every_flavour_reaches_the_manifest_and_status_says_so() {
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let config = project.path().join("preflight.yaml");
    let manifest = project
        .path()
        .join("release-manifests/2026-02-14-local.yaml");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .args(["--env", "local", "--manifest"])
            .arg(&manifest)
            .env("PATH", venv_path())
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let before = run(&["migrate", "status"]);
    assert_eq!(
        before.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&before.stderr)
    );
    assert!(String::from_utf8_lossy(&before.stdout).contains("0 of 5 module(s) at the manifest"));
    for module in [
        "mobius-os",
        "mobius-rag",
        "mobius-chat",
        "mobius-user",
        "mobius-ops",
    ] {
        let up = run(&["migrate", "up", "--module", module]);
        assert!(
            up.status.success(),
            "{module}: {}",
            String::from_utf8_lossy(&up.stderr)
        );
    }
    let after = run(&["--format", "json", "migrate", "status"]);
    assert_eq!(
        after.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );
    let checks = crate::json_result(&after.stdout);
    let states: Vec<(&str, &str)> = checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["module"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("mobius-os", "at manifest"),
            ("mobius-rag", "at manifest"),
            ("mobius-chat", "at manifest"),
            ("mobius-user", "at manifest"),
            ("mobius-ops", "at manifest"),
        ]
    );
    // Re-running applies nothing; an edited script is refused.
    let again = run(&["migrate", "up", "--module", "mobius-rag"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("applied 0 migration(s)"));
    let script = project
        .path()
        .join("mobius-rag/app/migrations/add_publish_tables.py");
    let mut text = std::fs::read_to_string(&script).unwrap();
    text.push_str("# edited after release\n");
    std::fs::write(&script, text).unwrap();
    let refused = run(&["migrate", "up", "--module", "mobius-rag"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("refusing to migrate: python:add_publish_tables modified")
    );
    let drift = run(&["migrate", "status", "--module", "mobius-rag"]);
    assert_eq!(drift.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&drift.stdout).contains("drift"));
}

#[test]
fn alembic_heads_and_history_read_the_files() {
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args([
            "migrate",
            "history",
            "--config",
            "../../examples/mobius/preflight.yaml",
            "--module",
            "mobius-os",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a1b2c3d4e5f6 -> c4d5e6f7a8b9 (head), add publish state to documents\n<base> -> a1b2c3d4e5f6, create documents\n"
    );
    let heads = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args([
            "migrate",
            "heads",
            "--kind",
            "alembic",
            "--dir",
            "../../examples/mobius/mobius-user/migrations/versions",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&heads.stdout), "001 (head)\n");
}

/// The key the README documents is the key `migrate up` takes: an
/// operator who holds it from psql blocks every Preflight runner.
#[test]
fn the_documented_lock_key_blocks_migrate_up() {
    let readme = std::fs::read_to_string("../../README.md").unwrap();
    let key: i64 = regex::Regex::new(r"pg_advisory_lock\((\d+)\)")
        .unwrap()
        .captures(&readme)
        .expect("the README names the lock key")[1]
        .parse()
        .unwrap();
    assert_eq!(key, preflight_migrate::MIGRATION_LOCK_KEY);
    assert_eq!(key, i64::from_be_bytes(*b"PREFLIGH"));
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("locked").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_init.sql", "CREATE TABLE t (id int);\n");
    let psql = preflight_migrate::find_postgres_bin().unwrap().join("psql");
    let mut holder = Command::new(psql)
        .arg(&url)
        .args(["-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!(
            "SELECT pg_advisory_lock({key}); SELECT pg_sleep(30);"
        ))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until psql holds it.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    while runtime.block_on(scalar(
        &url,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
    )) == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "psql never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let d = dir.path().to_str().unwrap();
    let out = preflight_cmd(
        &[
            "migrate",
            "up",
            "--kind",
            "sql",
            "--dir",
            d,
            "--no-backup",
            "--lock-timeout",
            "1",
        ],
        &url,
    )
    .output()
    .unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("holds the migration lock"), "{stderr}");
    assert_eq!(
        runtime.block_on(scalar(
            &url,
            "SELECT count(*) FROM pg_tables WHERE tablename = 't'"
        )),
        0
    );
}

#[test]
fn a_server_that_never_answers_fails_closed_within_the_connect_timeout() {
    // Accepts TCP connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for stream in listener.incoming().take(1) {
            kept.push(stream);
            std::thread::sleep(Duration::from_secs(3));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_a.sql", "SELECT 1;");
    let url = format!("postgres://app:pw-canary-4411@127.0.0.1:{port}/db");
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(["migrate", "status", "--kind", "sql", "--dir"])
        .arg(dir.path())
        .args(["--database-url", &url])
        .env("PGCONNECT_TIMEOUT", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "127.0.0.1:{port} did not complete a connection within 1 s"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("pw-canary"), "{stderr}");
    held.join().unwrap();
}

#[tokio::test]
async fn entries_preflight_cannot_use_are_reported_and_up_refuses() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_init.sql", "CREATE TABLE t (id int);\n");
    std::os::unix::fs::symlink("nowhere.sql", dir.path().join("002_broken.sql")).unwrap();
    std::fs::create_dir(dir.path().join("003_folder.sql")).unwrap();
    write(dir.path(), "004_next.sql", "CREATE TABLE u (id int);\n");
    let d = dir.path().to_str().unwrap();
    let status = preflight_cmd(&["migrate", "status", "--kind", "sql", "--dir", d], &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("002_broken.sql"), "{stdout}");
    assert!(stdout.contains("leads nowhere"), "{stdout}");
    assert!(stdout.contains("003_folder.sql"), "{stdout}");
    let up = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert!(!up.status.success(), "{stderr}");
    assert!(stderr.contains("002_broken.sql"), "{stderr}");
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('t', 'u')"
        )
        .await,
        0,
        "nothing was applied around the unusable entries"
    );
}

#[tokio::test]
async fn a_transactional_file_that_commits_itself_is_refused_with_its_line() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "001_half.sql",
        "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n",
    );
    let d = dir.path().to_str().unwrap();
    let up = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert!(!up.status.success(), "{stderr}");
    assert!(stderr.contains("001_half.sql:2: `COMMIT`"), "{stderr}");
    assert!(stderr.contains("preflight:no-transaction"), "{stderr}");
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'a'"
        )
        .await,
        0
    );
}

/// Every process's command line, read from /proc while `run` runs.
pub(crate) fn sample_cmdlines<T>(run: impl FnOnce() -> T) -> (T, Vec<String>) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
                        seen.insert(String::from_utf8_lossy(&raw).replace('\0', " "));
                    }
                }
            }
            seen.into_iter().collect::<Vec<_>>()
        })
    };
    let out = run();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (out, sampler.join().unwrap())
}

#[tokio::test]
async fn a_password_in_the_url_query_reaches_no_output_file_or_argv() {
    const CANARY: &str = "qp-canary-7f3e91";
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    // Trust authentication accepts any password: the canary is carried, not checked.
    let url = format!("{url}?sslmode=disable&password={CANARY}");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_init.sql", "CREATE TABLE t (id int);\n");
    let backups = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (outputs, cmdlines) = sample_cmdlines(|| {
        let status = preflight_cmd(&["migrate", "status", "--kind", "sql", "--dir", d], &url)
            .output()
            .unwrap();
        let up = preflight_cmd(&["migrate", "up", "--kind", "sql", "--dir", d], &url)
            .arg("--backup-dir")
            .arg(backups.path())
            .output()
            .unwrap();
        [status, up]
    });
    assert!(
        outputs[1].status.success(),
        "{}",
        String::from_utf8_lossy(&outputs[1].stderr)
    );
    for out in &outputs {
        for text in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(text);
            assert!(!text.contains(CANARY), "{text}");
        }
    }
    // The backup was taken (pg_dump ran), and no command line held the password.
    let dumps: Vec<_> = std::fs::read_dir(backups.path()).unwrap().collect();
    assert!(!dumps.is_empty());
    for line in &cmdlines {
        assert!(!line.contains(CANARY), "{line}");
    }
}

#[test]
fn doctor_and_status_never_show_a_query_password_of_a_literal_url() {
    const CANARY: &str = "doctor-canary-51c2";
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("mobius_ops").unwrap();
    let project = example_copy();
    let _reset = ResetLocal(project.path().join(".preflight"));
    let config = project.path().join("preflight.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(
            "      mobius_ops: local\n",
            &format!("      mobius_ops: \"{url}?password={CANARY}\"\n"),
            1,
        ),
    )
    .unwrap();
    for args in [
        vec!["doctor", "--env", "local"],
        vec!["doctor", "--env", "local", "--format", "json"],
        vec![
            "migrate",
            "status",
            "--env",
            "local",
            "--module",
            "mobius-ops",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
            .current_dir(project.path())
            .args(&args)
            .env("PATH", crate::migrate::venv_path())
            .output()
            .unwrap();
        for text in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(text);
            assert!(!text.contains(CANARY), "{args:?}: {text}");
        }
    }
}

/// `cd backend; preflight migrate up --kind alembic --dir migrations/versions`:
/// the relative folder resolves against the current directory and Alembic
/// runs beside the `alembic.ini` there (it used to get an empty working
/// directory and fail to start).
#[test]
fn alembic_up_from_the_project_folder_with_a_relative_dir() {
    let project = example_copy();
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("users").unwrap();
    let module = project.path().join("mobius-user");
    assert!(module.join("alembic.ini").is_file());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
            .current_dir(&module)
            .args(args)
            .args(["--kind", "alembic", "--dir", "migrations/versions"])
            .env("DATABASE_URL", &url)
            .env("PATH", venv_path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let up = run(&["migrate", "up", "--no-backup"]);
    assert!(
        up.status.success(),
        "{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    let status = run(&["migrate", "status"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("at target"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
}

/// `migrate history` prints what `alembic history` prints, branch labels,
/// dependencies and head marks included, for revisions kept in several
/// folders: given by `alembic.ini`, or by `--dir` twice and `--recursive`.
#[test]
fn alembic_history_across_folders_prints_what_alembic_prints() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("m")).unwrap();
    std::fs::write(root.join("m/env.py"), "from alembic import context\n").unwrap();
    std::fs::write(
        root.join("alembic.ini"),
        "[alembic]\nscript_location = %(here)s/m\npath_separator = os\nversion_locations = %(here)s/m/versions/initial:%(here)s/m/versions/2024.1\nrecursive_version_locations = true\n",
    )
    .unwrap();
    let rev = |folder: &str, id: &str, down: &str, labels: &str, depends: &str| {
        let d = root.join("m/versions").join(folder);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(format!("{id}.py")),
            format!("\"\"\"{id} things\n\nRevision ID: {id}\n\"\"\"\nrevision = \"{id}\"\ndown_revision = {down}\nbranch_labels = {labels}\ndepends_on = {depends}\n\n\ndef upgrade():\n    pass\n"),
        )
        .unwrap();
    };
    rev("initial", "base0001", "None", "None", "None");
    rev(
        "2024.1/expand",
        "exp0002",
        "'base0001'",
        "('expand',)",
        "None",
    );
    rev("2024.1/expand", "exp0003", "'exp0002'", "None", "None");
    rev(
        "2024.1/contract",
        "con0002",
        "'base0001'",
        "('contract',)",
        "'exp0002'",
    );
    rev("2024.1/contract", "con0003", "'con0002'", "None", "None");
    let alembic = |args: &[&str]| {
        let out = Command::new("alembic")
            .current_dir(root)
            .args(args)
            .env("PATH", venv_path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let preflight = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
            .current_dir(root)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let history = alembic(&["history"]);
    assert!(
        history.contains("base0001 (exp0002) -> con0002 (contract), con0002 things"),
        "{history}"
    );
    let from_ini = ["--kind", "alembic", "--dir", "m/versions/initial"];
    assert_eq!(
        preflight(&[&["migrate", "history"][..], &from_ini].concat()),
        history
    );
    assert_eq!(
        preflight(&[&["migrate", "heads"][..], &from_ini].concat()),
        alembic(&["heads"])
    );
    // The same folders named on the command line, for a project that sets
    // its locations in code.
    std::fs::write(
        root.join("alembic.ini"),
        "[alembic]\nscript_location = %(here)s/m\n",
    )
    .unwrap();
    let named = [
        "--kind",
        "alembic",
        "--dir",
        "m/versions/initial",
        "--dir",
        "m/versions/2024.1",
        "--recursive",
    ];
    assert_eq!(
        preflight(&[&["migrate", "history"][..], &named].concat()),
        history
    );
}

/// A Supabase folder with two files of one version (`2025_03_01_a.sql` and
/// `2025_03_02_b.sql` are both version 2025) and files the CLI skips:
/// `status` lists every file, says which are skipped and which block, in
/// human and JSON output; `up` refuses, naming both files.
#[test]
fn supabase_status_lists_duplicates_and_skipped_files() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("ops").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "2025_03_01_a.sql", "create table a (id int);\n");
    write(dir.path(), "2025_03_02_b.sql", "create table b (id int);\n");
    write(dir.path(), "notes.md", "not a migration\n");
    write(dir.path(), "seed.sql", "select 1;\n");
    let d = dir.path().to_str().unwrap();
    let status = preflight_cmd(
        &["migrate", "status", "--kind", "supabase", "--dir", d],
        &url,
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("pending") && lines[0].ends_with("03_01_a"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("pending") && lines[1].ends_with("03_02_b"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2025_03_02_b.sql version 2025 is also used by 2025_03_01_a.sql"),
        "{stdout}"
    );
    assert!(stdout.contains("skipped        notes.md"), "{stdout}");
    assert!(stdout.contains("skipped        seed.sql"), "{stdout}");

    let json = preflight_cmd(
        &[
            "--format", "json", "migrate", "status", "--kind", "supabase", "--dir", d,
        ],
        &url,
    )
    .output()
    .unwrap();
    let value = crate::json_result(&json.stdout);
    assert_eq!(value["entries"].as_array().unwrap().len(), 2);
    assert_eq!(value["skipped"].as_array().unwrap().len(), 2);
    assert_eq!(value["unusable"][0]["blocking"], true);

    let up = preflight_cmd(&["migrate", "up", "--kind", "supabase", "--dir", d], &url)
        .arg("--no-backup")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert_eq!(up.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2025_03_02_b.sql (version 2025 is also used by 2025_03_01_a.sql"),
        "{stderr}"
    );
}

/// `db diff --from URL --to URL` compares two live databases: findings
/// grouped by object, JSON, exit 1 on a difference and 0 without one; the
/// URLs are never printed.
#[tokio::test]
async fn db_diff_compares_two_live_databases() {
    let pg = TempPostgres::start().unwrap();
    let from = pg.create_database("blue").unwrap();
    let to = pg.create_database("green").unwrap();
    let schema = "CREATE TABLE jobs (id bigint PRIMARY KEY, state text NOT NULL);\nCREATE INDEX jobs_state ON jobs (state);\n";
    for url in [&from, &to] {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
            .await
            .unwrap();
        sqlx::raw_sql(schema).execute(&mut conn).await.unwrap();
    }
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args(args)
            .args(["db", "diff", "--from", &from, "--to", &to])
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let same = run(&[]);
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&same.stdout), "no drift\n");

    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&to)
        .await
        .unwrap();
    sqlx::raw_sql("ALTER TABLE jobs ALTER COLUMN state DROP NOT NULL; DROP INDEX jobs_state; CREATE TABLE hotfix (id int);")
        .execute(&mut conn)
        .await
        .unwrap();
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        stdout,
        "  table      public.hotfix\n    unrecorded live has it and no migration creates it (a manual change)\n  column     public.jobs.state\n    changed    not_null: true → false\n  index      public.jobs_state\n    missing    the migrations create it and live lacks it\n3 difference(s)\n"
    );
    let json = run(&["--format", "json"]);
    let v = crate::json_result(&json.stdout);
    assert_eq!(v[1]["finding"], "changed");
    assert_eq!(v[1]["attribute"], "not_null");
    assert_eq!(v[1]["before"], "true");
    for text in [&out.stdout, &out.stderr, &json.stdout] {
        assert!(!String::from_utf8_lossy(text).contains("127.0.0.1"));
    }
}

/// `db diff --kind/--dir/--database-url`: no config; the shadow is built on
/// a throwaway cluster up to what the live ledger says is applied.
#[test]
fn db_diff_of_a_folder_finds_a_manual_change() {
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "001_init.sql",
        "CREATE TABLE t (id int PRIMARY KEY, v text);\n",
    );
    write(dir.path(), "002_idx.sql", "CREATE INDEX t_v ON t (v);\n");
    let d = dir.path().to_str().unwrap();
    let up = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .output()
    .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    // A third file not applied yet is not drift: the shadow stops where live is.
    write(dir.path(), "003_more.sql", "CREATE TABLE later (id int);\n");
    let clean = preflight_cmd(&["db", "diff", "--kind", "sql", "--dir", d], &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(stdout.contains("database chat (--database-url): its migrations up to what the live ledger says is applied"), "{stdout}");
    let psql = preflight_migrate::find_postgres_bin().unwrap().join("psql");
    let hand = Command::new(psql)
        .args([
            "-X",
            "-q",
            "-d",
            &url,
            "-c",
            "DROP INDEX t_v; ALTER TABLE t ADD COLUMN hotfix text;",
        ])
        .status()
        .unwrap();
    assert!(hand.success());
    let out = preflight_cmd(&["db", "diff", "--kind", "sql", "--dir", d], &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("  column     public.t.hotfix\n    unrecorded"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  index      public.t_v\n    missing"),
        "{stdout}"
    );
    assert!(!stdout.contains("127.0.0.1"), "{stdout}");
}

/// Progress reaches a pipe as it happens: CI logs show which migration a
/// long run is on, not everything at the end (the second migration waits
/// on a lock this test holds while the first one's lines are read).
#[tokio::test]
async fn progress_lines_reach_a_pipe_while_the_run_goes_on() {
    use sqlx::Connection;
    use std::io::BufRead as _;
    let pg = TempPostgres::start().unwrap();
    let url = pg.create_database("chat").unwrap();
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE gate (id int)")
        .execute(&mut holder)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "001_first.sql",
        "CREATE TABLE first (id int);\n",
    );
    write(
        dir.path(),
        "002_waits.sql",
        "INSERT INTO gate VALUES (1);\n",
    );
    let d = dir.path().to_str().unwrap();
    let mut child = preflight_cmd(
        &["migrate", "up", "--no-backup", "--kind", "sql", "--dir", d],
        &url,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let done = line.starts_with("[2/2] applying 002");
            seen.push(line);
            if done {
                return seen;
            }
        }
        seen
    });
    wait_until_running(&url, "INSERT INTO gate").await;
    // The run is blocked on the lock, and its first lines are already out.
    let joined = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || reader.join().unwrap()),
    )
    .await;
    let Ok(seen) = joined else {
        let _ = child.kill();
        panic!("no progress line arrived while the run was blocked");
    };
    let seen = seen.unwrap();
    assert_eq!(
        seen,
        [
            "[1/2] applying 001 first",
            seen[1].as_str(),
            "[2/2] applying 002 waits"
        ],
        "{seen:?}"
    );
    assert!(
        seen[1].trim_start().starts_with("applied 001 in "),
        "{seen:?}"
    );
    assert!(child.try_wait().unwrap().is_none(), "still running");
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `-vv` logs what runs (connections, each migration) to stderr through
/// tracing, and `RUST_LOG` picks the log; neither shows the password.
#[tokio::test]
async fn verbose_logs_what_runs_and_never_the_password() {
    let pg = TempPostgres::start().unwrap();
    pg.create_database("chat").unwrap();
    let url = format!("postgres://postgres:s3cret-pw@127.0.0.1:{}/chat", pg.port());
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_init.sql", "CREATE TABLE t (id int);\n");
    write(
        dir.path(),
        "002_more.sql",
        "ALTER TABLE t ADD COLUMN n int;\n",
    );
    let d = dir.path().to_str().unwrap();
    let out = preflight_cmd(
        &[
            "-vv",
            "migrate",
            "up",
            "--no-backup",
            "--kind",
            "sql",
            "--dir",
            d,
        ],
        &url,
    )
    .env_remove("RUST_LOG")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("connect") && stderr.contains("database=\"chat\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("apply in a transaction version=001 name=init"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
    // Without -vv, nothing is logged; RUST_LOG turns one crate's log on.
    let quiet = preflight_cmd(&["migrate", "status", "--kind", "sql", "--dir", d], &url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("connect"));
    let chosen = preflight_cmd(&["migrate", "status", "--kind", "sql", "--dir", d], &url)
        .env("RUST_LOG", "preflight_migrate=debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&chosen.stderr);
    assert!(
        stderr.contains("preflight_migrate") && stderr.contains("connect"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}
