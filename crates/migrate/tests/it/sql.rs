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
    // Both files are listed; the later one is a problem naming the first.
    let (files, problems) = m.source.list().await.unwrap();
    assert_eq!(files.len(), 2);
    let dup: Vec<_> = problems.iter().filter(|p| p.blocking).collect();
    assert_eq!(dup.len(), 1, "{problems:?}");
    assert!(dup[0].path.ends_with("1_again.sql"), "{dup:?}");
    assert!(
        dup[0].reason.contains("also used by 001_init.sql"),
        "{dup:?}"
    );
}

/// Folders written for sqlx, dbmate and Atlas keep their no-transaction
/// markers; a dbmate file runs only its up block.
#[tokio::test]
async fn the_no_transaction_markers_of_sqlx_dbmate_and_atlas_are_honoured() {
    let pg = cluster();
    let url = pg.create_database("app").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "001_init.sql", "CREATE TABLE t (a int, b int, c int);\n");
    write(
        d,
        "002_sqlx.sql",
        "-- no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n",
    );
    write(
        d,
        "003_dbmate.sql",
        "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY t_b ON t (b);\n\n-- migrate:down\nDROP TABLE t;\n",
    );
    write(
        d,
        "004_atlas.sql",
        "-- atlas:txmode none\n\n-- the index for c\nCREATE INDEX CONCURRENTLY t_c ON t (c);\n",
    );
    write(
        d,
        "005_dbmate_tx.sql",
        "-- a dbmate file with a transaction\n-- migrate:up\nCREATE TABLE u (id int);\n-- migrate:down\nDROP TABLE u;\n",
    );
    let m = migrator(SourceKind::Sql, d, &url);
    let report = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    assert_eq!(report.applied, ["001", "002", "003", "004", "005"]);
    assert_eq!(
        query(&url, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 't'").await,
        ["t_a,t_b,t_c"]
    );
    // The down blocks never ran.
    assert_eq!(query(&url, "SELECT count(*) FROM u").await, ["0"]);

    // dbmate's own refusals, with the line.
    write(d, "006_bad.sql", "SELECT 1;\n-- migrate:up\nSELECT 2;\n");
    let err = m.source.list().await.unwrap_err().to_string();
    assert!(
        err.ends_with("006_bad.sql:1: a statement before `-- migrate:up`; dbmate runs only the up block, so this would never run"),
        "{err}"
    );
}

/// The line of a failure is where psql would point: the server's position,
/// else where the failing statement starts; in a transaction or not.
#[tokio::test]
async fn a_failure_names_the_line_its_statement_starts_on() {
    let pg = cluster();
    let cases = [
        // A duplicate key from the INSERT on line 5 (no server position).
        (
            "CREATE TABLE k (id int PRIMARY KEY);\n\nINSERT INTO k VALUES (1);\n-- again:\nINSERT INTO k VALUES (1);\n",
            5,
        ),
        // "relation already exists" from line 2 (no server position).
        ("CREATE TABLE r (id int);\nCREATE TABLE r (id int);\n", 2),
        // A server position on line 3.
        ("SELECT 1;\n\nSELECT * FROM nowhere;\n", 3),
        // Without a transaction: the error on line 7.
        (
            "-- preflight:no-transaction\nCREATE TABLE n (id int);\n\n-- a comment\n-- about the next one\n\nCREATE INDEX CONCURRENTLY n_id ON missing (id);\n",
            7,
        ),
        // Without a transaction, no position: the duplicate on line 4.
        (
            "-- atlas:txmode none\n\nCREATE TABLE d (id int);\nCREATE TABLE d (id int);\n",
            4,
        ),
    ];
    for (i, (sql, line)) in cases.iter().enumerate() {
        let db = format!("case{i}");
        let url = pg.create_database(&db).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "001_case.sql", sql);
        let m = migrator(SourceKind::Sql, dir.path(), &url);
        let err = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap_err();
        match err {
            Error::MigrationFailed { line: got, .. } => assert_eq!(got, *line, "{sql}"),
            other => panic!("{other}"),
        }
        // psql, on a fresh database, points at the same line.
        let fresh = pg.create_database(&format!("psql{i}")).unwrap();
        let out = std::process::Command::new(pg.bin_dir().join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &fresh, "-f"])
            .arg(dir.path().join("001_case.sql"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("001_case.sql:{line}: ERROR")),
            "psql: {stderr}"
        );
    }
}
