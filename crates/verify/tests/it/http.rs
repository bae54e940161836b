use std::time::Duration;

use preflight_verify::{
    HttpExpect, HttpProbe, HttpRequest, JsonEquals, Outcome, PollProbe, ProbeSpec, Runner, Severity,
};
use serde_json::json;

use crate::server::TestServer;
use crate::{plain_table, quick_retries, stable};

fn get(server: &TestServer, path: &str) -> HttpProbe {
    HttpProbe {
        request: HttpRequest::get(server.url(path)),
        expect: HttpExpect::default(),
    }
}

fn chat_poll(server: &TestServer, reply: &str) -> PollProbe {
    PollProbe {
        start: HttpRequest {
            method: "POST".into(),
            url: server.url("/chat"),
            headers: vec![],
            body: Some(r#"{"message":"What is 6 x 7?"}"#.into()),
        },
        start_status: vec![202],
        capture: "/id".into(),
        poll_url: server.url(reply),
        poll_headers: vec![],
        until: vec![JsonEquals {
            pointer: "/status".into(),
            value: json!("completed"),
        }],
        fail_when: vec![JsonEquals {
            pointer: "/status".into(),
            value: json!("failed"),
        }],
        interval: Duration::from_millis(20),
        deadline: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn healthy_slow_failing_hanging_and_refused_endpoints() {
    let server = TestServer::start().await;
    let mut health = get(&server, "/health");
    health.expect.json = vec![JsonEquals {
        pointer: "/status".into(),
        value: json!("ok"),
    }];
    health.expect.body_regex = Some(regex::Regex::new(r#""version":"1\.\d+\.\d+""#).unwrap());
    let mut slow = get(&server, "/slow");
    slow.expect.max_latency = Some(Duration::from_millis(50));
    let mut wrong_json = get(&server, "/health");
    wrong_json.expect.json = vec![JsonEquals {
        pointer: "/version".into(),
        value: json!("2.0.0"),
    }];
    // A port nothing listens on: bind, read the port, close.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = HttpProbe {
        request: HttpRequest::get(format!("http://{closed}/health")),
        expect: HttpExpect::default(),
    };
    let probes = vec![
        ProbeSpec::new("health", health),
        ProbeSpec::new("slow-latency", slow),
        ProbeSpec::new("server-error", get(&server, "/fail")),
        ProbeSpec::new("hung", get(&server, "/hang")).timeout(Duration::from_millis(300)),
        ProbeSpec::new("wrong-version", wrong_json).severity(Severity::Soft),
        ProbeSpec::new("refused", refused),
    ];
    let report = Runner::new(8).unwrap().run(probes).await;
    let outcomes: Vec<(&str, Outcome)> = report
        .results
        .iter()
        .map(|r| (r.name.as_str(), r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("health", Outcome::Passed),
            ("slow-latency", Outcome::Failed),
            ("server-error", Outcome::Failed),
            ("hung", Outcome::TimedOut),
            ("wrong-version", Outcome::Failed),
            ("refused", Outcome::Errored),
        ]
    );
    assert!(!report.gate_passed());
    let refused_summary = &report.results[5].summary;
    assert!(refused_summary.contains("GET http://"), "{refused_summary}");
    // Durations and the OS's wording of "connection refused" vary.
    let mut report = report;
    for r in &mut report.results {
        r.duration = Duration::ZERO;
    }
    report.results[5].summary = "GET … (connection refused)".into();
    report.duration = Duration::ZERO;
    insta::assert_snapshot!(stable(&plain_table(&report)));
}

/// A 4xx is final where the probe says so (a webhook refusing a message):
/// one attempt, whatever the retry budget; a 5xx is still retried.
#[tokio::test]
async fn a_4xx_is_not_retried_where_it_is_final() {
    let server = TestServer::start().await;
    let mut refused = get(&server, "/refuse");
    refused.expect.final_on_4xx = true;
    let mut failing = get(&server, "/fail");
    failing.expect.final_on_4xx = true;
    let report = Runner::new(2)
        .unwrap()
        .run(vec![
            ProbeSpec::new("refused", refused).retry(quick_retries(3)),
            ProbeSpec::new("failing", failing).retry(quick_retries(3)),
        ])
        .await;
    assert_eq!(report.results[0].outcome, Outcome::Failed);
    assert_eq!(report.results[0].attempts, 1);
    assert_eq!(server.hits("/refuse"), 1);
    assert_eq!(report.results[1].attempts, 4);
    assert_eq!(server.hits("/fail"), 4);
}

#[tokio::test]
async fn retries_only_where_configured() {
    let server = TestServer::start().await;
    let report = Runner::new(2)
        .unwrap()
        .run(vec![ProbeSpec::new("flaky", get(&server, "/flaky"))])
        .await;
    assert_eq!(report.results[0].outcome, Outcome::Failed);
    assert_eq!(report.results[0].attempts, 1);

    let server = TestServer::start().await;
    let report = Runner::new(2)
        .unwrap()
        .run(vec![
            ProbeSpec::new("flaky", get(&server, "/flaky")).retry(quick_retries(3)),
        ])
        .await;
    assert_eq!(report.results[0].outcome, Outcome::Passed, "{report:?}");
    assert_eq!(report.results[0].attempts, 3);
    assert_eq!(server.hits("/flaky"), 3);

    // Retries stop at the probe's budget.
    let server = TestServer::start().await;
    let report = Runner::new(2)
        .unwrap()
        .run(vec![
            ProbeSpec::new("hung", get(&server, "/hang"))
                .retry(quick_retries(5))
                .timeout(Duration::from_millis(200)),
        ])
        .await;
    assert_eq!(report.results[0].outcome, Outcome::TimedOut);
    assert_eq!(server.hits("/hang"), 1);
}

#[tokio::test]
async fn poll_until_ready_fails_on_failure_state_and_on_deadline() {
    let server = TestServer::start().await;
    let mut never = chat_poll(&server, "/chat/response/unknown");
    never.deadline = Duration::from_millis(150);
    let mut bad_start = chat_poll(&server, "/chat/response/{captured}");
    bad_start.start.body = Some("{}".into());
    let report = Runner::new(4)
        .unwrap()
        .run(vec![
            ProbeSpec::new(
                "chat-smoke",
                chat_poll(&server, "/chat/response/{captured}"),
            ),
            ProbeSpec::new("chat-failed", chat_poll(&server, "/chat/response/failed")),
            ProbeSpec::new("chat-never-ready", never),
            ProbeSpec::new("chat-bad-request", bad_start),
        ])
        .await;
    let r = &report.results;
    assert_eq!(r[0].outcome, Outcome::Passed, "{:?}", r[0]);
    assert_eq!(r[0].summary, "ready after 3 poll(s)");
    assert_eq!(server.hits("/chat/response/abc123"), 3);
    assert_eq!(r[1].outcome, Outcome::Failed);
    assert_eq!(r[1].summary, "/status is \"failed\" after 1 poll(s)");
    assert_eq!(r[2].outcome, Outcome::Failed);
    assert!(
        r[2].summary.starts_with("not ready after"),
        "{}",
        r[2].summary
    );
    assert!(
        r[2].evidence.iter().any(|e| e.contains("→ 404")),
        "{:?}",
        r[2].evidence
    );
    assert_eq!(r[3].outcome, Outcome::Failed);
    assert_eq!(r[3].summary, "status 400, expected 202");
    insta::assert_snapshot!(stable(&report.to_markdown()));
}

#[tokio::test]
async fn bounded_concurrency_runs_everything() {
    let server = TestServer::start().await;
    let probes = (0..40)
        .map(|i| ProbeSpec::new(format!("slow-{i}"), get(&server, "/slow")))
        .collect();
    let report = Runner::new(10).unwrap().run(probes).await;
    assert_eq!(report.results.len(), 40);
    assert!(report.results.iter().all(|r| r.outcome == Outcome::Passed));
    assert_eq!(report.tally().passed, 40);
}

#[tokio::test]
async fn cancellation_reports_what_ran() {
    let server = TestServer::start().await;
    let probes = vec![
        ProbeSpec::new("health", get(&server, "/health")),
        ProbeSpec::new("hung-1", get(&server, "/hang")),
        ProbeSpec::new("hung-2", get(&server, "/hang")),
        ProbeSpec::new("queued", get(&server, "/health")),
    ];
    // Concurrency 2: `queued` waits behind the hung probes and never starts.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut seen = Vec::new();
    let runner = Runner::new(2).unwrap();
    let run = runner.run_until(
        probes,
        async move {
            let _ = rx.await;
        },
        |r| seen.push(r.name.clone()),
    );
    let cancel = async move {
        while server.hits("/hang") < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tx.send(()).unwrap();
    };
    let (report, ()) = tokio::join!(run, cancel);
    assert!(report.interrupted);
    assert!(!report.gate_passed());
    let outcomes: Vec<Outcome> = report.results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Passed,
            Outcome::Cancelled,
            Outcome::Cancelled,
            Outcome::Cancelled
        ]
    );
    assert_eq!(seen, ["health"]);
    assert!(report.summary_line().ends_with("(interrupted)"));
}
