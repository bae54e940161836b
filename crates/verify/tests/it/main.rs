//! Integration tests of preflight-verify against real local HTTP servers and
//! real PostgreSQL clusters started by the tests.

mod contract;
mod files;
mod http;
mod reports;
mod server;

use std::time::Duration;

use preflight_verify::{Report, RetryPolicy};

/// Report text with times (which vary) replaced.
pub fn stable(text: &str) -> String {
    let ms = regex::Regex::new(r"\b\d+(\.\d+)? (ms|s)\b").unwrap();
    let secs = regex::Regex::new(r#"(time|duration_ms)(=|": ?)"?[0-9.]+"?"#).unwrap();
    let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\dT[0-9:.]+(Z|\+00:00)").unwrap();
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    // How many polls fit in a deadline depends on the machine's load.
    let polls = regex::Regex::new(r"not ready after \d+ poll").unwrap();
    let text = polls.replace_all(text, "not ready after [n] poll");
    let text = ms.replace_all(&text, "[time]");
    let text = secs.replace_all(&text, "$1$2[time]");
    let text = stamp.replace_all(&text, "[timestamp]");
    port.replace_all(&text, "127.0.0.1:[port]").into_owned()
}

pub fn plain_table(report: &Report) -> String {
    report.to_table(&|_, s| s.to_string())
}

pub fn quick_retries(n: u32) -> RetryPolicy {
    RetryPolicy {
        attempts: n + 1,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    }
}
