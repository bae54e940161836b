//! Secret Manager, Cloud Run, Cloud Build and the readiness checks against
//! a local server answering with recorded REST bodies.

use std::collections::BTreeMap;
use std::time::Duration;

use preflight_gcp::{
    CloudBuild, CloudRun, Error, JobRun, Readiness, ReadinessOptions, ReadinessStatus,
    SecretResolver,
};
use preflight_manifest::SecretRef;

use crate::local_options;
use crate::server::{FixtureServer, fixture};

const ACCESS: &str = "/v1/projects/mobiusos-new/secrets/mobius-database-url/versions/latest:access";
const JOB: &str = "projects/mobiusos-new/locations/us-central1/jobs/mobius-chat-migrate";
const OPERATION: &str = "/v2/projects/mobiusos-new/locations/us-central1/operations/4b8d1c2e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
const EXECUTION: &str = "/v2/projects/mobiusos-new/locations/us-central1/jobs/mobius-chat-migrate/executions/mobius-chat-migrate-k7x2p";
const TRIGGER: &str = "/v1/projects/mobiusos-new/triggers/mobius-release:run";
const BUILD_OPERATION: &str =
    "/v1/operations/build/mobiusos-new/NmYxYzJkM2UtNGE1Yi00YzZkLThlN2YtOWEwYjFjMmQzZTRm";

fn secret() -> SecretRef {
    SecretRef::parse("secret://projects/mobiusos-new/secrets/mobius-database-url").unwrap()
}

/// The error and its causes, as the CLI prints them.
fn chain(e: &Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str("\n  caused by: ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[tokio::test]
async fn secrets_resolve_and_never_print() {
    let server = FixtureServer::start().await;
    server.route("GET", ACCESS, vec![fixture(200, "secret_access.json")]);
    let resolver = SecretResolver::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let value = resolver.resolve(&secret()).await.unwrap();
    assert_eq!(
        value.expose(),
        "postgres://mobius:s3cr3t-Pa55@10.20.0.5:5432/mobius"
    );
    assert!(!format!("{value:?} {value}").contains("s3cr3t"));
}

#[tokio::test]
async fn too_many_requests_is_retried_with_backoff() {
    let server = FixtureServer::start().await;
    server.route(
        "GET",
        ACCESS,
        vec![
            fixture(429, "error_429.json"),
            fixture(503, "error_503.json"),
            fixture(200, "secret_access.json"),
        ],
    );
    let resolver = SecretResolver::connect(&local_options(&server.url()))
        .await
        .unwrap();
    resolver.resolve(&secret()).await.unwrap();
    assert_eq!(server.hits("GET", ACCESS), 3);
}

#[tokio::test]
async fn retries_give_up_after_the_attempt_limit() {
    let server = FixtureServer::start().await;
    server.route("GET", ACCESS, vec![fixture(429, "error_429.json")]);
    let resolver = SecretResolver::connect(&local_options(&server.url()))
        .await
        .unwrap();
    resolver.resolve(&secret()).await.unwrap_err();
    assert_eq!(server.hits("GET", ACCESS), 5);
}

#[tokio::test]
async fn denied_missing_and_disabled_say_what_is_missing() {
    let server = FixtureServer::start().await;
    server.route(
        "GET",
        ACCESS,
        vec![fixture(403, "error_403_permission.json")],
    );
    server.route(
        "GET",
        "/v1/projects/mobiusos-new/secrets/mobius-user-database-url/versions/latest:access",
        vec![fixture(404, "error_404_secret.json")],
    );
    server.route(
        "GET",
        "/v2/projects/mobiusos-new/locations/us-central1/services/mobius-chat-api",
        vec![fixture(403, "error_403_api_disabled.json")],
    );
    let options = local_options(&server.url());
    let resolver = SecretResolver::connect(&options).await.unwrap();
    let denied = resolver.resolve(&secret()).await.unwrap_err();
    let missing = resolver
        .resolve(
            &SecretRef::parse("secret://projects/mobiusos-new/secrets/mobius-user-database-url")
                .unwrap(),
        )
        .await
        .unwrap_err();
    let run = CloudRun::connect(&options).await.unwrap();
    let disabled = run
        .service("mobiusos-new", "us-central1", "mobius-chat-api")
        .await
        .unwrap_err();
    insta::assert_snapshot!(
        [chain(&denied), chain(&missing), chain(&disabled)].join("\n\n"),
        @r"
    permission denied to read the secret projects/mobiusos-new/secrets/mobius-database-url/versions/latest in project mobiusos-new: the caller needs `secretmanager.versions.access`
      caused by: the service reports an error with code PERMISSION_DENIED described as: Permission 'secretmanager.versions.access' denied for resource 'projects/mobiusos-new/secrets/mobius-database-url/versions/latest' (or it may not exist).

    cannot read the secret projects/mobiusos-new/secrets/mobius-user-database-url/versions/latest: not found in project mobiusos-new
      caused by: the service reports an error with code NOT_FOUND described as: Secret [projects/412345678901/secrets/mobius-user-database-url] not found or has no versions.

    run.googleapis.com is not enabled in project mobiusos-new (needed to read the Cloud Run service projects/mobiusos-new/locations/us-central1/services/mobius-chat-api); run `gcloud services enable run.googleapis.com --project=mobiusos-new`
      caused by: the service reports an error with code PERMISSION_DENIED described as: Cloud Run Admin API has not been used in project 412345678901 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/run.googleapis.com/overview?project=412345678901 then retry.
    "
    );
}

fn job_run(deadline: Duration) -> JobRun {
    JobRun {
        project: "mobiusos-new".into(),
        region: "us-central1".into(),
        job: "mobius-chat-migrate".into(),
        args: vec![
            "python".into(),
            "-m".into(),
            "app.migrations.run_all".into(),
        ],
        env: BTreeMap::from([("RELEASE_ID".into(), "2026-02-14-prod".into())]),
        task_timeout: Some(Duration::from_secs(900)),
        deadline,
    }
}

#[tokio::test]
async fn a_job_runs_with_overrides_and_is_waited_for() {
    let server = FixtureServer::start().await;
    let run_path = format!("/v2/{JOB}:run");
    server.route(
        "POST",
        &run_path,
        vec![
            fixture(429, "error_429.json"),
            fixture(200, "run_job_operation_running.json"),
        ],
    );
    server.route(
        "GET",
        OPERATION,
        vec![
            fixture(200, "run_job_operation_running.json"),
            fixture(503, "error_503.json"),
            fixture(200, "run_job_operation_succeeded.json"),
        ],
    );
    let run = CloudRun::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let outcome = run
        .run_job(&job_run(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(outcome.succeeded, "{outcome:?}");
    assert_eq!(outcome.succeeded_tasks, 1);
    assert!(
        outcome
            .execution
            .ends_with("/executions/mobius-chat-migrate-k7x2p")
    );
    assert!(
        outcome
            .log_uri
            .starts_with("https://console.cloud.google.com/logs/viewer?project=mobiusos-new")
    );
    // 429 on the run call is retried: the first call was refused.
    assert_eq!(server.hits("POST", &run_path), 2);
    let sent: serde_json::Value = serde_json::from_str(
        &server
            .requests()
            .iter()
            .rfind(|r| r.method == "POST")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(
        sent["overrides"],
        serde_json::json!({
            "containerOverrides": [{
                "args": ["python", "-m", "app.migrations.run_all"],
                "env": [{"name": "RELEASE_ID", "value": "2026-02-14-prod"}]
            }],
            "timeout": "900s"
        })
    );
}

#[tokio::test]
async fn a_failed_execution_reports_why_and_its_logs() {
    let server = FixtureServer::start().await;
    server.route(
        "POST",
        &format!("/v2/{JOB}:run"),
        vec![fixture(200, "run_job_operation_running.json")],
    );
    server.route(
        "GET",
        OPERATION,
        vec![fixture(200, "run_job_operation_failed.json")],
    );
    server.route(
        "GET",
        EXECUTION,
        vec![fixture(200, "run_execution_failed.json")],
    );
    let run = CloudRun::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let outcome = run
        .run_job(&job_run(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(!outcome.succeeded);
    assert_eq!(outcome.failed_tasks, 1);
    assert_eq!(
        outcome.message,
        "Task mobius-chat-migrate-k7x2p-task0 failed with message: The container exited with an error."
    );
    assert!(outcome.log_uri.contains("mobius-chat-migrate-k7x2p"));
}

#[tokio::test]
async fn a_job_that_runs_past_its_deadline_is_reported_not_awaited() {
    let server = FixtureServer::start().await;
    let run_path = format!("/v2/{JOB}:run");
    server.route(
        "POST",
        &run_path,
        vec![fixture(200, "run_job_operation_running.json")],
    );
    server.route(
        "GET",
        OPERATION,
        vec![fixture(200, "run_job_operation_running.json")],
    );
    let run = CloudRun::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let err = run
        .run_job(&job_run(Duration::from_millis(300)))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("execution of Cloud Run job mobius-chat-migrate did not finish within 0s (last seen: 1 running, 0 succeeded, 0 failed; logs: https://console.cloud.google.com/logs/"),
        "{text}"
    );
    assert!(server.hits("GET", OPERATION) >= 2);
}

#[tokio::test]
async fn an_unavailable_run_call_is_not_repeated() {
    // A 503 on a non-idempotent call may have started the job: do not start another.
    let server = FixtureServer::start().await;
    let run_path = format!("/v2/{JOB}:run");
    server.route("POST", &run_path, vec![fixture(503, "error_503.json")]);
    let run = CloudRun::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let err = run
        .run_job(&job_run(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot run the Cloud Run job projects/mobiusos-new/locations/us-central1/jobs/mobius-chat-migrate"),
        "{err}"
    );
    assert_eq!(server.hits("POST", &run_path), 1);
}

#[tokio::test]
async fn a_trigger_runs_with_the_manifest_and_reports_the_build() {
    let server = FixtureServer::start().await;
    server.route(
        "POST",
        TRIGGER,
        vec![fixture(200, "build_operation_running.json")],
    );
    server.route(
        "GET",
        BUILD_OPERATION,
        vec![
            fixture(200, "build_operation_running.json"),
            fixture(200, "build_operation_succeeded.json"),
        ],
    );
    let build = CloudBuild::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let substitutions = BTreeMap::from([(
        "_RELEASE_MANIFEST".to_string(),
        "release-manifests/2026-02-14-prod.yaml".to_string(),
    )]);
    let outcome = build
        .run_trigger(
            "mobiusos-new",
            "mobius-release",
            "main",
            &substitutions,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(outcome.succeeded);
    assert_eq!(outcome.status, "SUCCESS");
    assert_eq!(outcome.id, "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f");
    assert!(
        outcome
            .log_url
            .starts_with("https://console.cloud.google.com/cloud-build/builds/")
    );
    let sent: serde_json::Value = serde_json::from_str(&server.requests()[0].body).unwrap();
    assert_eq!(
        sent["substitutions"]["_RELEASE_MANIFEST"],
        "release-manifests/2026-02-14-prod.yaml"
    );
    assert_eq!(sent["branchName"], "main");
}

#[tokio::test]
async fn a_failed_build_reports_its_step_and_log() {
    let server = FixtureServer::start().await;
    server.route(
        "POST",
        TRIGGER,
        vec![fixture(200, "build_operation_running.json")],
    );
    server.route(
        "GET",
        BUILD_OPERATION,
        vec![fixture(200, "build_operation_failed.json")],
    );
    server.route(
        "GET",
        "/v1/projects/mobiusos-new/builds/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
        vec![fixture(200, "build_failed.json")],
    );
    let build = CloudBuild::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let outcome = build
        .run_trigger(
            "mobiusos-new",
            "mobius-release",
            "main",
            &BTreeMap::new(),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(!outcome.succeeded);
    assert_eq!(outcome.status, "FAILURE");
    assert!(outcome.message.contains("build step 2"), "{outcome:?}");
    assert!(!outcome.log_url.is_empty());
}

fn readiness(server: &FixtureServer) -> Readiness {
    Readiness::new(
        local_options(&server.url()),
        ReadinessOptions {
            project: "mobiusos-new".into(),
            region: "us-central1".into(),
        },
    )
}

#[tokio::test]
async fn readiness_names_what_is_missing() {
    let server = FixtureServer::start().await;
    server.route(
        "GET",
        "/v1/projects/mobiusos-new/services:batchGet",
        vec![
            fixture(429, "error_429.json"),
            fixture(200, "serviceusage_batch_get.json"),
        ],
    );
    server.route(
        "POST",
        "/v3/projects/mobiusos-new:testIamPermissions",
        vec![fixture(200, "iam_test_permissions.json")],
    );
    server.route(
        "GET",
        "/v1/projects/mobiusos-new/instances/mobius-prod",
        vec![fixture(200, "sql_instance.json")],
    );
    server.route(
        "GET",
        "/v1/projects/mobiusos-new/instances/mobius-prod/databases",
        vec![fixture(200, "sql_databases.json")],
    );
    server.route(
        "GET",
        "/v1/projects/mobiusos-new/secrets",
        vec![fixture(200, "secret_list.json")],
    );
    server.route(
        "GET",
        "/v2/projects/mobiusos-new/locations/us-central1/services/mobius-chat-api",
        vec![fixture(200, "run_service_chat_api.json")],
    );
    server.route(
        "GET",
        "/v2/projects/mobiusos-new/locations/us-central1/services/mobius-chat-worker",
        vec![fixture(200, "run_service_chat_worker_no_vpc.json")],
    );
    server.route(
        "GET",
        "/storage/v1/b/mobius-uploads-mobiusos-new",
        vec![fixture(200, "gcs_bucket_lifecycle.json")],
    );
    let r = readiness(&server);
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let checks = [
        r.apis(&strings(&[
            "run.googleapis.com",
            "sqladmin.googleapis.com",
            "aiplatform.googleapis.com",
        ]))
        .await,
        r.permissions(&strings(&[
            "run.jobs.run",
            "cloudsql.instances.connect",
            "secretmanager.versions.access",
        ]))
        .await,
        r.sql(
            "mobius-prod",
            &strings(&["mobius", "mobius_rag", "mobius_chat", "mobius_user"]),
        )
        .await,
        r.secrets(
            "mobius-rag",
            &[
                ("DATABASE_URL".into(), "mobius-rag-database-url".into()),
                ("REDIS_URL".into(), "mobius-rag-redis-url".into()),
                ("OPENAI_API_KEY".into(), "mobius-rag-openai-api-key".into()),
            ],
        )
        .await,
        r.service(
            "mobius-chat-api",
            Some("gcr.io/mobiusos-new/mobius-chat-api:v1.4.2"),
            true,
        )
        .await,
        r.service(
            "mobius-chat-worker",
            Some("gcr.io/mobiusos-new/mobius-chat-worker:v1.4.2"),
            true,
        )
        .await,
        r.bucket("mobius-uploads-mobiusos-new").await,
    ];
    let rendered: Vec<String> = checks
        .iter()
        .map(|c| {
            let mut s = format!("{:?}: {}", c.status, c.summary);
            for d in &c.details {
                s.push_str("\n  ");
                s.push_str(d);
            }
            s
        })
        .collect();
    insta::assert_snapshot!(rendered.join("\n"), @r#"
    Fail: 1 of 3 APIs not enabled in mobiusos-new
      aiplatform.googleapis.com is disabled: gcloud services enable aiplatform.googleapis.com --project=mobiusos-new
    Fail: the caller lacks 1 of 3 permissions on mobiusos-new
      missing `secretmanager.versions.access` on projects/mobiusos-new
    Fail: mobius-prod is not ready
      database `mobius_rag` does not exist on mobius-prod: gcloud sql databases create mobius_rag --instance=mobius-prod --project=mobiusos-new
      database `mobius_user` does not exist on mobius-prod: gcloud sql databases create mobius_user --instance=mobius-prod --project=mobiusos-new
    Fail: 1 of 3 keys of mobius-rag have no secret
      REDIS_URL: no secret `mobius-rag-redis-url` in mobiusos-new
    Pass: mobius-chat-api: runs gcr.io/mobiusos-new/mobius-chat-api:v1.4.2; network default/default, private-ranges-only
    Fail: mobius-chat-worker is not as required
      runs gcr.io/mobiusos-new/mobius-chat-worker:v1.4.1, the manifest pins gcr.io/mobiusos-new/mobius-chat-worker:v1.4.2
      no VPC egress: deploy with --network/--subnet (or --vpc-connector) and --vpc-egress=private-ranges-only
    Pass: gs://mobius-uploads-mobiusos-new exists with 2 lifecycle rule(s)
      Delete when age 90
      SetStorageClass when age 30, matchesStorageClass ["STANDARD"]
    "#);
    // What was asked for the APIs: every name, in one batch.
    let batch = server
        .requests()
        .into_iter()
        .find(|q| q.path.ends_with("services:batchGet"))
        .unwrap();
    assert!(
        batch
            .query
            .contains("names=projects%2Fmobiusos-new%2Fservices%2Faiplatform.googleapis.com"),
        "{}",
        batch.query
    );
}

#[tokio::test]
async fn readiness_is_unknown_when_the_check_itself_fails() {
    let server = FixtureServer::start().await;
    server.route(
        "POST",
        "/v3/projects/mobiusos-new:testIamPermissions",
        vec![fixture(403, "error_403_api_disabled.json")],
    );
    let check = readiness(&server)
        .permissions(&["run.jobs.run".to_string()])
        .await;
    assert_eq!(check.status, ReadinessStatus::Unknown);
    assert!(
        check
            .summary
            .starts_with("run.googleapis.com is not enabled in project mobiusos-new"),
        "{check:?}"
    );
    // Nothing answers for SQL at all: unknown, never a pass.
    let check = readiness(&server).sql("mobius-prod", &[]).await;
    assert_eq!(check.status, ReadinessStatus::Unknown);
}
