//! HTTP probes: one request checked against expectations, and the
//! send-then-poll smoke check (`POST /chat` → `/chat/response/{id}`).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use regex::Regex;

use preflight_manifest::error_text;

use crate::probe::{Check, Probe, ProbeContext};

/// Bodies are read up to this size; the rest is not needed to judge a probe.
const MAX_BODY: usize = 1 << 20;
/// How much of a body is kept as evidence.
const EXCERPT: usize = 300;

/// An HTTP request. Header values are treated as secrets in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    async fn send(&self, cx: &ProbeContext) -> Result<Answer, String> {
        let method = reqwest::Method::from_bytes(self.method.as_bytes())
            .map_err(|_| format!("`{}` is not an HTTP method", self.method))?;
        let mut req = cx.http.request(method, &self.url);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some(body) = &self.body {
            if !self
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                && serde_json::from_str::<serde_json::Value>(body).is_ok()
            {
                req = req.header("content-type", "application/json");
            }
            req = req.body(body.clone());
        }
        let clock = Instant::now();
        let mut resp = req
            .send()
            .await
            .map_err(|e| format!("{} {}: {}", self.method, self.url, error_text(&e)))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("reading the answer of {}: {}", self.url, error_text(&e)))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                body.extend_from_slice(&chunk[..MAX_BODY - body.len()]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            latency: clock.elapsed(),
            body: String::from_utf8_lossy(&body).into_owned(),
            truncated,
        })
    }
}

struct Answer {
    status: u16,
    latency: Duration,
    body: String,
    truncated: bool,
}

impl Answer {
    fn excerpt(&self) -> String {
        let mut text: String = self.body.chars().take(EXCERPT).collect();
        if self.body.chars().count() > EXCERPT || self.truncated {
            text.push('…');
        }
        format!("body: {}", text.replace(['\n', '\r'], " "))
    }
    fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.body).map_err(|e| format!("the answer is not JSON ({e})"))
    }
}

/// A JSON pointer and the value it must equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonEquals {
    pub pointer: String,
    pub value: serde_json::Value,
}

impl JsonEquals {
    fn holds(&self, doc: &serde_json::Value) -> bool {
        doc.pointer(&self.pointer) == Some(&self.value)
    }
    fn describe(&self, doc: &serde_json::Value) -> String {
        match doc.pointer(&self.pointer) {
            Some(found) => format!("{} is {found}, expected {}", self.pointer, self.value),
            None => format!("{} is absent, expected {}", self.pointer, self.value),
        }
    }
}

/// What a good answer looks like.
#[derive(Debug, Clone, Default)]
pub struct HttpExpect {
    /// Accepted statuses; any 2xx when empty.
    pub status: Vec<u16>,
    pub body_contains: Option<String>,
    pub body_regex: Option<Regex>,
    pub json: Vec<JsonEquals>,
    pub max_latency: Option<Duration>,
    /// A 4xx answer is final: the request itself was refused (a webhook
    /// rejecting the message), so retrying would only repeat it.
    pub final_on_4xx: bool,
}

impl HttpExpect {
    fn status_ok(&self, status: u16) -> bool {
        if self.status.is_empty() {
            (200..300).contains(&status)
        } else {
            self.status.contains(&status)
        }
    }

    fn expected_status(&self) -> String {
        if self.status.is_empty() {
            "2xx".to_string()
        } else {
            self.status
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        }
    }

    /// Every way `answer` differs from the expectation.
    fn problems(&self, answer: &Answer) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.status_ok(answer.status) {
            problems.push(format!(
                "status {}, expected {}",
                answer.status,
                self.expected_status()
            ));
        }
        if let Some(needle) = &self.body_contains
            && !answer.body.contains(needle.as_str())
        {
            problems.push(format!("body does not contain {needle:?}"));
        }
        if let Some(re) = &self.body_regex
            && !re.is_match(&answer.body)
        {
            problems.push(format!("body does not match /{re}/"));
        }
        if !self.json.is_empty() {
            match answer.json() {
                Ok(doc) => problems.extend(
                    self.json
                        .iter()
                        .filter(|c| !c.holds(&doc))
                        .map(|c| c.describe(&doc)),
                ),
                Err(e) => problems.push(e),
            }
        }
        if let Some(max) = self.max_latency
            && answer.latency > max
        {
            problems.push(format!(
                "took {} ms, more than the {} ms allowed",
                answer.latency.as_millis(),
                max.as_millis()
            ));
        }
        problems
    }
}

/// One request, checked against [`HttpExpect`].
#[derive(Debug, Clone)]
pub struct HttpProbe {
    pub request: HttpRequest,
    pub expect: HttpExpect,
}

fn header_secrets(request: &HttpRequest) -> Vec<String> {
    let mut secrets: Vec<String> = request.headers.iter().map(|(_, v)| v.clone()).collect();
    // `Bearer abc`: the token alone must go too.
    secrets.extend(
        request
            .headers
            .iter()
            .filter_map(|(_, v)| v.split_once(' ').map(|(_, t)| t.to_string())),
    );
    secrets
}

#[async_trait]
impl Probe for HttpProbe {
    fn kind(&self) -> &'static str {
        "http"
    }
    fn target(&self) -> String {
        format!("{} {}", self.request.method, self.request.url)
    }
    fn secrets(&self) -> Vec<String> {
        header_secrets(&self.request)
    }
    async fn check(&self, cx: &ProbeContext) -> Check {
        let answer = match self.request.send(cx).await {
            Ok(a) => a,
            Err(e) => return Check::error(e),
        };
        let head = format!(
            "{} {} → {} in {} ms",
            self.request.method,
            self.request.url,
            answer.status,
            answer.latency.as_millis()
        );
        let problems = self.expect.problems(&answer);
        if problems.is_empty() {
            Check::pass(format!(
                "{} in {} ms",
                answer.status,
                answer.latency.as_millis()
            ))
            .with_evidence([head])
        } else {
            let check = Check::fail(problems.join("; ")).with_evidence([head, answer.excerpt()]);
            if self.expect.final_on_4xx && (400..500).contains(&answer.status) {
                check.permanent()
            } else {
                check
            }
        }
    }
}

/// Sends `start`, captures a value from its JSON answer, then polls
/// `poll_url` (with `{captured}` replaced) until `until` holds, `fail_when`
/// holds, or the probe's timeout ends it.
#[derive(Debug, Clone)]
pub struct PollProbe {
    pub start: HttpRequest,
    /// Accepted statuses of the first request; any 2xx when empty.
    pub start_status: Vec<u16>,
    /// JSON pointer of the value to capture, e.g. `/id`.
    pub capture: String,
    pub poll_url: String,
    /// Headers sent with each poll (usually the same as `start`'s).
    pub poll_headers: Vec<(String, String)>,
    pub until: Vec<JsonEquals>,
    pub fail_when: Vec<JsonEquals>,
    pub interval: Duration,
    /// Give up polling after this long and report the last answer. Keep it
    /// under the probe's timeout, or the timeout ends the probe first and the
    /// last answer is lost.
    pub deadline: Duration,
}

#[async_trait]
impl Probe for PollProbe {
    fn kind(&self) -> &'static str {
        "poll"
    }
    fn target(&self) -> String {
        format!(
            "{} {} then {}",
            self.start.method, self.start.url, self.poll_url
        )
    }
    fn secrets(&self) -> Vec<String> {
        header_secrets(&self.start)
    }
    async fn check(&self, cx: &ProbeContext) -> Check {
        let first = match self.start.send(cx).await {
            Ok(a) => a,
            Err(e) => return Check::error(e),
        };
        let start_expect = HttpExpect {
            status: self.start_status.clone(),
            ..HttpExpect::default()
        };
        let head = format!(
            "{} {} → {} in {} ms",
            self.start.method,
            self.start.url,
            first.status,
            first.latency.as_millis()
        );
        let problems = start_expect.problems(&first);
        if !problems.is_empty() {
            return Check::fail(problems.join("; ")).with_evidence([head, first.excerpt()]);
        }
        let captured = match first.json().map(|doc| doc.pointer(&self.capture).cloned()) {
            Ok(Some(serde_json::Value::String(s))) => s,
            Ok(Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)))) => {
                v.to_string()
            }
            Ok(_) => {
                return Check::fail(format!("the first answer has no value at {}", self.capture))
                    .with_evidence([head, first.excerpt()]);
            }
            Err(e) => return Check::fail(e).with_evidence([head, first.excerpt()]),
        };
        let url = self.poll_url.replace("{captured}", &captured);
        let poll = HttpRequest {
            method: "GET".into(),
            url: url.clone(),
            headers: self.poll_headers.clone(),
            body: None,
        };
        let mut polls = 0u32;
        let clock = Instant::now();
        let mut last;
        loop {
            polls += 1;
            let evidence = |answer: &Answer| {
                vec![
                    head.clone(),
                    format!("captured {} = {captured}", self.capture),
                    format!("poll {polls}: GET {url} → {}", answer.status),
                    answer.excerpt(),
                ]
            };
            match poll.send(cx).await {
                Ok(answer) if (200..300).contains(&answer.status) => {
                    if let Ok(doc) = answer.json() {
                        if self.until.iter().all(|c| c.holds(&doc)) {
                            return Check::pass(format!("ready after {polls} poll(s)"))
                                .with_evidence(evidence(&answer));
                        }
                        if let Some(c) = self.fail_when.iter().find(|c| c.holds(&doc)) {
                            return Check::fail(format!(
                                "{} is {} after {polls} poll(s)",
                                c.pointer, c.value
                            ))
                            .with_evidence(evidence(&answer));
                        }
                    }
                    last = format!("{} {}", answer.status, answer.excerpt());
                }
                // Not ready yet (404 until the result exists, 5xx while
                // starting): keep polling until the deadline.
                Ok(answer) => last = format!("{} {}", answer.status, answer.excerpt()),
                Err(e) => last = e,
            }
            if clock.elapsed() + self.interval >= self.deadline {
                return Check::fail(format!(
                    "not ready after {polls} poll(s) in {} ms",
                    clock.elapsed().as_millis()
                ))
                .with_evidence([
                    head,
                    format!("captured {} = {captured}", self.capture),
                    format!("last poll: GET {url} → {last}"),
                ]);
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}
