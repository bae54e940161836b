use std::path::Path;

use preflight_migrate::TempPostgres;
use preflight_verify::{Contract, ContractProbe, Outcome, ProbeSpec, Runner};
use sqlx::{Connection, Executor, PgConnection};

use crate::stable;

const SCHEMA: &str = "
CREATE SCHEMA ops;
CREATE TABLE ops.jobs (id bigserial PRIMARY KEY, kind text NOT NULL, state varchar(32), claimed_at timestamptz, tags text[]);
CREATE TABLE public.documents (id uuid PRIMARY KEY, title text, score numeric(10,2));
CREATE FUNCTION ops.claim_pending_job(kinds text[], lim integer, worker text) RETURNS SETOF ops.jobs
  LANGUAGE sql AS $$ SELECT * FROM ops.jobs WHERE kind = ANY(kinds) LIMIT lim $$;
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('c4d5e6f7a8b9');
CREATE SCHEMA preflight;
CREATE TABLE preflight.schema_migrations (version text PRIMARY KEY, success boolean NOT NULL);
INSERT INTO preflight.schema_migrations VALUES ('001', true), ('002', true), ('python:add_publish_tables', true);
";

async fn database(pg: &TempPostgres, name: &str) -> String {
    let url = pg.create_database(name).unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    conn.execute(SCHEMA).await.unwrap();
    conn.close().await.unwrap();
    url
}

async fn check(url: &str, name: &str, contract: &str) -> preflight_verify::ProbeResult {
    let contract = Contract::parse(Path::new(&format!("contracts/{name}.yaml")), contract).unwrap();
    let probe = ContractProbe {
        database_url: url.to_string(),
        contract,
    };
    let report = Runner::new(1)
        .unwrap()
        .run(vec![ProbeSpec::new(name, probe)])
        .await;
    report.results.into_iter().next().unwrap()
}

#[tokio::test]
async fn contracts_against_a_real_database() {
    let pg = TempPostgres::start().expect("start a throwaway PostgreSQL (run scripts/setup)");
    let url = database(&pg, "contracts").await;

    let passing = check(
        &url,
        "passing",
        r#"
tables:
  - documents
  - name: ops.jobs
    columns:
      id: int8
      kind: text
      state: varchar(32)
      claimed_at: timestamptz
      tags: _text
  - name: public.documents
    columns:
      score: "decimal(10, 2)"
      title: TEXT
extensions: [plpgsql]
functions:
  - ops.claim_pending_job(text[], int4, text)
ledgers:
  - kind: alembic
    version: c4d5e6f7a8b9
  - kind: preflight
    version: "002"
  - kind: python
    version: python:add_publish_tables
"#,
    )
    .await;
    assert_eq!(passing.outcome, Outcome::Passed, "{passing:?}");
    assert_eq!(passing.summary, "15 items as contracted");

    let failing = check(
        &url,
        "failing",
        r#"
tables:
  - chat_messages
  - name: ops.jobs
    columns:
      id: integer
      priority: smallint
      state: varchar(64)
extensions: [vector, not_a_real_extension]
functions:
  - ops.claim_pending_job(text[], integer)
  - ops.release_job(bigint)
ledgers:
  - kind: alembic
    version: ffffffffffff
  - kind: sql
    version: "003"
  - kind: supabase
    version: "20260202090000"
"#,
    )
    .await;
    assert_eq!(failing.outcome, Outcome::Failed);
    insta::assert_snapshot!(format!(
        "{}\n{}",
        failing.summary,
        failing.evidence.join("\n")
    ));
}

#[tokio::test]
async fn unreachable_database_is_an_error_without_the_password() {
    let contract = Contract::parse(Path::new("c.yaml"), "tables: [x]\n").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let probe = ContractProbe {
        database_url: format!("postgres://app:pw-planted-9f3@{closed}/mobius"),
        contract,
    };
    let report = Runner::new(1)
        .unwrap()
        .run(vec![ProbeSpec::new("db", probe)])
        .await;
    let r = &report.results[0];
    assert_eq!(r.outcome, Outcome::Errored);
    let all = format!(
        "{}{}{}",
        report.to_json(),
        report.to_markdown(),
        report.to_junit("verify")
    );
    assert!(!all.contains("pw-planted-9f3"), "{all}");
    assert!(
        stable(&r.summary)
            .starts_with("cannot connect to postgres://app:***@127.0.0.1:[port]/mobius"),
        "{}",
        r.summary
    );
}

#[test]
fn contract_file_errors_name_file_line_and_column() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad_contract.yaml");
    let err = Contract::load(&fixture).unwrap_err().to_string();
    let err = err.replace(env!("CARGO_MANIFEST_DIR"), "[crate]");
    insta::assert_snapshot!(err, @"[crate]/tests/fixtures/bad_contract.yaml:6:5: in `ops.claim_pending_job(text[], integer(, text)`: `integer(, text` has an unclosed `(`");
}

/// An extra overload of a contracted function and a changed result type
/// fail the contract (both passed as "as contracted" before).
#[tokio::test]
async fn extra_overloads_and_changed_results_fail_the_contract() {
    let pg = TempPostgres::start().expect("start a throwaway PostgreSQL (run scripts/setup)");
    let url = pg.create_database("rpcs").unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE SCHEMA ops;
         CREATE FUNCTION ops.queue_job(kind text, priority integer) RETURNS uuid LANGUAGE sql AS $$ SELECT gen_random_uuid() $$;
         CREATE FUNCTION ops.queue_job(kind text) RETURNS uuid LANGUAGE sql AS $$ SELECT gen_random_uuid() $$;
         CREATE FUNCTION ops.heartbeat(worker text) RETURNS bigint LANGUAGE sql AS $$ SELECT 1::bigint $$;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let ok = check(
        &url,
        "ok",
        "functions:\n  - ops.heartbeat(text) -> BIGINT\n",
    )
    .await;
    assert_eq!(ok.outcome, Outcome::Passed, "{:?}", ok.evidence);
    let failing = check(
        &url,
        "rpcs",
        "functions:\n  - ops.queue_job(text, integer) -> uuid\n  - ops.heartbeat(text) -> void\n",
    )
    .await;
    assert_eq!(failing.outcome, Outcome::Failed);
    let evidence = failing.evidence.join("\n");
    assert!(
        evidence.contains("function ops.queue_job(text, integer) -> uuid: an extra overload exists: ops.queue_job(text)"),
        "{evidence}"
    );
    assert!(
        evidence.contains("function ops.heartbeat(text) -> void: returns bigint, expected void"),
        "{evidence}"
    );
}
