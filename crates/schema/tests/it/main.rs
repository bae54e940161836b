//! Integration tests of preflight-schema on real PostgreSQL (Debian's
//! `postgresql`; `scripts/setup` installs it): drift of each kind made by
//! hand and found with the right classification.

mod migra;

use preflight_migrate::TempPostgres;
use preflight_schema::{Catalog, Difference, Finding, Ignore, ObjectKind, diff};
use sqlx::Connection;

/// A schema with one object of every kind the catalog reads.
const SCHEMA: &str = r#"
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA ops;
CREATE TYPE ops.job_state AS ENUM ('pending', 'running', 'done');
CREATE DOMAIN ops.positive AS integer NOT NULL CHECK (VALUE > 0);
CREATE SEQUENCE ops.ticket START 100 INCREMENT 5;
CREATE TABLE ops.workers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text COLLATE "C" NOT NULL UNIQUE);
CREATE TABLE ops.jobs (
  id bigserial PRIMARY KEY,
  state ops.job_state NOT NULL DEFAULT 'pending',
  priority ops.positive,
  worker bigint REFERENCES ops.workers (id),
  payload jsonb,
  size int GENERATED ALWAYS AS (length(payload::text)) STORED,
  CONSTRAINT jobs_payload_object CHECK (jsonb_typeof(payload) = 'object')
);
CREATE INDEX jobs_state_idx ON ops.jobs (state) WHERE state <> 'done';
CREATE VIEW ops.pending_jobs AS SELECT id, priority FROM ops.jobs WHERE state = 'pending';
CREATE MATERIALIZED VIEW ops.job_counts AS SELECT state, count(*) AS n FROM ops.jobs GROUP BY state;
CREATE FUNCTION ops.claim_job(kinds text[], lim integer) RETURNS SETOF ops.jobs
  LANGUAGE sql STABLE AS $$ SELECT * FROM ops.jobs WHERE state = 'pending' LIMIT lim $$;
CREATE FUNCTION ops.is_big(n int) RETURNS boolean LANGUAGE sql IMMUTABLE
  BEGIN ATOMIC SELECT CASE WHEN n > 10 THEN true ELSE false END; END;
CREATE PROCEDURE ops.reset_jobs() LANGUAGE plpgsql SECURITY DEFINER SET search_path = ops AS $$ BEGIN UPDATE ops.jobs SET state = 'pending'; END $$;
CREATE FUNCTION ops.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER jobs_touch BEFORE UPDATE ON ops.jobs FOR EACH ROW EXECUTE FUNCTION ops.touch();
ALTER TABLE ops.jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY jobs_read ON ops.jobs FOR SELECT TO PUBLIC USING (state <> 'done');
"#;

pub async fn exec(url: &str, sql: &str) {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

async fn read(url: &str, ignore: &Ignore) -> Catalog {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    Catalog::read(&mut conn, ignore).await.unwrap()
}

fn lines(findings: &[Finding]) -> Vec<String> {
    findings.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn every_kind_is_read_and_a_twin_has_no_drift() {
    let pg = TempPostgres::start().unwrap();
    let a = pg.create_database("a").unwrap();
    let b = pg.create_database("b").unwrap();
    exec(&a, SCHEMA).await;
    exec(&b, SCHEMA).await;
    let ignore = Ignore::default();
    let (ca, cb) = (read(&a, &ignore).await, read(&b, &ignore).await);
    let kinds: std::collections::BTreeSet<ObjectKind> =
        ca.objects.keys().map(|(k, _)| *k).collect();
    assert_eq!(kinds.len(), 13, "{kinds:?}");
    // Extension members (pgcrypto's functions) are not the user's objects.
    assert!(!ca.objects.keys().any(|(_, n)| n.contains("digest")));
    let body = &ca.objects[&(ObjectKind::Function, "ops.is_big(n integer)".to_string())];
    assert!(body.attributes["body"].contains("CASE"), "{body:?}");
    assert!(diff(&ca, &cb).is_empty(), "{:?}", lines(&diff(&ca, &cb)));
}

#[tokio::test]
async fn manual_changes_are_found_and_classified() {
    let pg = TempPostgres::start().unwrap();
    let expected = pg.create_database("expected").unwrap();
    let live = pg.create_database("live").unwrap();
    exec(&expected, SCHEMA).await;
    exec(&live, SCHEMA).await;
    // What people do to production by hand.
    exec(
        &live,
        r#"
        ALTER TABLE ops.jobs ADD COLUMN claimed_by text;
        CREATE FUNCTION ops.claim_pending_job(worker text) RETURNS bigint LANGUAGE sql AS $$ SELECT 1::bigint $$;
        DROP INDEX ops.jobs_state_idx;
        CREATE OR REPLACE FUNCTION ops.claim_job(kinds text[], lim integer) RETURNS SETOF ops.jobs
          LANGUAGE sql STABLE AS $$ SELECT * FROM ops.jobs LIMIT lim $$;
        ALTER POLICY jobs_read ON ops.jobs USING (true);
        ALTER TABLE ops.workers ALTER COLUMN name DROP NOT NULL;
        ALTER TYPE ops.job_state ADD VALUE 'failed';
        ALTER TABLE ops.jobs DISABLE TRIGGER jobs_touch;
        ALTER TABLE ops.jobs FORCE ROW LEVEL SECURITY;
        "#,
    )
    .await;
    let ignore = Ignore::default();
    let findings = diff(&read(&expected, &ignore).await, &read(&live, &ignore).await);
    assert_eq!(
        lines(&findings),
        [
            "changed enum ops.job_state: labels: pending, running, done → pending, running, done, failed",
            "changed table ops.jobs: force_row_level_security: false → true",
            "unrecorded column ops.jobs.claimed_by: live has it and no migration creates it (a manual change)",
            "changed column ops.workers.name: not_null: true → false",
            "missing index ops.jobs_state_idx: the migrations create it and live lacks it",
            "changed function ops.claim_job(kinds text[], lim integer): body:  SELECT * FROM ops.jobs WHERE state = 'pending' LIMIT lim  →  SELECT * FROM ops.jobs LIMIT lim ",
            "unrecorded function ops.claim_pending_job(worker text): live has it and no migration creates it (a manual change)",
            "changed trigger ops.jobs.jobs_touch: enabled: origin → disabled",
            "changed policy ops.jobs.jobs_read: using: (state <> 'done'::ops.job_state) → true",
        ]
    );
    assert!(matches!(findings[2].difference, Difference::Unrecorded));

    // Ignored schemas and objects are left out on both sides.
    let ignore = Ignore {
        objects: vec!["ops.jobs".into(), "ops.claim_pending_job".into()],
        schemas: vec![],
        privileges: false,
    };
    let left: Vec<String> = lines(&diff(
        &read(&expected, &ignore).await,
        &read(&live, &ignore).await,
    ));
    assert!(
        left.iter()
            .all(|l| !l.contains("ops.jobs.") && !l.contains("claim_pending")),
        "{left:?}"
    );
    let none = Ignore {
        schemas: vec!["ops".into()],
        ..Ignore::default()
    };
    assert!(diff(&read(&expected, &none).await, &read(&live, &none).await).is_empty());
}

#[tokio::test]
async fn privileges_are_compared_when_asked() {
    let pg = TempPostgres::start().unwrap();
    let expected = pg.create_database("expected").unwrap();
    let live = pg.create_database("live").unwrap();
    exec(&expected, "CREATE TABLE t (id int);").await;
    exec(
        &live,
        "CREATE TABLE t (id int); GRANT SELECT ON t TO PUBLIC;",
    )
    .await;
    assert!(
        diff(
            &read(&expected, &Ignore::default()).await,
            &read(&live, &Ignore::default()).await
        )
        .is_empty()
    );
    let with = Ignore {
        privileges: true,
        ..Ignore::default()
    };
    let found = lines(&diff(
        &read(&expected, &with).await,
        &read(&live, &with).await,
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("changed table public.t: privileges: (default) → "),
        "{found:?}"
    );
}
