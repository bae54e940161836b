//! Report formats, and redaction of planted secrets from every one of them.

use preflight_verify::{
    CommandProbe, HttpExpect, HttpProbe, HttpRequest, ProbeSpec, Runner, Severity,
};

use crate::server::TestServer;
use crate::{plain_table, stable};

const TOKEN: &str = "tok_live_8c1f2e9d7b";
const DB_PASSWORD: &str = "pw-9d8c7b6a";

#[tokio::test]
async fn planted_secrets_never_appear_in_any_format() {
    let server = TestServer::start().await;
    let echo = HttpProbe {
        request: HttpRequest {
            method: "GET".into(),
            url: server.url("/echo"),
            headers: vec![("Authorization".into(), format!("Bearer {TOKEN}"))],
            body: None,
        },
        expect: HttpExpect::default(),
    };
    // A command that prints a connection string and a token, as a failing
    // migration tool or test suite might.
    let leaky = CommandProbe::new([
        "sh",
        "-c",
        &format!(
            "echo connecting to postgres://app:{DB_PASSWORD}@db.internal:5432/mobius; \
             echo PGPASSWORD={DB_PASSWORD}; echo 'Authorization: Bearer {TOKEN}'; exit 1"
        ),
    ]);
    let url_in_target = HttpProbe {
        request: HttpRequest::get(format!("http://ops:{DB_PASSWORD}@{}/health", server.addr)),
        expect: HttpExpect::default(),
    };
    let report = Runner::new(3)
        .unwrap()
        .run(vec![
            ProbeSpec::new("echo", echo),
            ProbeSpec::new("leaky", leaky).severity(Severity::Soft),
            ProbeSpec::new("userinfo", url_in_target),
        ])
        .await;
    let outputs = [
        plain_table(&report),
        report.to_markdown(),
        report.to_json(),
        report.to_junit("verify"),
        format!("{report:?}"),
    ];
    for (i, out) in outputs.iter().enumerate() {
        for secret in [TOKEN, DB_PASSWORD] {
            assert!(!out.contains(secret), "format {i} leaks {secret}:\n{out}");
        }
    }
    // The evidence is still there, with the secret masked.
    assert!(
        report.results[0]
            .evidence
            .iter()
            .any(|e| e.contains("unauthorized: got ***")),
        "{:?}",
        report.results[0].evidence
    );
    assert!(
        report.results[1]
            .evidence
            .iter()
            .any(|e| e.contains("postgres://app:***@db.internal"))
    );
}

#[tokio::test]
async fn json_and_junit_formats() {
    let server = TestServer::start().await;
    let probes = vec![
        ProbeSpec::new(
            "health",
            HttpProbe {
                request: HttpRequest::get(server.url("/health")),
                expect: HttpExpect::default(),
            },
        ),
        ProbeSpec::new(
            "server-error",
            HttpProbe {
                request: HttpRequest::get(server.url("/fail")),
                expect: HttpExpect::default(),
            },
        )
        .severity(Severity::Soft),
        ProbeSpec::new(
            "lint <src>",
            CommandProbe::new(["sh", "-c", "echo 'E501 line too long & \"quoted\"'; exit 1"]),
        ),
    ];
    let report = Runner::new(3).unwrap().run(probes).await;
    insta::assert_snapshot!("junit", stable(&report.to_junit("verify dev")));
    insta::assert_snapshot!("json", stable(&report.to_json()));
    assert_eq!(
        stable(&report.summary_line()),
        "1 passed, 1 failed, 1 soft failure in [time]"
    );
}
