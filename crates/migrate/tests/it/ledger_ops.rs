//! baseline, repair, backups, scaffolding and the kept local cluster.

use preflight_migrate::{
    Error, LocalDirStore, LocalPostgres, MigrationState, RepairStatus, SourceKind, UpOptions,
    backup_database, new_migration, rollback_migration,
};

use crate::{cluster, exec, migrator, query, write};

fn two(dir: &std::path::Path) {
    write(
        dir,
        "001_init.sql",
        "CREATE TABLE chat_threads (id bigserial PRIMARY KEY);\n",
    );
    write(
        dir,
        "002_turns.sql",
        "CREATE TABLE chat_turns (id bigserial PRIMARY KEY);\n",
    );
    write(
        dir,
        "003_state.sql",
        "CREATE TABLE chat_state (k text PRIMARY KEY);\n",
    );
}

#[tokio::test]
async fn baseline_adopts_a_hand_migrated_database() {
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    two(dir.path());
    // Migrated by hand: the first two files' tables exist, no ledger.
    exec(&url, "CREATE TABLE chat_threads (id bigserial PRIMARY KEY); CREATE TABLE chat_turns (id bigserial PRIMARY KEY);").await;
    let m = migrator(SourceKind::Sql, dir.path(), &url);
    let changes = m.baseline("002").await.unwrap();
    let versions: Vec<_> = changes.iter().map(|c| c.version.as_str()).collect();
    assert_eq!(versions, ["001", "002"]);
    let status = m.status().await.unwrap();
    assert_eq!(status.count(MigrationState::Applied), 2);
    assert_eq!(status.count(MigrationState::Pending), 1);
    let report = m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    assert_eq!(report.applied, ["003"]);
    let audit = query(
        &url,
        "SELECT action || ':' || version || ':' || actor FROM preflight.ledger_audit ORDER BY id",
    )
    .await;
    assert_eq!(audit, ["baseline:001:test", "baseline:002:test"]);
    // A second baseline below what is applied is refused.
    let err = m.baseline("001").await.unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    assert!(matches!(
        m.baseline("999").await.unwrap_err(),
        Error::UnknownTarget { .. }
    ));
}

#[tokio::test]
async fn repair_accepts_a_deliberate_change_and_reverts_rows() {
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    two(dir.path());
    let m = migrator(SourceKind::Sql, dir.path(), &url);
    m.up(&UpOptions::default(), &mut |_| {}).await.unwrap();
    write(
        dir.path(),
        "002_turns.sql",
        "CREATE TABLE chat_turns (id bigserial PRIMARY KEY);\n-- reviewed\n",
    );
    assert_eq!(m.status().await.unwrap().count(MigrationState::Modified), 1);
    assert!(m.up(&UpOptions::default(), &mut |_| {}).await.is_err());
    m.repair(RepairStatus::Applied, &["002".into()])
        .await
        .unwrap();
    assert!(m.status().await.unwrap().is_clean());

    let changes = m
        .repair(RepairStatus::Reverted, &["003".into()])
        .await
        .unwrap();
    assert_eq!(changes[0].name, "state");
    assert_eq!(m.status().await.unwrap().count(MigrationState::Pending), 1);
    assert!(matches!(
        m.repair(RepairStatus::Reverted, &["003".into()])
            .await
            .unwrap_err(),
        Error::NotInLedger { .. }
    ));
    let audit = query(
        &url,
        "SELECT action || ':' || version FROM preflight.ledger_audit ORDER BY id",
    )
    .await;
    assert_eq!(audit, ["repair applied:002", "repair reverted:003"]);
}

#[tokio::test]
async fn supabase_repair_writes_what_the_cli_writes() {
    let pg = cluster();
    let url = pg.create_database("ops").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20260201120000_jobs.sql",
        "create table jobs (id int);\ncreate index on jobs (id);\n",
    );
    let m = migrator(SourceKind::Supabase, dir.path(), &url);
    exec(
        &url,
        "create table jobs (id int); create index on jobs (id);",
    )
    .await;
    m.repair(RepairStatus::Applied, &["20260201120000".into()])
        .await
        .unwrap();
    let rows = query(&url, "SELECT version || '|' || name || '|' || array_length(statements, 1) FROM supabase_migrations.schema_migrations").await;
    assert_eq!(rows, ["20260201120000|jobs|2"]);
    assert!(m.status().await.unwrap().is_clean());
}

#[tokio::test]
async fn backup_goes_to_the_store_and_restores() {
    let pg = cluster();
    let url = pg.create_database("chat").unwrap();
    exec(
        &url,
        "CREATE TABLE chat_threads (id int); INSERT INTO chat_threads VALUES (1), (2);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDirStore {
        root: dir.path().join("artifacts"),
    };
    let backup = backup_database(&url, &store, "backups/chat/one.dump")
        .await
        .unwrap();
    assert_eq!(backup.database, "chat");
    assert!(backup.artifact.size > 0);
    let copy = dir.path().join("restored.dump");
    use preflight_migrate::ArtifactStore;
    store
        .get_file("backups/chat/one.dump", &copy)
        .await
        .unwrap();
    let restored = pg.create_database("chat_restored").unwrap();
    let status = std::process::Command::new(pg.bin_dir().join("pg_restore"))
        .args(["--no-owner", "-d", &restored])
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        query(&restored, "SELECT count(*) FROM chat_threads").await,
        ["2"]
    );

    let missing = format!("{}_nope", url);
    let err = backup_database(&missing, &store, "backups/x.dump")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backup { .. }), "{err}");
}

#[tokio::test]
async fn scaffolding_never_touches_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    two(dir.path());
    let now: jiff::Timestamp = "2026-02-14T10:15:00Z".parse().unwrap();
    let path = new_migration(SourceKind::Sql, dir.path(), "Add chat titles", now)
        .await
        .unwrap();
    assert_eq!(path.file_name().unwrap(), "004_add_chat_titles.sql");
    let before = std::fs::read_to_string(dir.path().join("001_init.sql")).unwrap();
    let rb = rollback_migration(SourceKind::Sql, dir.path(), "init", now)
        .await
        .unwrap();
    assert_eq!(rb.file_name().unwrap(), "005_rollback_init.sql");
    let text = std::fs::read_to_string(&rb).unwrap();
    assert!(
        text.contains("-- DROP TABLE IF EXISTS chat_threads;"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("001_init.sql")).unwrap(),
        before
    );

    let supa = tempfile::tempdir().unwrap();
    write(
        supa.path(),
        "20260201120000_jobs.sql",
        "create table jobs (id int);",
    );
    let p = rollback_migration(SourceKind::Supabase, supa.path(), "20260201120000", now)
        .await
        .unwrap();
    assert_eq!(p.file_name().unwrap(), "20260214101500_rollback_jobs.sql");
    let p2 = new_migration(SourceKind::Supabase, supa.path(), "next", now)
        .await
        .unwrap();
    assert_eq!(p2.file_name().unwrap(), "20260214101501_next.sql");
    assert!(matches!(
        rollback_migration(SourceKind::Supabase, supa.path(), "nope", now)
            .await
            .unwrap_err(),
        Error::UnknownTarget { .. }
    ));
}

#[test]
fn the_local_cluster_is_kept_between_uses() {
    // A folder only its owner can read: as root, the server's user cannot
    // reach it, so the data must go where it can (and still be found).
    let state = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        state.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let first = LocalPostgres::ensure(state.path()).unwrap();
    first.ensure_database("mobius_chat").unwrap();
    first.ensure_database("mobius_chat").unwrap();
    let port = first.port();
    let status = LocalPostgres::status(state.path()).unwrap();
    assert!(status.running);
    assert_eq!(status.databases, ["mobius_chat"]);
    assert!(LocalPostgres::stop(state.path()).unwrap());
    assert!(!LocalPostgres::status(state.path()).unwrap().running);
    let again = LocalPostgres::ensure(state.path()).unwrap();
    assert_eq!(again.port(), port, "the same port when it is still free");
    assert_eq!(
        LocalPostgres::status(state.path()).unwrap().databases,
        ["mobius_chat"]
    );
    let placed = std::fs::read_to_string(state.path().join("postgres/data-dir")).ok();
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .unwrap()
        .stdout
        == b"0\n";
    assert_eq!(
        placed.is_some(),
        root,
        "placed outside only when run as root"
    );
    LocalPostgres::reset(state.path()).unwrap();
    let status = LocalPostgres::status(state.path()).unwrap();
    assert!(!status.initialised && !status.running);
    if let Some(data) = placed {
        let data = std::path::Path::new(data.trim());
        assert!(!data.starts_with(state.path()));
        assert!(
            !data.exists(),
            "reset removes data kept outside the project"
        );
    }
}
