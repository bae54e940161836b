//! Waiting for long-running operations: our own loop over the SDK's
//! poller, so every wait has a deadline, backs off, survives 429/503 while
//! polling, and reports what it last saw.

use std::time::{Duration, Instant};

use google_cloud_lro::{Poller, PollingResult};

use crate::Error;
use crate::client::{ClientOptions, is_too_many_requests, is_unavailable};

/// Polls `poller` until the operation completes or `deadline` passes.
/// `progress` sees each metadata update and returns a short description of
/// it, kept for the deadline error.
pub(crate) async fn wait<R, M>(
    mut poller: impl Poller<R, M>,
    what: &str,
    deadline: Duration,
    options: &ClientOptions,
    mut progress: impl FnMut(&M) -> Option<String>,
) -> Result<Result<R, google_cloud_gax::error::Error>, Error> {
    let started = Instant::now();
    let mut delay = options.initial_delay;
    let mut last: Option<String> = None;
    let expired = |last: Option<String>| Error::Deadline {
        what: what.to_string(),
        secs: deadline.as_secs(),
        last,
    };
    loop {
        let remaining = deadline.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            return Err(expired(last));
        }
        let step = match tokio::time::timeout(remaining, poller.poll()).await {
            Err(_) => return Err(expired(last)),
            Ok(step) => step,
        };
        match step {
            None => {
                return Err(Error::OperationFailed {
                    what: what.to_string(),
                    message: "the operation ended without a result".to_string(),
                });
            }
            Some(PollingResult::Completed(result)) => return Ok(result),
            Some(PollingResult::InProgress(metadata)) => {
                if let Some(m) = &metadata
                    && let Some(seen) = progress(m)
                {
                    last = Some(seen);
                }
            }
            Some(PollingResult::PollingError(e)) => {
                // A poll that hit a quota or an unavailable backend says
                // nothing about the operation: poll again.
                if !(is_too_many_requests(&e) || is_unavailable(&e) || e.is_io()) {
                    return Ok(Err(e));
                }
            }
        }
        let remaining = deadline.saturating_sub(started.elapsed());
        tokio::time::sleep(delay.min(remaining)).await;
        delay = (delay * 2).min(options.max_delay.max(options.initial_delay));
    }
}
