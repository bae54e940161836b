//! `preflight migrate …` through the real binary against real PostgreSQL.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let up = preflight_cmd(&["migrate", "up", "--kind", "sql", "--dir", d], &url)
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
            preflight_cmd(&["-q", "migrate", "up", "--kind", "sql", "--dir", d], &url)
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
    let mut child = preflight_cmd(&["migrate", "up", "--kind", "sql", "--dir", d], &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the slow migration is running on the server.
    let started = Instant::now();
    loop {
        let running = scalar(&url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND application_name = 'preflight migrate'").await;
        if running > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the migration never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    let again = preflight_cmd(&["migrate", "up", "--kind", "sql", "--dir", d], &url)
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
        let up = preflight_cmd(&["migrate", "up", "--kind", kind, "--dir", dir], &url)
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
        let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert!(
            json["entries"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["state"] == "applied")
        );
    }
}
