//! The Supabase ledger is exactly the CLI's, and rows written either way read back.

use preflight_migrate::{MigrationState, SourceKind, UpOptions, split_statements};

use crate::{cluster, migrator, query, write};

#[tokio::test]
async fn ledger_rows_match_the_supabase_cli() {
    let pg = cluster();
    let url = pg.create_database("app").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20260201120000_create_jobs.sql",
        "create schema ops;\ncreate table ops.jobs (id bigint primary key, state text);\n",
    );
    write(
        dir.path(),
        "20260202090000_claim_rpc.sql",
        "create function ops.claim_pending_job(kinds text[], lim integer, worker text) returns setof ops.jobs\nlanguage sql as $$ select * from ops.jobs where state = 'pending' limit lim; $$;\n",
    );
    write(dir.path(), "notes.txt", "skipped");
    let m = migrator(SourceKind::Supabase, dir.path(), &url);
    let (_, skipped) = m.source.list().await.unwrap();
    assert_eq!(skipped.len(), 1);
    m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    let columns = query(&url, "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'supabase_migrations' AND table_name = 'schema_migrations'").await;
    assert_eq!(columns, ["version text, statements ARRAY, name text"]);
    let rows = query(&url, "SELECT version || '|' || name || '|' || array_length(statements, 1) FROM supabase_migrations.schema_migrations ORDER BY version").await;
    assert_eq!(
        rows,
        ["20260201120000|create_jobs|2", "20260202090000|claim_rpc|1"]
    );
    let stored = query(&url, "SELECT statements[1] FROM supabase_migrations.schema_migrations WHERE version = '20260202090000'").await;
    assert_eq!(
        stored[0],
        split_statements(
            &std::fs::read_to_string(dir.path().join("20260202090000_claim_rpc.sql")).unwrap()
        )[0]
    );
}

#[tokio::test]
async fn a_ledger_written_by_the_cli_with_platform_columns_is_read() {
    let pg = cluster();
    let url = pg.create_database("app").unwrap();
    // What the CLI creates, plus the columns the hosted platform adds; one row as `supabase db push` writes it.
    crate::exec(&url, "CREATE SCHEMA supabase_migrations; CREATE TABLE supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY, statements text[], name text, created_by text, idempotency_key text, rollback text[]); INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ('20260201120000', 'create_jobs', ARRAY['create table jobs (id int)']); CREATE TABLE jobs (id int);").await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20260201120000_create_jobs.sql",
        "create table jobs (id int);\n",
    );
    write(
        dir.path(),
        "20260203000000_add_state.sql",
        "alter table jobs add column state text;\n",
    );
    let m = migrator(SourceKind::Supabase, dir.path(), &url);
    let status = m.status().await.unwrap();
    assert_eq!(status.entries[0].state, MigrationState::Applied);
    assert_eq!(status.entries[1].state, MigrationState::Pending);
    m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    assert_eq!(
        query(
            &url,
            "SELECT count(*) FROM supabase_migrations.schema_migrations"
        )
        .await,
        ["2"]
    );
    // An edited applied file is drift (the CLI would silently skip it).
    write(
        dir.path(),
        "20260201120000_create_jobs.sql",
        "create table jobs (id bigint);\n",
    );
    assert_eq!(
        m.status().await.unwrap().entries[0].state,
        MigrationState::Modified
    );
}

#[tokio::test]
async fn a_no_transaction_migration_that_fails_part_way_is_recorded_and_refused_until_repaired() {
    let pg = cluster();
    let url = pg.create_database("app").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20260201120000_half.sql",
        "-- preflight:no-transaction\ncreate table done_first (id int);\nselect missing_function();\n",
    );
    let m = migrator(SourceKind::Supabase, dir.path(), &url);
    assert!(m.up(&UpOptions::default(), &mut |_| {}).await.is_err());
    // Half applied, no CLI row, and Preflight's own mark says so.
    assert_eq!(
        query(
            &url,
            "SELECT count(*)::text FROM supabase_migrations.schema_migrations"
        )
        .await,
        ["0"]
    );
    assert_eq!(
        query(&url, "SELECT version FROM preflight.unfinished_migrations").await,
        ["20260201120000"]
    );
    let status = m.status().await.unwrap();
    assert_eq!(status.entries[0].state, MigrationState::Failed);
    let again = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap_err();
    assert!(again.to_string().contains("failed part-way"), "{again}");

    // The operator fixes the database by hand, then records it as applied.
    m.repair(
        preflight_migrate::RepairStatus::Applied,
        &["20260201120000".to_string()],
    )
    .await
    .unwrap();
    assert_eq!(
        query(
            &url,
            "SELECT count(*)::text FROM preflight.unfinished_migrations"
        )
        .await,
        ["0"]
    );
    assert!(m.status().await.unwrap().is_clean());
}

/// The CLI's folder semantics: file-name byte order (a prefix version runs
/// after the longer ones), a legacy first `_init.sql` skipped, other files
/// listed as skipped, duplicate versions listed and refused by `up`, and
/// `RESET ALL` before each file.
#[tokio::test]
async fn a_folder_is_read_and_applied_as_the_supabase_cli_reads_it() {
    let pg = cluster();
    let url = pg.create_database("app").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "000_worker_setup.sql",
        "insert into applied values ('000');\n",
    );
    write(
        d,
        "000000_schema.sql",
        "create table applied (v text, at serial);\ninsert into applied values ('000000');\nset application_name = 'leaked-from-000000';\n",
    );
    write(
        d,
        "000050_tasks.sql",
        "insert into applied values ('000050');\ncreate table session_seen as select current_setting('application_name') as app, current_setting('extra_float_digits') as efd;\n",
    );
    write(
        d,
        "00000000000000_init.sql",
        "this is not sql, and the CLI skips it;\n",
    );
    write(d, "README.md", "notes");
    write(d, "seed.sql", "select 1;\n");
    std::fs::create_dir(d.join("archive")).unwrap();
    let m = migrator(SourceKind::Supabase, d, &url);

    let status = m.status().await.unwrap();
    let order: Vec<&str> = status.entries.iter().map(|e| e.version.as_str()).collect();
    assert_eq!(order, ["000000", "000050", "000"], "file-name byte order");
    let skipped: Vec<String> = status
        .skipped
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        skipped,
        [
            "00000000000000_init.sql",
            "README.md",
            "archive",
            "seed.sql"
        ],
        "{:?}",
        status.skipped
    );
    assert!(status.skipped[0].reason.contains("legacy init"));

    let report = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    assert_eq!(report.applied, ["000000", "000050", "000"]);
    assert_eq!(
        query(&url, "select v from applied order by at").await,
        ["000000", "000050", "000"]
    );
    // The second file saw a reset session: not the first file's setting,
    // and the server's extra_float_digits, not a driver's.
    assert_eq!(
        query(&url, "select app || ' ' || efd from session_seen").await,
        ["preflight migrate 1"]
    );
    assert!(m.status().await.unwrap().is_clean());

    // A duplicate version: both files listed, `up` refused naming both.
    write(
        d,
        "000050_other.sql",
        "insert into applied values ('dup');\n",
    );
    let status = m.status().await.unwrap();
    assert_eq!(
        status
            .entries
            .iter()
            .filter(|e| e.version == "000050")
            .count(),
        2
    );
    assert_eq!(status.unusable.len(), 1);
    let err = m
        .up(&UpOptions::default(), &mut |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("000050_tasks.sql")
            && err.contains("version 000050 is also used by 000050_other.sql"),
        "{err}"
    );
    assert_eq!(query(&url, "select count(*) from applied").await, ["3"]);
}

/// supabase/cli#3474: the CLI stores a `BEGIN ATOMIC` body with a `CASE …
/// END` inside as two statements and fails without a transaction; here it
/// is one statement, stored as one and applied.
#[tokio::test]
async fn a_begin_atomic_body_with_case_is_one_statement_and_applies() {
    let pg = cluster();
    let url = pg.create_database("app").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let body = "create function is_big(n int) returns boolean language sql\nbegin atomic\n  select case\n    when n > 10 then true\n    else false\n  end;\nend;\n\nselect 1;\n";
    write(dir.path(), "20260301000000_atomic.sql", body);
    write(
        dir.path(),
        "20260302000000_atomic_no_tx.sql",
        &format!(
            "-- preflight:no-transaction\n{}",
            body.replace("is_big", "is_huge")
        ),
    );
    let m = migrator(SourceKind::Supabase, dir.path(), &url);
    m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    assert_eq!(
        query(&url, "select array_length(statements, 1)::text from supabase_migrations.schema_migrations order by version").await,
        ["2", "2"]
    );
    assert_eq!(
        query(&url, "select is_big(11)::text || is_huge(3)::text").await,
        ["truefalse"]
    );
}
