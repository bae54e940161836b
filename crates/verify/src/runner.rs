//! Runs probes concurrently with timeouts, retries and severities.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use preflight_manifest::GateSeverity as Severity;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::probe::{Check, CheckStatus, Probe, ProbeContext};
use crate::report::{Outcome, ProbeResult, Report};
use preflight_redact::Redactor;

/// A probe with its name, severity, time budget and retry policy.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub name: String,
    pub severity: Severity,
    /// The probe's whole budget, retries and backoff included.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub probe: Arc<dyn Probe>,
}

impl ProbeSpec {
    /// A hard probe with a 30 s budget and no retries.
    pub fn new(name: impl Into<String>, probe: impl Probe + 'static) -> ProbeSpec {
        ProbeSpec {
            name: name.into(),
            severity: Severity::Hard,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::none(),
            probe: Arc::new(probe),
        }
    }
    pub fn severity(mut self, severity: Severity) -> ProbeSpec {
        self.severity = severity;
        self
    }
    pub fn timeout(mut self, timeout: Duration) -> ProbeSpec {
        self.timeout = timeout;
        self
    }
    pub fn retry(mut self, retry: RetryPolicy) -> ProbeSpec {
        self.retry = retry;
        self
    }
}

/// Exponential backoff with full jitter between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, at least 1.
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
    /// `retries` extra attempts, starting at 200 ms and doubling up to 10 s.
    pub fn retries(retries: u32) -> RetryPolicy {
        RetryPolicy {
            attempts: retries.saturating_add(1),
            ..RetryPolicy::none()
        }
    }
    /// The wait before attempt `attempt + 1` (attempt counts from 1): a random
    /// point in `[backoff/2, backoff]` so that many retrying probes spread out.
    pub fn backoff(&self, attempt: u32, seed: u64) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(20));
        let cap = exp.min(self.max_backoff);
        let half = cap / 2;
        let jitter = splitmix(seed ^ u64::from(attempt)) % (half.as_micros() as u64 + 1);
        half + Duration::from_micros(jitter)
    }
}

/// A small, well-mixed hash for jitter; no need for a crypto RNG here.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Runs probes, at most `concurrency` at a time.
#[derive(Debug, Clone)]
pub struct Runner {
    concurrency: usize,
    context: ProbeContext,
    /// Secrets of the whole run (a release knows every probe's, database's
    /// and step's), redacted from every result besides each probe's own.
    redactor: Redactor,
}

impl Runner {
    pub fn new(concurrency: usize) -> Result<Runner, crate::Error> {
        Ok(Runner {
            concurrency: concurrency.max(1),
            context: ProbeContext::new()?,
            redactor: Redactor::new(),
        })
    }

    /// Redacts `redactor`'s secrets from every result this runner gives, on
    /// top of the secrets the probes of each run declare.
    pub fn with_redactor(mut self, redactor: Redactor) -> Runner {
        self.redactor = redactor;
        self
    }

    /// Runs every probe to its end.
    pub async fn run(&self, probes: Vec<ProbeSpec>) -> Report {
        self.run_until(probes, std::future::pending(), |_| {}).await
    }

    /// Runs probes until they finish or `cancel` resolves (Ctrl-C). Probes
    /// still running or not started are reported as cancelled, so the report
    /// always says what ran. `on_result` sees each result as it arrives.
    pub async fn run_until(
        &self,
        probes: Vec<ProbeSpec>,
        cancel: impl Future<Output = ()>,
        mut on_result: impl FnMut(&ProbeResult),
    ) -> Report {
        let started_at = jiff::Timestamp::now();
        let clock = Instant::now();
        let mut redactor = self.redactor.clone();
        for p in &probes {
            for secret in p.probe.secrets() {
                redactor.add(secret);
            }
        }
        let semaphore = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        let seed = started_at.as_nanosecond() as u64;
        for (index, spec) in probes.iter().enumerate() {
            let spec = spec.clone();
            let semaphore = semaphore.clone();
            let cx = self.context.clone();
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                (index, run_one(&spec, &cx, seed ^ index as u64).await)
            });
        }
        let mut results: Vec<Option<ProbeResult>> = vec![None; probes.len()];
        let mut interrupted = false;
        tokio::pin!(cancel);
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(Ok((index, result))) => {
                        let result = result.redacted(&redactor);
                        on_result(&result);
                        results[index] = Some(result);
                    }
                    // A panicking probe is an unknown outcome: its slot stays
                    // empty and is reported as an error below.
                    Some(Err(_)) => {}
                    None => break,
                },
                () = &mut cancel => {
                    interrupted = true;
                    tasks.abort_all();
                    break;
                }
            }
        }
        let results = results
            .into_iter()
            .zip(&probes)
            .map(|(result, spec)| {
                result.unwrap_or_else(|| {
                    let (outcome, summary) = if interrupted {
                        (Outcome::Cancelled, "cancelled before it finished")
                    } else {
                        (Outcome::Errored, "the probe panicked; outcome unknown")
                    };
                    ProbeResult::new(spec, outcome, 0, Duration::ZERO, summary.to_string())
                })
            })
            .collect();
        Report {
            started_at,
            duration: clock.elapsed(),
            interrupted,
            results,
        }
    }
}

async fn run_one(spec: &ProbeSpec, cx: &ProbeContext, seed: u64) -> ProbeResult {
    let clock = Instant::now();
    let deadline = clock + spec.timeout;
    let attempts_allowed = spec.retry.attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let check = tokio::time::timeout(remaining, spec.probe.check(cx)).await;
        let check = match check {
            Ok(check) => check,
            Err(_) => {
                let summary = format!(
                    "timed out after {} (attempt {attempt})",
                    human_duration(spec.timeout)
                );
                let mut result =
                    ProbeResult::new(spec, Outcome::TimedOut, attempt, clock.elapsed(), summary);
                result.evidence = spec.probe.evidence_so_far();
                return result;
            }
        };
        let last = attempt >= attempts_allowed;
        if check.passed() || last || check.permanent {
            return finish(spec, check, attempt, clock.elapsed());
        }
        let wait = spec.retry.backoff(attempt, seed);
        if Instant::now() + wait >= deadline {
            return finish(spec, check, attempt, clock.elapsed());
        }
        tokio::time::sleep(wait).await;
    }
}

fn finish(spec: &ProbeSpec, check: Check, attempts: u32, duration: Duration) -> ProbeResult {
    let outcome = match check.status {
        CheckStatus::Pass => Outcome::Passed,
        CheckStatus::Fail => Outcome::Failed,
        CheckStatus::Error => Outcome::Errored,
    };
    let mut result = ProbeResult::new(spec, outcome, attempts, duration, check.summary);
    result.evidence = check.evidence;
    result
}

pub(crate) fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d < Duration::from_secs(120) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_with_jitter() {
        let p = RetryPolicy::retries(10);
        for seed in 0..50 {
            let first = p.backoff(1, seed);
            assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200));
            let third = p.backoff(3, seed);
            assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(800));
            let late = p.backoff(15, seed);
            assert!(late >= Duration::from_secs(5) && late <= Duration::from_secs(10));
        }
        let spread: std::collections::BTreeSet<_> = (0..20).map(|s| p.backoff(2, s)).collect();
        assert!(spread.len() > 10, "jitter spreads retries: {spread:?}");
    }
}
