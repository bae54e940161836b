//! SQL directories: apply, re-run, failures, drift, no-transaction files.

use preflight_migrate::{Error, MigrationState, SourceKind, UpOptions};

use crate::{cluster, migrator, query, write};

fn three(dir: &std::path::Path) {
    write(
        dir,
        "001_init.sql",
        "CREATE TABLE chat_threads (id bigserial PRIMARY KEY, title text);\n",
    );
    write(
        dir,
        "002_turns.sql",
        "CREATE TABLE chat_turns (id bigserial PRIMARY KEY, thread_id bigint REFERENCES chat_threads);\n",
    );
    write(
        dir,
        "010_state.sql",
        "CREATE TABLE chat_state (k text PRIMARY KEY, v jsonb);\nINSERT INTO chat_state VALUES ('schema', '{}');\n",
    );
}

#[tokio::test]
async fn applies_in_order_then_reruns_as_a_no_op() {
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    write(dir.path(), "README.md", "not a migration");
    let m = migrator(SourceKind::Sql, dir.path(), &url);
    let before = m.status().await.unwrap();
    assert_eq!(before.count(MigrationState::Pending), 3);
    let mut events = Vec::new();
    let report = m
        .up(&UpOptions::default(), &mut |e| events.push(e))
        .await
        .unwrap();
    assert_eq!(report.applied, ["001", "002", "010"]);
    let rows = query(&url, "SELECT version || ':' || name || ':' || success FROM preflight.schema_migrations ORDER BY version").await;
    assert_eq!(rows, ["001:init:true", "002:turns:true", "010:state:true"]);
    assert!(m.status().await.unwrap().is_clean());
    let again = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    assert!(again.applied.is_empty());
}

#[tokio::test]
async fn a_failure_stops_and_leaves_the_failing_migration_absent() {
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    write(
        dir.path(),
        "003_broken.sql",
        "CREATE TABLE half_done (id int);\n\nINSERT INTO no_such_table VALUES (1);\n",
    );
    let m = migrator(SourceKind::Sql, dir.path(), &url);
    let err = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap_err();
    match &err {
        Error::MigrationFailed {
            version,
            line,
            message,
            path,
        } => {
            assert_eq!(version, "003");
            assert_eq!(*line, 3, "the INSERT is on line 3");
            assert!(
                message.contains("relation \"no_such_table\" does not exist"),
                "{message}"
            );
            assert!(message.contains("42P01"), "{message}");
            assert!(path.ends_with("003_broken.sql"));
        }
        other => panic!("{other}"),
    }
    let tables = query(&url, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'").await;
    assert_eq!(
        tables,
        ["chat_threads,chat_turns"],
        "003's table rolled back, 010 never ran"
    );
    let ledger = query(
        &url,
        "SELECT version FROM preflight.schema_migrations ORDER BY version",
    )
    .await;
    assert_eq!(ledger, ["001", "002"]);
    // Fix the file: the next run applies it and continues.
    write(
        dir.path(),
        "003_broken.sql",
        "CREATE TABLE half_done (id int);\n",
    );
    let report = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    assert_eq!(report.applied, ["003", "010"]);
}

#[tokio::test]
async fn crlf_is_not_drift_but_an_edit_is_refused() {
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    let m = migrator(SourceKind::Sql, dir.path(), &url);
    m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    write(
        dir.path(),
        "001_init.sql",
        "\u{feff}CREATE TABLE chat_threads (id bigserial PRIMARY KEY, title text);\r\n",
    );
    assert!(
        m.status().await.unwrap().is_clean(),
        "BOM and CRLF are normalised away"
    );
    write(
        dir.path(),
        "001_init.sql",
        "CREATE TABLE chat_threads (id bigserial PRIMARY KEY, title text); -- edited\n",
    );
    write(dir.path(), "011_more.sql", "CREATE TABLE more (id int);\n");
    let status = m.status().await.unwrap();
    assert_eq!(status.entries[0].state, MigrationState::Modified);
    let err = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap_err();
    assert!(
        matches!(&err, Error::Refused { problems } if problems[0].contains("001 (init) was applied and has been modified")),
        "{err}"
    );
    assert_eq!(
        query(
            &url,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'more'"
        )
        .await,
        ["0"],
        "nothing ran"
    );
}

#[tokio::test]
async fn missing_and_out_of_order_are_reported_and_refused() {
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    let m = migrator(SourceKind::Sql, dir.path(), &url);
    m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    write(dir.path(), "005_late.sql", "CREATE TABLE late (id int);\n");
    std::fs::remove_file(dir.path().join("002_turns.sql")).unwrap();
    let status = m.status().await.unwrap();
    let states: Vec<(&str, MigrationState)> = status
        .entries
        .iter()
        .map(|e| (e.version.as_str(), e.state))
        .collect();
    assert_eq!(
        states,
        [
            ("001", MigrationState::Applied),
            ("005", MigrationState::OutOfOrder),
            ("010", MigrationState::Applied),
            ("002", MigrationState::Missing)
        ]
    );
    assert!(matches!(
        m.up(&UpOptions::default(), &mut |_| {}).await,
        Err(Error::Refused { .. })
    ));
}

#[tokio::test]
async fn target_and_dry_run() {
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    let m = migrator(SourceKind::Sql, dir.path(), &url);
    let dry = m
        .up(
            &UpOptions {
                dry_run: true,
                ..Default::default()
            },
            &mut |_| {},
        )
        .await
        .unwrap();
    assert_eq!(dry.plan.len(), 3);
    assert_eq!(
        query(
            &url,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'preflight'"
        )
        .await,
        ["0"],
        "dry run touches nothing"
    );
    let report = m
        .up(
            &UpOptions {
                target: Some("002".into()),
                ..Default::default()
            },
            &mut |_| {},
        )
        .await
        .unwrap();
    assert_eq!(report.applied, ["001", "002"]);
    assert!(matches!(
        m.up(
            &UpOptions {
                target: Some("999".into()),
                ..Default::default()
            },
            &mut |_| {}
        )
        .await,
        Err(Error::UnknownTarget { .. })
    ));
}

#[tokio::test]
async fn no_transaction_marker_runs_create_index_concurrently() {
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    write(
        dir.path(),
        "011_index.sql",
        "-- preflight:no-transaction\nCREATE INDEX CONCURRENTLY chat_turns_thread ON chat_turns (thread_id);\n",
    );
    let m = migrator(SourceKind::Sql, dir.path(), &url);
    m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    assert_eq!(
        query(
            &url,
            "SELECT indexname FROM pg_indexes WHERE indexname = 'chat_turns_thread'"
        )
        .await,
        ["chat_turns_thread"]
    );
    // Without the marker the same file fails inside the transaction.
    write(
        dir.path(),
        "012_index2.sql",
        "CREATE INDEX CONCURRENTLY chat_state_v ON chat_state (k);\n",
    );
    let err = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot run inside a transaction block"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_names_and_duplicates_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "001_init.sql", "select 1;");
    write(dir.path(), "init.sql", "select 1;");
    let m = migrator(
        SourceKind::Sql,
        dir.path(),
        "postgres://unused@127.0.0.1:1/x",
    );
    let err = m.source.list().await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("init.sql: expected NNN_name.sql (a number, `_`, a name)"),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("init.sql")).unwrap();
    write(dir.path(), "1_again.sql", "select 1;");
    let err = m.source.list().await.unwrap_err();
    assert!(matches!(err, Error::DuplicateVersion { .. }), "{err}");
}
