//! Canary rollouts against a local server answering like the Cloud Run
//! Admin API: the update's request shape, the tagged revision read back,
//! promotion and rollback, and an update Cloud Run could not serve.

use std::time::Duration;

use preflight_gcp::{CloudRun, Rollout, TrafficShare, describe_traffic};

use crate::local_options;
use crate::server::{FixtureServer, fixture, fixture_filled};

const SERVICE: &str = "projects/mobiusos-new/locations/us-central1/services/mobius-chat-api";
const OPERATION: &str = "/v2/projects/mobiusos-new/locations/us-central1/operations/7c1e9a2b-3d4f-4a5b-9c6d-1e2f3a4b5c6d";
const TRAFFIC_OPERATION: &str = "/v2/projects/mobiusos-new/locations/us-central1/operations/8d2f0b3c-4e5a-4b6c-8d7e-2f3a4b5c6d7e";
const TAG_URL: &str = "https://r-2026-02-14-prod---mobius-chat-api-abcdefghij-uc.a.run.app";

fn rollout() -> Rollout {
    Rollout {
        project: "mobiusos-new".into(),
        region: "us-central1".into(),
        service: "mobius-chat-api".into(),
        image: "gcr.io/mobiusos-new/mobius-chat-api:v1.5.0".into(),
        tag: "r-2026-02-14-prod".into(),
        percent: 10,
        service_account: Some("mobius-platform-sa@mobiusos-new.iam.gserviceaccount.com".into()),
        network: Some(("default".into(), "default".into())),
        needs_vpc: true,
        deadline: Duration::from_secs(30),
    }
}

fn serve_canary(server: &FixtureServer) {
    let path = format!("/v2/{SERVICE}");
    server.route(
        "GET",
        &path,
        vec![fixture(200, "run_service_chat_api.json")],
    );
    server.route(
        "PATCH",
        &path,
        vec![
            fixture(200, "run_service_operation_running.json"),
            fixture(200, "run_service_operation_traffic.json"),
        ],
    );
    server.route(
        "GET",
        OPERATION,
        vec![
            fixture(200, "run_service_operation_running.json"),
            fixture_filled(
                200,
                "run_service_operation_canary.json",
                &[("TAG_URL", TAG_URL)],
            ),
        ],
    );
    server.route(
        "GET",
        &format!("/v2/{SERVICE}/revisions/mobius-chat-api-00015-qmz"),
        vec![fixture(200, "run_revision_canary.json")],
    );
    server.route(
        "GET",
        TRAFFIC_OPERATION,
        vec![fixture(200, "run_service_operation_traffic.json")],
    );
}

fn patches(server: &FixtureServer) -> Vec<serde_json::Value> {
    server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_canary_gets_its_share_under_its_tag_and_is_promoted_or_rolled_back() {
    let server = FixtureServer::start().await;
    serve_canary(&server);
    let run = CloudRun::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let canary = run.deploy_canary(&rollout()).await.unwrap();
    assert_eq!(canary.problems, Vec::<String>::new());
    assert_eq!(canary.revision, "mobius-chat-api-00015-qmz");
    assert_eq!(canary.url, TAG_URL);
    assert_eq!(canary.percent, 10);
    assert_eq!(
        describe_traffic(&canary.previous),
        "mobius-chat-api-00014-xyz 100 %"
    );
    assert_eq!(canary.vpc, "network default/default, private-ranges-only");

    // The update: the new image in the template, Direct VPC egress and the
    // service account set, no fixed revision name, the etag read kept, and
    // 90 % left where it was while the latest revision gets 10 % and the tag.
    let sent = patches(&server);
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    assert_eq!(body["name"], SERVICE);
    assert_eq!(body["etag"], "\"CJDy4sQGEIDj4sI/cHJvamVjdHMvbW9iaXVz\"");
    assert_eq!(
        body["template"]["containers"][0]["image"],
        "gcr.io/mobiusos-new/mobius-chat-api:v1.5.0"
    );
    assert_eq!(body["template"].get("revision"), None);
    assert_eq!(
        body["template"]["serviceAccount"],
        "mobius-platform-sa@mobiusos-new.iam.gserviceaccount.com"
    );
    // The official client sends enums by number: egress 2 is
    // PRIVATE_RANGES_ONLY, traffic type 1 LATEST and 2 REVISION.
    assert_eq!(
        body["template"]["vpcAccess"],
        serde_json::json!({
            "networkInterfaces": [{"network": "default", "subnetwork": "default"}],
            "egress": 2
        })
    );
    assert_eq!(
        body["traffic"],
        serde_json::json!([
            {"type": 2, "revision": "mobius-chat-api-00014-xyz", "percent": 90},
            {"type": 1, "percent": 10, "tag": "r-2026-02-14-prod"}
        ])
    );
    assert_eq!(body.get("trafficStatuses"), None);

    // Promotion pins everything to the new revision by name.
    run.set_traffic(SERVICE, &canary.promoted(), Duration::from_secs(30))
        .await
        .unwrap();
    // Rollback: the traffic as it was, the canary kept at 0 % under its tag.
    run.set_traffic(SERVICE, &canary.rolled_back(), Duration::from_secs(30))
        .await
        .unwrap();
    let sent = patches(&server);
    assert_eq!(
        sent[1]["traffic"],
        serde_json::json!([
            {"type": 2, "revision": "mobius-chat-api-00015-qmz", "percent": 100, "tag": "r-2026-02-14-prod"}
        ])
    );
    assert_eq!(
        sent[2]["traffic"],
        serde_json::json!([
            {"type": 2, "revision": "mobius-chat-api-00014-xyz", "percent": 100},
            {"type": 2, "revision": "mobius-chat-api-00015-qmz", "tag": "r-2026-02-14-prod"}
        ])
    );
    // A split that does not add up is refused before any call.
    let before = server.requests().len();
    let bad = [TrafficShare {
        revision: "x".into(),
        percent: 50,
        tag: String::new(),
    }];
    assert!(
        run.set_traffic(SERVICE, &bad, Duration::from_secs(1))
            .await
            .is_err()
    );
    assert_eq!(server.requests().len(), before);
}

#[tokio::test]
async fn a_revision_that_differs_from_the_pin_is_a_problem() {
    let server = FixtureServer::start().await;
    serve_canary(&server);
    let run = CloudRun::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let mut other = rollout();
    other.image = "gcr.io/mobiusos-new/mobius-chat-api:v1.6.0".into();
    other.service_account = Some("someone-else@mobiusos-new.iam.gserviceaccount.com".into());
    let canary = run.deploy_canary(&other).await.unwrap();
    insta::assert_snapshot!(canary.problems.join("\n"), @r"
    revision mobius-chat-api-00015-qmz runs [gcr.io/mobiusos-new/mobius-chat-api:v1.5.0], not the pinned gcr.io/mobiusos-new/mobius-chat-api:v1.6.0
    revision mobius-chat-api-00015-qmz runs as `mobius-platform-sa@mobiusos-new.iam.gserviceaccount.com`, not `someone-else@mobiusos-new.iam.gserviceaccount.com`
    ");
}

#[tokio::test]
async fn an_update_cloud_run_cannot_serve_fails_with_its_reason() {
    let server = FixtureServer::start().await;
    serve_canary(&server);
    server.route(
        "GET",
        OPERATION,
        vec![fixture(200, "run_service_operation_failed.json")],
    );
    let run = CloudRun::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let err = run.deploy_canary(&rollout()).await.unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"the canary of projects/mobiusos-new/locations/us-central1/services/mobius-chat-api failed: Revision 'mobius-chat-api-00015-qmz' is not ready and cannot serve traffic. The user-provided container failed to start and listen on the port defined provided by the PORT=8080 environment variable within the allocated timeout.");
}

#[tokio::test]
async fn a_revisions_metrics_are_read_by_response_class_and_percentile() {
    use preflight_gcp::CloudMonitoring;
    let server = FixtureServer::start().await;
    let path = "/v3/projects/mobiusos-new/timeSeries";
    server.route(
        "GET",
        path,
        vec![
            fixture(200, "monitoring_request_count.json"),
            fixture(200, "monitoring_request_latencies.json"),
        ],
    );
    let monitoring = CloudMonitoring::connect(&local_options(&server.url()))
        .await
        .unwrap();
    let m = monitoring
        .revision_metrics(
            "mobiusos-new",
            "mobius-chat-api",
            "mobius-chat-api-00015-qmz",
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    assert_eq!(m.requests, 1200);
    assert_eq!(m.errors_5xx, 2);
    assert_eq!(m.p95_latency_ms, Some(412.5));
    // The queries: the revision's own series, summed by response class,
    // then the 95th percentile of latency, over the last five minutes.
    let queries: Vec<String> = server
        .requests()
        .iter()
        .map(|r| percent_decode(&r.query))
        .collect();
    assert_eq!(queries.len(), 2);
    for (query, metric) in queries.iter().zip([
        "run.googleapis.com/request_count",
        "run.googleapis.com/request_latencies",
    ]) {
        assert!(
            query.contains(&format!("filter=metric.type = \"{metric}\" AND resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"mobius-chat-api\" AND resource.labels.revision_name = \"mobius-chat-api-00015-qmz\"")),
            "{query}"
        );
        assert!(
            query.contains("aggregation.alignmentPeriod=300s"),
            "{query}"
        );
        assert!(query.contains("interval.startTime="), "{query}");
    }
    // Enums go by number (`enum-encoding=int`): ALIGN_SUM is 14,
    // REDUCE_SUM 4, ALIGN_PERCENTILE_95 19, REDUCE_MAX 3.
    assert!(
        queries[0].contains("aggregation.perSeriesAligner=14&"),
        "{}",
        queries[0]
    );
    assert!(
        queries[0].contains("aggregation.crossSeriesReducer=4&"),
        "{}",
        queries[0]
    );
    assert!(
        queries[0].contains("aggregation.groupByFields=metric.labels.response_code_class"),
        "{}",
        queries[0]
    );
    assert!(
        queries[1].contains("aggregation.perSeriesAligner=19&")
            && queries[1].contains("aggregation.crossSeriesReducer=3&"),
        "{}",
        queries[1]
    );
    // A name that would change the filter is refused before any call.
    assert!(
        monitoring
            .revision_metrics("mobiusos-new", "x\" OR \"1", "r", Duration::from_secs(60))
            .await
            .is_err()
    );
    assert_eq!(server.requests().len(), 2);
}

fn percent_decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn release_events_are_published_to_pub_sub_with_their_attributes() {
    use preflight_gcp::PubSubNotifier;
    let server = crate::grpc::PubSubServer::start().await;
    let notifier = PubSubNotifier::connect(
        &local_options(&server.url()),
        "projects/mobiusos-new/topics/releases",
    )
    .await
    .unwrap();
    let attributes = std::collections::BTreeMap::from([
        ("event".to_string(), "end".to_string()),
        ("release_id".to_string(), "2026-02-14-prod".to_string()),
    ]);
    let id = notifier
        .publish(r#"{"status":"succeeded"}"#, &attributes)
        .await
        .unwrap();
    assert_eq!(id, "m-1");
    assert_eq!(server.paths(), ["/google.pubsub.v1.Publisher/Publish"]);
    assert_eq!(
        server.published(),
        [crate::grpc::Published {
            topic: "projects/mobiusos-new/topics/releases".into(),
            data: r#"{"status":"succeeded"}"#.into(),
            attributes,
        }]
    );
    // A topic that is not one is refused before any call.
    assert!(
        PubSubNotifier::connect(&local_options(&server.url()), "releases")
            .await
            .is_err()
    );
}
