//! A cloud release against a local server answering like Cloud Build and
//! the Cloud Run Admin API (the gcp crate's REST fixtures): the build phase
//! runs the trigger with the manifest; the migrate phase runs a module's
//! migrations through its Cloud Run job once the job's image is the pin;
//! the deploy rolls the service out as a 10 % canary under the release's
//! tag, smoke and watch call the tagged revision on its own loopback URL,
//! and the end of the watch promotes it; when the watch fails, the traffic
//! goes back.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::gcp::server::{FixtureServer, Reply, fixture, fixture_filled};
use crate::migrate::venv_path;

const SERVICE: &str = "/v2/projects/mobiusos-new/locations/us-central1/services/mobius-chat-api";
const OPERATION: &str = "/v2/projects/mobiusos-new/locations/us-central1/operations/7c1e9a2b-3d4f-4a5b-9c6d-1e2f3a4b5c6d";
const TRAFFIC_OPERATION: &str = "/v2/projects/mobiusos-new/locations/us-central1/operations/8d2f0b3c-4e5a-4b6c-8d7e-2f3a4b5c6d7e";
const REVISION: &str = "mobius-chat-api-00015-qmz";
const TRIGGER: &str = "/v1/projects/mobiusos-new/triggers/mobius-release:run";
const BUILD_OPERATION: &str =
    "/v1/operations/build/mobiusos-new/NmYxYzJkM2UtNGE1Yi00YzZkLThlN2YtOWEwYjFjMmQzZTRm";
const JOB: &str = "/v2/projects/mobiusos-new/locations/us-central1/jobs/mobius-chat-migrate";
const JOB_OPERATION: &str = "/v2/projects/mobiusos-new/locations/us-central1/operations/4b8d1c2e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";

fn write_project(root: &Path) {
    for (path, text) in [
        (
            "preflight.yaml",
            r#"platform: cloud
manifests: release-manifests
modules:
  mobius-chat:
    images: [mobius-chat-api]
environments:
  dev:
    checkout: skip
    gcp_project: mobiusos-new
    region: us-central1
    services:
      # Nothing listens here: only the canary's own URL answers.
      mobius-chat-api: http://127.0.0.1:9
probes:
  - name: chat-health
    kind: http
    url: "{services.mobius-chat-api}/health"
    json:
      /status: ok
release:
  watch:
    interval_secs: 1
    window_secs: 2
    # Each canary's Cloud Monitoring figures, every round.
    metrics:
      dev: {max_5xx_percent: 1, max_p95_latency_ms: 1500}
  notify:
    webhook: env:ROLLOUT_WEBHOOK
    pubsub: projects/mobiusos-new/topics/releases
gcp:
  services:
    mobius-chat-api:
      redis: true
      network: default
      subnet: default
      service_account: "mobius-platform-sa@{gcp_project}.iam.gserviceaccount.com"
  rollout:
    canary_percent: 10
    timeout_secs: 30
  # The worker scaled to zero and the nightly scrape's schedule paused
  # for the freeze; both put back after.
  freeze:
    - mobius-chat-worker
    - schedule: mobius-nightly-scrape
  build:
    trigger: mobius-release
    timeout_secs: 60
"#,
        ),
        (
            "release-manifests/2026-02-14-dev.yaml",
            "release_id: 2026-02-14-dev\ncommits:\n  mobius-chat: v1.5.0\nimages:\n  mobius-chat-api: gcr.io/mobiusos-new/mobius-chat-api:v1.5.0\n",
        ),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The Cloud Run side: the service before (v1.4.2 on revision 00014, read
/// by the preflight phase's VPC check and by the deploy), after (v1.5.0),
/// the canary's update and the traffic updates.
fn serve_cloud_run(server: &FixtureServer, tag_url: &str) {
    serve_release(server, tag_url, "2026-02-14-dev", "v1.5.0");
}

/// The same for release `release_id` shipping `mobius-chat-api:{version}`.
fn serve_release(server: &FixtureServer, tag_url: &str, release_id: &str, version: &str) {
    server.route(
        "POST",
        TRIGGER,
        vec![fixture(200, "build_operation_running.json")],
    );
    server.route(
        "GET",
        BUILD_OPERATION,
        vec![fixture(200, "build_operation_succeeded.json")],
    );
    let before = fixture(200, "run_service_chat_api.json");
    let after = Reply {
        status: 200,
        body: before.body.replace("v1.4.2", version),
    };
    let tag = format!("r-{release_id}");
    server.route("GET", SERVICE, vec![before.clone(), before, after]);
    let tagged = |reply: Reply| Reply {
        body: reply
            .body
            .replace("r-2026-02-14-prod", &tag)
            .replace("v1.5.0", version),
        ..reply
    };
    server.route(
        "PATCH",
        SERVICE,
        vec![
            fixture(200, "run_service_operation_running.json"),
            fixture(200, "run_service_operation_traffic.json"),
        ],
    );
    server.route(
        "GET",
        OPERATION,
        vec![tagged(fixture_filled(
            200,
            "run_service_operation_canary.json",
            &[("TAG_URL", tag_url)],
        ))],
    );
    server.route(
        "GET",
        &format!("{SERVICE}/revisions/{REVISION}"),
        vec![tagged(fixture(200, "run_revision_canary.json"))],
    );
    server.route(
        "GET",
        TRAFFIC_OPERATION,
        vec![fixture(200, "run_service_operation_traffic.json")],
    );
    serve_metrics(server, "monitoring_request_count.json");
    server.route(
        "GET",
        WORKER,
        vec![fixture(200, "run_service_chat_worker_no_vpc.json")],
    );
    server.route(
        "PATCH",
        WORKER,
        vec![fixture(200, "run_service_operation_traffic.json")],
    );
    let schedule = |state: &str| fixture_filled(200, "scheduler_job.json", &[("STATE", state)]);
    server.route("GET", SCHEDULE, vec![schedule("ENABLED")]);
    server.route(
        "POST",
        &format!("{SCHEDULE}:pause"),
        vec![schedule("PAUSED")],
    );
    server.route(
        "POST",
        &format!("{SCHEDULE}:resume"),
        vec![schedule("ENABLED")],
    );
}

const SCHEDULE: &str = "/v1/projects/mobiusos-new/locations/us-central1/jobs/mobius-nightly-scrape";

/// The worker's and the schedule's calls, in order.
fn freeze_calls(server: &FixtureServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.method != "GET" && (r.path == WORKER || r.path.starts_with(SCHEDULE)))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

const TIME_SERIES: &str = "/v3/projects/mobiusos-new/timeSeries";
const WORKER: &str = "/v2/projects/mobiusos-new/locations/us-central1/services/mobius-chat-worker";

/// The scaling each update of the worker service sent, in order.
fn worker_scaling(server: &FixtureServer) -> Vec<Value> {
    server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == WORKER)
        .map(|r| {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            v["scaling"].clone()
        })
        .collect()
}
const HOOK: &str = "/hooks/release";
/// `release run` of the 2026-02-14 manifest to `dev`.
const RUN_DEV: &[&str] = &[
    "release",
    "run",
    "--env",
    "dev",
    "--manifest",
    "release-manifests/2026-02-14-dev.yaml",
];

/// The text of each webhook message, in order.
fn messages(server: &FixtureServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.path == HOOK)
        .map(|r| {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            text(&v["text"]).to_string()
        })
        .collect()
}

/// Each watch round reads the request counts, then the latencies.
fn serve_metrics(server: &FixtureServer, counts: &str) {
    let mut replies = Vec::new();
    for _ in 0..20 {
        replies.push(fixture(200, counts));
        replies.push(fixture(200, "monitoring_request_latencies.json"));
    }
    server.route("GET", TIME_SERIES, replies);
}

fn healthy() -> Reply {
    Reply {
        status: 200,
        body: r#"{"status": "ok"}"#.into(),
    }
}

fn patches(server: &FixtureServer) -> Vec<serde_json::Value> {
    server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == SERVICE)
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

/// `release run --format json` to `dev` against `cloud`: the release record.
async fn release(root: &Path, cloud: &FixtureServer) -> Value {
    preflight(root, cloud, RUN_DEV).await
}

/// `args` with `--format json` against `cloud` (and a Pub/Sub server of
/// its own): the command's result.
async fn preflight(root: &Path, cloud: &FixtureServer, args: &[&str]) -> Value {
    let pubsub = crate::gcp::grpc::PubSubServer::start().await;
    preflight_pubsub(root, cloud, &pubsub.addr.to_string(), args).await
}

/// The same, with Pub/Sub at `pubsub` (`PUBSUB_EMULATOR_HOST`).
async fn preflight_pubsub(
    root: &Path,
    cloud: &FixtureServer,
    pubsub: &str,
    args: &[&str],
) -> Value {
    let (dir, endpoint, pubsub) = (root.to_path_buf(), cloud.url(), pubsub.to_string());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
            .current_dir(&dir)
            .args(&args)
            .args(["--format", "json"])
            .env("PATH", venv_path())
            .env("ROLLOUT_WEBHOOK", format!("{endpoint}{HOOK}"))
            .env("PUBSUB_EMULATOR_HOST", pubsub)
            .env("PREFLIGHT_GCP_ENDPOINT", endpoint)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let result = crate::json_result(&out.stdout);
    assert!(
        !result.is_null(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    result
}

fn phase<'a>(log: &'a Value, name: &str) -> &'a Value {
    log["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == name)
        .unwrap()
}

fn steps(phase: &Value) -> &[Value] {
    phase["steps"].as_array().map_or(&[], Vec::as_slice)
}

/// The first step called `name` in `phase` of `log`.
fn step<'a>(log: &'a Value, phase_name: &str, name: &str) -> &'a Value {
    steps(phase(log, phase_name))
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {phase_name}: {log:#}"))
}

/// A webhook that takes every message.
fn accepted() -> Reply {
    Reply {
        status: 200,
        body: "ok".into(),
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_is_smoked_on_its_own_url_then_promoted() {
    let cloud = FixtureServer::start().await;
    cloud.route("POST", HOOK, vec![accepted()]);
    let app = FixtureServer::start().await;
    app.route("GET", "/health", vec![healthy()]);
    serve_cloud_run(&cloud, &app.url());
    let project = tempfile::tempdir().unwrap();
    write_project(project.path());
    // 10 %, watched; 50 %, watched again; then all of it.
    let config = project.path().join("preflight.yaml");
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        yaml.replace(
            "    canary_percent: 10\n",
            "    canary_percent: 10\n    then: [50]\n",
        ),
    )
    .unwrap();
    let pubsub = crate::gcp::grpc::PubSubServer::start().await;
    let log = preflight_pubsub(project.path(), &cloud, &pubsub.addr.to_string(), RUN_DEV).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    // Pub/Sub got the same two events, with attributes to filter on.
    let published = pubsub.published();
    assert_eq!(published.len(), 2, "{published:?}");
    for (message, (event, status)) in published
        .iter()
        .zip([("start", "running"), ("end", "succeeded")])
    {
        assert_eq!(message.topic, "projects/mobiusos-new/topics/releases");
        assert_eq!(message.attributes["event"], event);
        assert_eq!(message.attributes["status"], status);
        assert_eq!(message.attributes["release_id"], "2026-02-14-dev");
        let data: Value = serde_json::from_str(&message.data).unwrap();
        assert_eq!(data["event"], event);
    }
    // The webhook heard the start and the end.
    let said = messages(&cloud);
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said[0].starts_with("Release 2026-02-14-dev to dev started"),
        "{said:?}"
    );
    assert!(
        said[1].starts_with("Release 2026-02-14-dev to dev succeeded"),
        "{said:?}"
    );
    assert_eq!(
        log["notified"],
        "start: webhook notified; start: published to projects/mobiusos-new/topics/releases (message m-1); end: webhook notified; end: published to projects/mobiusos-new/topics/releases (message m-1)"
    );
    // The build: the trigger ran with this manifest, its id and log recorded.
    let build = &steps(phase(&log, "build"))[0];
    assert_eq!(build["name"], "trigger mobius-release");
    assert!(
        text(&build["summary"]).starts_with(
            "build 6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f SUCCESS; log: https://console.cloud.google.com/cloud-build/builds/"
        ),
        "{build:#}"
    );
    let trigger: Value = serde_json::from_str(
        &cloud
            .requests()
            .iter()
            .find(|r| r.path == TRIGGER)
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(trigger["branchName"], "main");
    assert_eq!(
        trigger["substitutions"],
        serde_json::json!({"_RELEASE_MANIFEST": "release-manifests/2026-02-14-dev.yaml"})
    );
    let deploy = phase(&log, "deploy");
    assert_eq!(deploy["status"], "passed", "{deploy:#}");
    let deployed = &steps(deploy)[0];
    assert_eq!(deployed["name"], "deploy mobius-chat-api");
    assert!(
        text(&deployed["summary"]).starts_with(&format!(
            "revision {REVISION} serves 10 % under tag r-2026-02-14-dev ({})",
            app.url()
        )),
        "{deployed:#}"
    );
    // Smoke and every watch round called the canary, not the service URL.
    assert_eq!(phase(&log, "smoke")["status"], "passed", "{log:#}");
    assert!(app.hits("GET", "/health") >= 3, "{log:#}");
    let watch = phase(&log, "watch");
    assert_eq!(watch["status"], "passed", "{watch:#}");
    assert!(
        text(&watch["summary"]).ends_with("1 service(s) promoted to 100 %"),
        "{watch:#}"
    );
    let metrics = step(&log, "watch", "metrics mobius-chat-api");
    assert_eq!(
        metrics["summary"],
        format!(
            "revision {REVISION}: 1200 request(s), 5xx 0.17 % (max 1 %), p95 412 ms (max 1500 ms)"
        )
    );
    // The worker was scaled to zero for the freeze (manual scaling, 0
    // instances: mode 2 is MANUAL), then given its own scaling back (it
    // had none of its own).
    assert_eq!(
        worker_scaling(&cloud),
        vec![
            serde_json::json!({"scalingMode": 2, "manualInstanceCount": 0}),
            Value::Null
        ]
    );
    // Before anything changed, the preflight checks read what the freeze
    // would stop; the verify phase does not check Google Cloud again.
    for (name, summary) in [
        (
            "gcp.freeze.mobius-chat-worker",
            "mobius-chat-worker: ready at revision",
        ),
        (
            "gcp.freeze.mobius-nightly-scrape",
            "schedule mobius-nightly-scrape is enabled; the freeze pauses it",
        ),
        ("gcp.vpc.mobius-chat-api", "mobius-chat-api: "),
    ] {
        let found = step(&log, "preflight", name);
        assert_eq!(found["outcome"], "passed", "{found:#}");
        assert!(text(&found["summary"]).starts_with(summary), "{found:#}");
    }
    assert!(
        !steps(phase(&log, "verify"))
            .iter()
            .any(|s| text(&s["name"]).starts_with("gcp.")),
        "{log:#}"
    );
    let freeze = steps(phase(&log, "freeze"));
    assert_eq!(
        freeze[0]["summary"],
        "mobius-chat-worker at zero instances (was Cloud Run's default scaling)"
    );
    assert_eq!(freeze[1]["name"], "pause schedule mobius-nightly-scrape");
    assert_eq!(
        freeze[1]["summary"],
        "schedule mobius-nightly-scrape paused"
    );
    // Put back last first, after smoke passed.
    let unfrozen: Vec<(&str, &str)> = steps(phase(&log, "smoke"))
        .iter()
        .filter(|s| s["kind"] == "unfreeze")
        .map(|s| (text(&s["name"]), text(&s["outcome"])))
        .collect();
    assert_eq!(
        unfrozen,
        [
            ("resume schedule mobius-nightly-scrape", "passed"),
            ("unfreeze mobius-chat-worker", "passed")
        ],
        "{log:#}"
    );
    assert_eq!(
        freeze_calls(&cloud),
        [
            format!("PATCH {WORKER}"),
            format!("POST {SCHEDULE}:pause"),
            format!("POST {SCHEDULE}:resume"),
            format!("PATCH {WORKER}"),
        ]
    );
    // The playbook says how to put the traffic back and roll back.
    let playbook = log["playbook"].to_string();
    assert!(
        playbook.contains("gcloud run services update-traffic mobius-chat-api --to-revisions=mobius-chat-api-00014-xyz=100 --project=mobiusos-new --region=us-central1"),
        "{playbook}"
    );
    assert!(
        playbook.contains("preflight release rollback --config"),
        "{playbook}"
    );
    let sent = patches(&cloud);
    assert_eq!(sent.len(), 3, "the canary, 50 %, then the promotion");
    assert_eq!(
        sent[0]["template"]["containers"][0]["image"],
        "gcr.io/mobiusos-new/mobius-chat-api:v1.5.0"
    );
    assert_eq!(
        sent[0]["template"]["serviceAccount"],
        "mobius-platform-sa@mobiusos-new.iam.gserviceaccount.com"
    );
    assert_eq!(
        sent[0]["traffic"],
        serde_json::json!([
            {"type": 2, "revision": "mobius-chat-api-00014-xyz", "percent": 90},
            {"type": 1, "percent": 10, "tag": "r-2026-02-14-dev"}
        ])
    );
    assert_eq!(
        sent[1]["traffic"],
        serde_json::json!([
            {"type": 2, "revision": "mobius-chat-api-00014-xyz", "percent": 50},
            {"type": 2, "revision": REVISION, "percent": 50, "tag": "r-2026-02-14-dev"}
        ])
    );
    assert_eq!(
        sent[2]["traffic"],
        serde_json::json!([{"type": 2, "revision": REVISION, "percent": 100, "tag": "r-2026-02-14-dev"}])
    );
    // Each share had its own window: the metrics were read at 10 % and at 50 %.
    let watch = steps(phase(&log, "watch"));
    let order: Vec<&str> = watch
        .iter()
        .map(|s| text(&s["name"]))
        .filter(|n| n.starts_with("metrics") || n.starts_with("step") || n.starts_with("promote"))
        .collect();
    assert_eq!(
        order,
        [
            "metrics mobius-chat-api",
            "step mobius-chat-api up to 50 %",
            "metrics mobius-chat-api",
            "promote mobius-chat-api"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_fails_the_watch_is_rolled_back() {
    // The canary answers every probe, but Cloud Monitoring counts 120 of
    // its 1018 requests answered 5xx.
    let cloud = FixtureServer::start().await;
    let app = FixtureServer::start().await;
    app.route("GET", "/health", vec![healthy()]);
    serve_cloud_run(&cloud, &app.url());
    serve_metrics(&cloud, "monitoring_request_count_failing.json");
    // A webhook that refuses every message: one POST per event, no retry.
    cloud.route(
        "POST",
        HOOK,
        vec![Reply {
            status: 400,
            body: "invalid_payload".into(),
        }],
    );
    let project = tempfile::tempdir().unwrap();
    write_project(project.path());
    // Pub/Sub where nothing listens: each event fails after its retries.
    let log = preflight_pubsub(project.path(), &cloud, "127.0.0.1:9", RUN_DEV).await;
    assert_eq!(log["status"], "failed", "{log:#}");
    assert_eq!(log["failed_phase"], "watch");
    let said = messages(&cloud);
    assert_eq!(said.len(), 3, "start, the failed phase, the end: {said:?}");
    assert!(said[0].contains("started"), "{said:?}");
    assert!(
        said[1].starts_with("Release 2026-02-14-dev to dev FAILED at watch: ")
            && said[1].contains("rolled back"),
        "{said:?}"
    );
    assert!(
        said[2].starts_with("Release 2026-02-14-dev to dev FAILED at watch (by"),
        "{said:?}"
    );
    // The webhook refused each message once; Pub/Sub was unreachable.
    let notified = text(&log["notified"]);
    for event in ["start", "failed", "end"] {
        assert!(
            notified.contains(&format!("{event}: webhook failed (failed)")),
            "{notified}"
        );
        assert!(
            notified.contains(&format!("{event}: Pub/Sub failed")),
            "{notified}"
        );
    }
    let metrics = step(&log, "watch", "metrics mobius-chat-api");
    assert_eq!(metrics["outcome"], "failed", "{metrics:#}");
    assert_eq!(
        metrics["summary"],
        format!("revision {REVISION}: 5xx 11.79 % is above 1 %")
    );
    let watch = phase(&log, "watch");
    assert!(
        text(&watch["summary"])
            .contains("rolled back: traffic of 1 service(s) as before the deploy"),
        "{watch:#}"
    );
    let rollback = step(&log, "watch", "roll back mobius-chat-api");
    assert_eq!(rollback["outcome"], "passed", "{rollback:#}");
    // Smoke passed, so the worker was unfrozen there already.
    assert_eq!(worker_scaling(&cloud).len(), 2);
    assert!(
        !steps(watch)
            .iter()
            .any(|s| text(&s["name"]).starts_with("promote"))
    );
    assert_eq!(phase(&log, "deploy")["status"], "rolled-back", "{log:#}");
    assert!(
        text(&log["next_step"]).contains("--resume (it deploys again)"),
        "{log:#}"
    );
    let sent = patches(&cloud);
    assert_eq!(sent.len(), 2, "the canary, then the rollback");
    assert_eq!(
        sent[1]["traffic"],
        serde_json::json!([
            {"type": 2, "revision": "mobius-chat-api-00014-xyz", "percent": 100},
            {"type": 2, "revision": REVISION, "tag": "r-2026-02-14-dev"}
        ])
    );
}

/// A canary Cloud Monitoring never measured is not promoted: the rounds
/// before the last say it is not judged yet, and the last one fails, which
/// puts the traffic back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_no_request_was_measured_for_is_not_promoted() {
    let cloud = FixtureServer::start().await;
    cloud.route("POST", HOOK, vec![accepted()]);
    let app = FixtureServer::start().await;
    app.route("GET", "/health", vec![healthy()]);
    serve_cloud_run(&cloud, &app.url());
    cloud.route(
        "GET",
        TIME_SERIES,
        vec![fixture(200, "monitoring_no_data.json")],
    );
    let project = tempfile::tempdir().unwrap();
    write_project(project.path());
    let log = release(project.path(), &cloud).await;
    assert_eq!(log["status"], "failed", "{log:#}");
    assert_eq!(log["failed_phase"], "watch", "{log:#}");
    let metrics = step(&log, "watch", "metrics mobius-chat-api");
    assert_eq!(metrics["outcome"], "failed", "{metrics:#}");
    assert_eq!(
        metrics["summary"],
        format!(
            "revision {REVISION}: 0 request(s) since the watch began, fewer than the 1 needed to judge"
        )
    );
    assert_eq!(phase(&log, "deploy")["status"], "rolled-back", "{log:#}");
    let sent = patches(&cloud);
    assert_eq!(sent.len(), 2, "the canary, then the rollback");
    assert_eq!(sent[1]["traffic"][0]["percent"], 100);
}

/// The plan of a stepped rollout with a queue worker: the API gets 10 %,
/// then 50 % after a window, then all; the worker gets all of it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_plans_the_steps_and_gives_a_worker_everything_at_once() {
    let cloud = FixtureServer::start().await;
    serve_cloud_run(&cloud, "http://127.0.0.1:9");
    let project = tempfile::tempdir().unwrap();
    write_project(project.path());
    let edit = |path: &str, from: &str, to: &str| {
        let path = project.path().join(path);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "preflight.yaml",
        "images: [mobius-chat-api]",
        "images: [mobius-chat-api, mobius-chat-worker]",
    );
    edit(
        "preflight.yaml",
        "gcp:\n  services:\n",
        "gcp:\n  services:\n    mobius-chat-worker: {worker: true}\n",
    );
    edit(
        "preflight.yaml",
        "    canary_percent: 10\n",
        "    canary_percent: 10\n    then: [50]\n",
    );
    edit(
        "release-manifests/2026-02-14-dev.yaml",
        "images:\n",
        "images:\n  mobius-chat-worker: gcr.io/mobiusos-new/mobius-chat-worker:v1.5.0\n",
    );
    let mut args = RUN_DEV.to_vec();
    args.push("--dry-run");
    let log = preflight(project.path(), &cloud, &args).await;
    let plan = log.to_string();
    for line in [
        "roll out mobius-chat-api: gcr.io/mobiusos-new/mobius-chat-api:v1.5.0 as a new revision tagged r-2026-02-14-dev, 10 % of traffic until smoke and watch pass",
        "roll out mobius-chat-worker: gcr.io/mobiusos-new/mobius-chat-worker:v1.5.0 as a new revision tagged r-2026-02-14-dev, with all of the traffic",
        "move each rolled-out service's new revision to 50 % of traffic, then watch again",
        "promote each rolled-out service to 100 % of traffic",
    ] {
        assert!(plan.contains(line), "{line}\n{log:#}");
    }
    assert!(patches(&cloud).is_empty(), "a dry run changes nothing");
}

/// A schedule that does not exist stops the release in its preflight
/// checks: nothing is built, frozen or deployed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_schedule_stops_the_release_before_anything_is_frozen() {
    let cloud = FixtureServer::start().await;
    cloud.route("POST", HOOK, vec![accepted()]);
    serve_cloud_run(&cloud, "http://127.0.0.1:9");
    cloud.route(
        "GET",
        SCHEDULE,
        vec![fixture(404, "error_404_scheduler_job.json")],
    );
    let project = tempfile::tempdir().unwrap();
    write_project(project.path());
    let log = release(project.path(), &cloud).await;
    assert_eq!(log["failed_phase"], "preflight", "{log:#}");
    let readiness = step(&log, "preflight", "gcp.freeze.mobius-nightly-scrape");
    assert_eq!(
        readiness["summary"],
        "cannot read the Cloud Scheduler job projects/mobiusos-new/locations/us-central1/jobs/mobius-nightly-scrape: not found in project mobiusos-new"
    );
    assert_eq!(cloud.hits("POST", TRIGGER), 0);
    assert!(freeze_calls(&cloud).is_empty());
    assert!(patches(&cloud).is_empty());
}

/// A schedule whose state Cloud Scheduler cannot vouch for stops the
/// freeze, with the worker already at zero; the resumed run keeps what the
/// first attempt found (it does not freeze the worker again), pauses the
/// schedule, and the worker gets its own scaling back once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_freeze_resumes_without_losing_what_it_found() {
    let cloud = FixtureServer::start().await;
    cloud.route("POST", HOOK, vec![accepted()]);
    let app = FixtureServer::start().await;
    app.route("GET", "/health", vec![healthy()]);
    serve_cloud_run(&cloud, &app.url());
    let schedule = |state: &str| fixture_filled(200, "scheduler_job.json", &[("STATE", state)]);
    // Readable in the preflight checks, then in a state nobody can vouch for.
    cloud.route(
        "GET",
        SCHEDULE,
        vec![schedule("ENABLED"), schedule("UPDATE_FAILED")],
    );
    let project = tempfile::tempdir().unwrap();
    write_project(project.path());
    let log = release(project.path(), &cloud).await;
    assert_eq!(log["status"], "failed", "{log:#}");
    assert_eq!(log["failed_phase"], "freeze");
    let freeze = steps(phase(&log, "freeze"));
    assert_eq!(freeze[1]["outcome"], "failed", "{log:#}");
    assert!(
        text(&freeze[1]["summary"])
            .ends_with("its state is UPDATE_FAILED, so whether it fires is unknown"),
        "{log:#}"
    );
    // Nothing was migrated or deployed, and the worker stays frozen.
    assert!(patches(&cloud).is_empty());
    assert_eq!(freeze_calls(&cloud), [format!("PATCH {WORKER}")]);

    cloud.route("GET", SCHEDULE, vec![schedule("ENABLED")]);
    let mut args = RUN_DEV.to_vec();
    args.push("--resume");
    let log = preflight(project.path(), &cloud, &args).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    let freeze = steps(phase(&log, "freeze"));
    assert_eq!(
        freeze[0]["summary"],
        "Cloud Run service mobius-chat-worker already frozen by an earlier attempt"
    );
    assert_eq!(
        freeze_calls(&cloud),
        [
            format!("PATCH {WORKER}"),
            format!("POST {SCHEDULE}:pause"),
            format!("POST {SCHEDULE}:resume"),
            format!("PATCH {WORKER}"),
        ]
    );
    // The worker went back to the scaling the first attempt found.
    assert_eq!(worker_scaling(&cloud)[1], Value::Null);
}

/// A project whose module `mobius-chat` migrates through the Cloud Run job
/// `mobius-chat-migrate` in `dev`, on a real database, after the build,
/// and then rolls out as a canary.
fn write_job_project(root: &Path, url: &str, pinned: &str) {
    for (path, text) in [
        (
            "preflight.yaml".to_string(),
            format!(
                r#"platform: cloud
manifests: release-manifests
databases:
  app: {{}}
modules:
  mobius-chat:
    repo: mobius-chat
    database: app
    images: [mobius-chat-api]
    migrations:
      kind: sql
      dir: db
environments:
  dev:
    checkout: skip
    gcp_project: mobiusos-new
    region: us-central1
    databases:
      app: {url}
    services:
      mobius-chat-api: http://127.0.0.1:9
probes:
  - name: chat-health
    kind: http
    url: "{{services.mobius-chat-api}}/health"
release:
  watch:
    interval_secs: 1
    window_secs: 2
    metrics:
      dev: {{max_5xx_percent: 1, max_p95_latency_ms: 1500}}
gcp:
  services:
    mobius-chat-api:
      redis: true
      network: default
      service_account: "mobius-platform-sa@{{gcp_project}}.iam.gserviceaccount.com"
  rollout:
    canary_percent: 10
    timeout_secs: 30
  build:
    trigger: mobius-release
    timeout_secs: 60
  jobs:
    mobius-chat-migrate:
      image: mobius-chat-api
      module: mobius-chat
      args: [python, -m, app.migrations.run_all]
      timeout_secs: 60
"#
            ),
        ),
        (
            "release-manifests/2026-02-14-dev.yaml".to_string(),
            format!(
                "release_id: 2026-02-14-dev\ncommits:\n  mobius-chat: v1.5.0\nimages:\n  mobius-chat-api: {pinned}\nmigrations:\n  mobius-chat: [sql:db/001_init.sql]\n"
            ),
        ),
        (
            "mobius-chat/db/001_init.sql".to_string(),
            "CREATE TABLE chats (id int);\n".to_string(),
        ),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn serve_job(server: &FixtureServer) {
    server.route("GET", JOB, vec![fixture(200, "run_job_chat_migrate.json")]);
    server.route(
        "POST",
        &format!("{JOB}:run"),
        vec![fixture(200, "run_job_operation_running.json")],
    );
    // Polled with backoff (0.5 s, 1 s, 2 s…): time for the test to play the job.
    server.route(
        "GET",
        JOB_OPERATION,
        vec![
            fixture(200, "run_job_operation_running.json"),
            fixture(200, "run_job_operation_running.json"),
            fixture(200, "run_job_operation_succeeded.json"),
        ],
    );
}

fn tables(url: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-Atc", "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"])
        .env("PATH", venv_path())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_through_the_job_only_when_its_image_is_the_pin() {
    let pg = preflight_migrate::TempPostgres::start().unwrap();
    let app = FixtureServer::start().await;
    app.route("GET", "/health", vec![healthy()]);
    let cloud = FixtureServer::start().await;
    serve_cloud_run(&cloud, &app.url());
    serve_job(&cloud);

    // 1. The job runs another image than the pin: nothing runs, nothing changes.
    let url = pg.create_database("other_pin").unwrap();
    let project = tempfile::tempdir().unwrap();
    write_job_project(
        project.path(),
        &url,
        "gcr.io/mobiusos-new/mobius-chat-api:v1.6.0",
    );
    let log = release(project.path(), &cloud).await;
    assert_eq!(log["failed_phase"], "migrate", "{log:#}");
    let step = &steps(phase(&log, "migrate"))[0];
    assert!(
        text(&step["summary"]).starts_with(
            "Cloud Run job mobius-chat-migrate runs [gcr.io/mobiusos-new/mobius-chat-api:v1.5.0], not the manifest's pin gcr.io/mobiusos-new/mobius-chat-api:v1.6.0; the job was not run"
        ),
        "{step:#}"
    );
    assert_eq!(cloud.hits("POST", &format!("{JOB}:run")), 0);
    assert_eq!(tables(&url), "");
    assert!(patches(&cloud).is_empty(), "nothing was deployed");

    // A fresh Cloud for the second release, so its requests stand alone.
    let cloud = FixtureServer::start().await;
    serve_cloud_run(&cloud, &app.url());
    serve_job(&cloud);

    // 2. The pin: the job runs (the test plays it: it applies the files
    //    when the execution starts), and the ledger is read again after.
    let url = pg.create_database("pinned").unwrap();
    let project = tempfile::tempdir().unwrap();
    write_job_project(
        project.path(),
        &url,
        "gcr.io/mobiusos-new/mobius-chat-api:v1.5.0",
    );
    let job = {
        let (dir, url, hits) = (
            project.path().join("mobius-chat/db"),
            url.clone(),
            cloud.requests_handle(),
        );
        std::thread::spawn(move || {
            for _ in 0..600 {
                if hits
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|r| r.path.ends_with("mobius-chat-migrate:run"))
                {
                    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
                        .args(["migrate", "up", "--kind", "sql", "--dir"])
                        .arg(&dir)
                        .args(["--database-url", &url, "--no-backup"])
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            false
        })
    };
    let log = release(project.path(), &cloud).await;
    assert!(job.join().unwrap(), "the job never started");
    assert_eq!(log["status"], "succeeded", "{log:#}");
    let step = &steps(phase(&log, "migrate"))[0];
    assert_eq!(
        step["summary"],
        "applied 1 to app through its Cloud Run job; now at the manifest"
    );
    let evidence = step["evidence"].to_string();
    assert!(
        evidence.contains("executions/mobius-chat-migrate-k7x2p"),
        "{evidence}"
    );
    assert!(
        evidence.contains("logs: https://console.cloud.google.com/logs/viewer"),
        "{evidence}"
    );
    assert_eq!(tables(&url), "chats");
    // The execution carried the config's arguments and the release id.
    let run: Value = serde_json::from_str(
        &cloud
            .requests()
            .iter()
            .rfind(|r| r.path.ends_with(":run"))
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(
        run["overrides"]["containerOverrides"][0]["args"],
        serde_json::json!(["python", "-m", "app.migrations.run_all"])
    );
    assert_eq!(
        run["overrides"]["containerOverrides"][0]["env"],
        serde_json::json!([{"name": "RELEASE_ID", "value": "2026-02-14-dev"}])
    );
    // One dev release, end to end: the build ran before the job, and the
    // canary went out after it, was smoked on its own URL, watched and
    // promoted.
    let order: Vec<&str> = cloud
        .requests()
        .iter()
        .filter_map(|r| match (r.method.as_str(), r.path.as_str()) {
            ("POST", TRIGGER) => Some("build"),
            ("POST", p) if p == format!("{JOB}:run") => Some("job"),
            ("PATCH", SERVICE) => Some("traffic"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["build", "job", "traffic", "traffic"]);
    assert_eq!(phase(&log, "build")["status"], "passed", "{log:#}");
    let watch = phase(&log, "watch");
    assert!(
        text(&watch["summary"]).ends_with("1 service(s) promoted to 100 %"),
        "{watch:#}"
    );
    assert!(app.hits("GET", "/health") >= 2, "{log:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_redeploys_the_last_release_that_succeeded_at_once() {
    let cloud = FixtureServer::start().await;
    let app = FixtureServer::start().await;
    app.route("GET", "/health", vec![healthy()]);
    let project = tempfile::tempdir().unwrap();
    write_project(project.path());
    std::fs::write(
        project.path().join("release-manifests/2026-02-10-dev.yaml"),
        "release_id: 2026-02-10-dev\ncommits:\n  mobius-chat: v1.4.2\nimages:\n  mobius-chat-api: gcr.io/mobiusos-new/mobius-chat-api:v1.4.2\n",
    )
    .unwrap();
    // Two releases succeed: 02-10 (v1.4.2), then 02-14 (v1.5.0).
    serve_release(&cloud, &app.url(), "2026-02-10-dev", "v1.4.2");
    let first = preflight(
        project.path(),
        &cloud,
        &[
            "release",
            "run",
            "--env",
            "dev",
            "--manifest",
            "release-manifests/2026-02-10-dev.yaml",
        ],
    )
    .await;
    assert_eq!(first["status"], "succeeded", "{first:#}");
    serve_release(&cloud, &app.url(), "2026-02-14-dev", "v1.5.0");
    let second = release(project.path(), &cloud).await;
    assert_eq!(second["status"], "succeeded", "{second:#}");

    // Naming a release that never ran, or the one in place, is refused.
    for (to, why) in [
        ("2026-01-01-dev", "never ran in `dev`"),
        ("2026-02-14-dev", "is the release in place"),
    ] {
        let (dir, endpoint) = (project.path().to_path_buf(), cloud.url());
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_preflight"))
                .current_dir(&dir)
                .args(["release", "rollback", "--env", "dev", "--to", to])
                .env("PREFLIGHT_GCP_ENDPOINT", endpoint)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(why),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The rollback: 02-10's images at 100 % at once, smoked and watched.
    serve_release(&cloud, &app.url(), "2026-02-10-dev", "v1.4.2");
    let before = cloud.requests().len();
    let log = preflight(
        project.path(),
        &cloud,
        &["release", "rollback", "--env", "dev"],
    )
    .await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    assert_eq!(log["release_id"], "2026-02-10-dev");
    assert_eq!(log["rollback_of"], "2026-02-14-dev");
    assert_eq!(log["attempt"], 2, "a new attempt of 02-10");
    for skipped in ["build", "freeze", "hard-gate", "migrate"] {
        let p = phase(&log, skipped);
        assert!(
            p["status"] == "skipped" || p["carried_from"] == 1,
            "{skipped}: {p:#}"
        );
    }
    assert_eq!(phase(&log, "smoke")["status"], "passed", "{log:#}");
    let sent: Vec<Value> = cloud.requests()[before..]
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == SERVICE)
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(
        sent[0]["template"]["containers"][0]["image"],
        "gcr.io/mobiusos-new/mobius-chat-api:v1.4.2"
    );
    assert_eq!(
        sent[0]["traffic"],
        serde_json::json!([{"type": 1, "percent": 100, "tag": "r-2026-02-10-dev"}])
    );
    // No build was triggered for it.
    assert!(!cloud.requests()[before..].iter().any(|r| r.path == TRIGGER));
}
