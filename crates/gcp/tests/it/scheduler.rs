//! Schedules paused for a freeze, against a local server answering like
//! Cloud Scheduler's REST API: the calls the official client makes, a
//! schedule already paused left alone, and states that fail closed.

use preflight_gcp::{CloudScheduler, ScheduleState};

use crate::local_options;
use crate::server::{FixtureServer, Reply, fixture, fixture_filled};

const JOB: &str = "/v1/projects/mobiusos-new/locations/us-central1/jobs/mobius-nightly-scrape";

fn job(state: &str) -> Reply {
    fixture_filled(200, "scheduler_job.json", &[("STATE", state)])
}

async fn connect(server: &FixtureServer) -> CloudScheduler {
    CloudScheduler::connect(&local_options(&server.url()))
        .await
        .unwrap()
}

fn calls(server: &FixtureServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn an_enabled_schedule_is_paused_and_resumed() {
    let server = FixtureServer::start().await;
    server.route("GET", JOB, vec![job("ENABLED")]);
    server.route("POST", &format!("{JOB}:pause"), vec![job("PAUSED")]);
    server.route("POST", &format!("{JOB}:resume"), vec![job("ENABLED")]);
    let scheduler = connect(&server).await;
    let before = scheduler
        .pause("mobiusos-new", "us-central1", "mobius-nightly-scrape")
        .await
        .unwrap();
    assert_eq!(before, ScheduleState::Enabled);
    scheduler
        .restore(
            "mobiusos-new",
            "us-central1",
            "mobius-nightly-scrape",
            before,
        )
        .await
        .unwrap();
    assert_eq!(
        calls(&server),
        [
            format!("GET {JOB}"),
            format!("POST {JOB}:pause"),
            format!("POST {JOB}:resume")
        ]
    );
    // The job is named by the path; the body is the rest of
    // PauseJobRequest, which is nothing.
    let pause = &server.requests()[1];
    let body: serde_json::Value = serde_json::from_str(&pause.body).unwrap();
    assert_eq!(body, serde_json::json!({}));
}

#[tokio::test]
async fn a_schedule_already_paused_or_disabled_is_left_alone() {
    for (state, expected) in [
        ("PAUSED", ScheduleState::Paused),
        ("DISABLED", ScheduleState::Disabled),
    ] {
        let server = FixtureServer::start().await;
        server.route("GET", JOB, vec![job(state)]);
        let scheduler = connect(&server).await;
        let before = scheduler
            .pause("mobiusos-new", "us-central1", "mobius-nightly-scrape")
            .await
            .unwrap();
        assert_eq!(before, expected);
        // The unfreeze does not resume what the freeze did not pause.
        scheduler
            .restore(
                "mobiusos-new",
                "us-central1",
                "mobius-nightly-scrape",
                before,
            )
            .await
            .unwrap();
        assert_eq!(calls(&server), [format!("GET {JOB}")], "{state}");
    }
}

#[tokio::test]
async fn an_unknown_state_or_a_pause_that_did_not_take_fails() {
    let server = FixtureServer::start().await;
    server.route("GET", JOB, vec![job("UPDATE_FAILED")]);
    let scheduler = connect(&server).await;
    let e = scheduler
        .pause("mobiusos-new", "us-central1", "mobius-nightly-scrape")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "reading the schedule projects/mobiusos-new/locations/us-central1/jobs/mobius-nightly-scrape failed: its state is UPDATE_FAILED, so whether it fires is unknown"
    );
    assert_eq!(calls(&server), [format!("GET {JOB}")]);

    let server = FixtureServer::start().await;
    server.route("GET", JOB, vec![job("ENABLED")]);
    server.route("POST", &format!("{JOB}:pause"), vec![job("ENABLED")]);
    let scheduler = connect(&server).await;
    let e = scheduler
        .pause("mobiusos-new", "us-central1", "mobius-nightly-scrape")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("the job is enabled afterwards"),
        "{e}"
    );
}

#[tokio::test]
async fn a_denied_pause_names_the_permission() {
    let server = FixtureServer::start().await;
    server.route("GET", JOB, vec![job("ENABLED")]);
    server.route(
        "POST",
        &format!("{JOB}:pause"),
        vec![fixture(403, "error_403_scheduler_pause.json")],
    );
    let scheduler = connect(&server).await;
    let e = scheduler
        .pause("mobiusos-new", "us-central1", "mobius-nightly-scrape")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "permission denied to pause the Cloud Scheduler job projects/mobiusos-new/locations/us-central1/jobs/mobius-nightly-scrape in project mobiusos-new: the caller needs `cloudscheduler.jobs.pause`"
    );
}
