//! Eight runners at once apply every migration exactly once.

use preflight_migrate::{SourceKind, UpOptions};

use crate::{cluster, migrator, query, write};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_runners_apply_each_migration_once() {
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "000_counter.sql",
        "CREATE TABLE applied_count (version text);\n",
    );
    for i in 1..=20 {
        // Each migration counts itself: a double apply would show up as a second row.
        write(
            dir.path(),
            &format!("{i:03}_m.sql"),
            &format!("INSERT INTO applied_count VALUES ('{i:03}'); SELECT pg_sleep(0.01);\n"),
        );
    }
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let m = migrator(SourceKind::Sql, dir.path(), &url);
        tasks.push(tokio::spawn(async move {
            m.up(&UpOptions::default(), &mut |_| {})
                .await
                .map(|r| r.applied.len())
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap().unwrap();
    }
    assert_eq!(
        total, 21,
        "all runners together applied each migration once"
    );
    assert_eq!(
        query(&url, "SELECT count(*) FROM applied_count").await,
        ["20"]
    );
    assert_eq!(
        query(&url, "SELECT count(DISTINCT version) FROM applied_count").await,
        ["20"]
    );
}

#[tokio::test]
async fn a_held_lock_times_out_naming_the_holder() {
    use sqlx::Connection;
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_a.sql", "select 1;");
    let mut holder = sqlx::PgConnection::connect(&format!("{url}?application_name=other-runner"))
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(preflight_migrate::MIGRATION_LOCK_KEY)
        .execute(&mut holder)
        .await
        .unwrap();
    let mut m = migrator(SourceKind::Sql, dir.path(), &url);
    m.lock_timeout = std::time::Duration::from_millis(300);
    let err = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("another runner holds the migration lock"),
        "{text}"
    );
    assert!(text.contains("application 'other-runner'"), "{text}");
}
