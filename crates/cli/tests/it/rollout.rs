//! A cloud release against a local server answering like the Cloud Run
//! Admin API (the gcp crate's REST fixtures): the deploy rolls the service
//! out as a 10 % canary under the release's tag, smoke and watch call the
//! tagged revision on its own loopback URL, and the end of the watch
//! promotes it; when the watch fails, the traffic goes back.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::gcp::server::{FixtureServer, Reply, fixture, fixture_filled};
use crate::migrate::venv_path;

const SERVICE: &str = "/v2/projects/mobiusos-new/locations/us-central1/services/mobius-chat-api";
const OPERATION: &str =
    "/v2/projects/mobiusos-new/locations/us-central1/operations/7c1e9a2b-3d4f-4a5b-9c6d-1e2f3a4b5c6d";
const TRAFFIC_OPERATION: &str =
    "/v2/projects/mobiusos-new/locations/us-central1/operations/8d2f0b3c-4e5a-4b6c-8d7e-2f3a4b5c6d7e";
const REVISION: &str = "mobius-chat-api-00015-qmz";

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
/// by the verify phase's VPC check and by the deploy), after (v1.5.0),
/// the canary's update and the traffic updates.
fn serve_cloud_run(server: &FixtureServer, tag_url: &str) {
    let before = fixture(200, "run_service_chat_api.json");
    let after = Reply {
        status: 200,
        body: before.body.replace("v1.4.2", "v1.5.0"),
    };
    server.route("GET", SERVICE, vec![before.clone(), before, after]);
    let tagged = |reply: Reply| Reply {
        body: reply.body.replace("r-2026-02-14-prod", "r-2026-02-14-dev"),
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
        vec![fixture(200, "run_revision_canary.json")],
    );
    server.route(
        "GET",
        TRAFFIC_OPERATION,
        vec![fixture(200, "run_service_operation_traffic.json")],
    );
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
        .filter(|r| r.method == "PATCH")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

/// `release run --format json` to `dev` against `cloud`: the release record.
async fn release(root: &Path, cloud: &FixtureServer) -> Value {
    let (dir, endpoint) = (root.to_path_buf(), cloud.url());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
            .current_dir(&dir)
            .args([
                "release",
                "run",
                "--env",
                "dev",
                "--manifest",
                "release-manifests/2026-02-14-dev.yaml",
                "--format",
                "json",
            ])
            .env("PATH", venv_path())
            .env("PREFLIGHT_GCP_ENDPOINT", endpoint)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    crate::json_result(&out.stdout)
}

fn phase<'a>(log: &'a Value, name: &str) -> &'a Value {
    log["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == name)
        .unwrap()
}

fn steps<'a>(phase: &'a Value) -> &'a [Value] {
    phase["steps"].as_array().map_or(&[], Vec::as_slice)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_is_smoked_on_its_own_url_then_promoted() {
    let cloud = FixtureServer::start().await;
    let app = FixtureServer::start().await;
    app.route("GET", "/health", vec![healthy()]);
    serve_cloud_run(&cloud, &app.url());
    let project = tempfile::tempdir().unwrap();
    write_project(project.path());
    let log = release(project.path(), &cloud).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    let deploy = phase(&log, "deploy");
    assert_eq!(deploy["status"], "passed", "{deploy:#}");
    let step = &steps(deploy)[0];
    assert_eq!(step["name"], "deploy mobius-chat-api");
    assert!(
        text(&step["summary"]).starts_with(&format!(
            "revision {REVISION} serves 10 % under tag r-2026-02-14-dev ({})",
            app.url()
        )),
        "{step:#}"
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
    let sent = patches(&cloud);
    assert_eq!(sent.len(), 2, "the canary, then the promotion");
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
        serde_json::json!([{"type": 2, "revision": REVISION, "percent": 100, "tag": "r-2026-02-14-dev"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_fails_the_watch_is_rolled_back() {
    // The canary answers smoke, then fails a watch round.
    let cloud = FixtureServer::start().await;
    let app = FixtureServer::start().await;
    app.route(
        "GET",
        "/health",
        vec![
            healthy(),
            Reply {
                status: 500,
                body: r#"{"status": "error"}"#.into(),
            },
        ],
    );
    serve_cloud_run(&cloud, &app.url());
    let project = tempfile::tempdir().unwrap();
    write_project(project.path());
    let log = release(project.path(), &cloud).await;
    assert_eq!(log["status"], "failed", "{log:#}");
    assert_eq!(log["failed_phase"], "watch");
    let watch = phase(&log, "watch");
    assert!(
        text(&watch["summary"]).contains("rolled back: traffic of 1 service(s) as before the deploy"),
        "{watch:#}"
    );
    let rollback = steps(watch)
        .iter()
        .find(|s| s["name"] == "roll back mobius-chat-api")
        .expect("a rollback step");
    assert_eq!(rollback["outcome"], "passed", "{rollback:#}");
    assert!(!steps(watch).iter().any(|s| text(&s["name"]).starts_with("promote")));
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
