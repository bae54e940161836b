//! `preflight gcp doctor` end to end: the real binary against the REST
//! fixture server of the gcp crate's tests (the same file, not a copy).

use std::process::Command;

#[path = "../../../gcp/tests/it/server.rs"]
pub(crate) mod server;

#[path = "../../../gcp/tests/it/grpc.rs"]
pub(crate) mod grpc;

use server::{FixtureServer, fixture};

use crate::example;

#[tokio::test(flavor = "multi_thread")]
async fn gcp_doctor_runs_every_readiness_check_and_fails_closed() {
    let server = FixtureServer::start().await;
    let p = "/v1/projects/mobiusos-new";
    server.route(
        "GET",
        &format!("{p}/services:batchGet"),
        vec![fixture(200, "serviceusage_batch_get.json")],
    );
    server.route(
        "POST",
        "/v3/projects/mobiusos-new:testIamPermissions",
        vec![fixture(200, "iam_test_permissions.json")],
    );
    server.route(
        "GET",
        &format!("{p}/instances/mobius-prod"),
        vec![fixture(200, "sql_instance.json")],
    );
    server.route(
        "GET",
        &format!("{p}/instances/mobius-prod/databases"),
        vec![fixture(200, "sql_databases.json")],
    );
    server.route(
        "GET",
        &format!("{p}/secrets"),
        vec![fixture(200, "secret_list.json")],
    );
    server.route(
        "GET",
        "/storage/v1/b/mobius-uploads-mobiusos-new",
        vec![fixture(200, "gcs_bucket_lifecycle.json")],
    );
    let services = "/v2/projects/mobiusos-new/locations/us-central1/services";
    server.route(
        "GET",
        &format!("{services}/mobius-chat-api"),
        vec![fixture(200, "run_service_chat_api.json")],
    );
    server.route(
        "GET",
        &format!("{services}/mobius-chat-worker"),
        vec![fixture(200, "run_service_chat_worker_no_vpc.json")],
    );
    // shared-assets and mobius-skills-scraper get the server's 404.

    let url = server.url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args([
                "gcp",
                "doctor",
                "--env",
                "prod",
                "--config",
                &example("preflight.yaml"),
            ])
            .env("PREFLIGHT_GCP_ENDPOINT", &url)
            .env_remove("STORAGE_EMULATOR_HOST")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name} in\n{stdout}"))
            .to_string()
    };
    assert!(row("gcp.apis").contains("failed"), "{stdout}");
    assert!(
        stdout.contains("aiplatform.googleapis.com is disabled"),
        "{stdout}"
    );
    assert!(row("gcp.iam").contains("the caller lacks"), "{stdout}");
    assert!(
        row("gcp.sql").contains("mobius-prod is not ready"),
        "{stdout}"
    );
    assert!(
        stdout.contains("database `mobius_rag` does not exist on mobius-prod"),
        "{stdout}"
    );
    assert!(
        row("gcp.bucket.mobius-uploads-mobiusos-new").contains("passed"),
        "{stdout}"
    );
    assert!(
        row("gcp.bucket.shared-assets").contains("error"),
        "{stdout}"
    );
    assert!(
        row("gcp.secrets.mobius-rag").contains("1 of 3 keys of mobius-rag have no secret"),
        "{stdout}"
    );
    assert!(
        row("gcp.vpc.mobius-chat-api").contains("passed"),
        "{stdout}"
    );
    assert!(
        row("gcp.vpc.mobius-chat-worker").contains("failed"),
        "{stdout}"
    );
    assert!(
        row("gcp.vpc.mobius-skills-scraper").contains("error"),
        "{stdout}"
    );
}
