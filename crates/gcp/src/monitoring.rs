//! Cloud Monitoring: what one Cloud Run revision served over a recent
//! window, from `run.googleapis.com/request_count` (summed by response
//! code class) and `run.googleapis.com/request_latencies` (95th
//! percentile), the figures a release's watch holds to its thresholds.

use std::time::{Duration, SystemTime};

use google_cloud_monitoring_v3::client::MetricService;
use google_cloud_monitoring_v3::model::aggregation::{Aligner, Reducer};
use google_cloud_monitoring_v3::model::typed_value::Value;
use google_cloud_monitoring_v3::model::{Aggregation, TimeInterval, TimeSeries};

use crate::error::Action;
use crate::{ClientOptions, Error};

const API: &str = "monitoring.googleapis.com";

/// Cloud Monitoring's time series.
#[derive(Debug, Clone)]
pub struct CloudMonitoring {
    client: MetricService,
}

/// What a revision served over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionMetrics {
    /// Requests counted, all classes.
    pub requests: i64,
    /// Requests answered 5xx.
    pub errors_5xx: i64,
    /// The 95th percentile of request latency, in milliseconds; `None`
    /// when no request was measured.
    pub p95_latency_ms: Option<f64>,
}

impl RevisionMetrics {
    /// The share of requests answered 5xx, in percent; `None` without requests.
    pub fn error_percent(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors_5xx as f64 * 100.0 / self.requests as f64)
    }
}

/// A name that goes into a filter: Cloud Run's names are lower-case
/// letters, digits and `-`; anything else could change the filter.
fn filter_value(text: &str) -> Result<&str, Error> {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Ok(text)
    } else {
        Err(Error::BadReference {
            text: text.to_string(),
            expected: "a Cloud Run service or revision name",
        })
    }
}

fn number(series: &TimeSeries) -> f64 {
    series
        .points
        .iter()
        .filter_map(|p| p.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::Int64Value(i) => *i as f64,
            Value::DoubleValue(d) => *d,
            _ => 0.0,
        })
        .sum()
}

impl CloudMonitoring {
    pub async fn connect(options: &ClientOptions) -> Result<CloudMonitoring, Error> {
        let client = options
            .configure(MetricService::builder())?
            .build()
            .await
            .map_err(crate::error::client_error("Cloud Monitoring"))?;
        Ok(CloudMonitoring { client })
    }

    /// What `revision` of `service` served in the `window` up to now
    /// (at least a minute: Cloud Run's metrics are per minute).
    pub async fn revision_metrics(
        &self,
        project: &str,
        service: &str,
        revision: &str,
        window: Duration,
    ) -> Result<RevisionMetrics, Error> {
        let window = window.max(Duration::from_secs(60));
        let resource = format!(
            "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"{}\" AND resource.labels.revision_name = \"{}\"",
            filter_value(service)?,
            filter_value(revision)?
        );
        let now = SystemTime::now();
        let interval = TimeInterval::new()
            .set_end_time(wkt_time(now)?)
            .set_start_time(wkt_time(now - window)?);
        let period = google_cloud_wkt::Duration::clamp(window.as_secs() as i64, 0);
        let counts = self
            .series(
                project,
                format!("metric.type = \"run.googleapis.com/request_count\" AND {resource}"),
                interval.clone(),
                Aggregation::new()
                    .set_alignment_period(period)
                    .set_per_series_aligner(Aligner::AlignSum)
                    .set_cross_series_reducer(Reducer::ReduceSum)
                    .set_group_by_fields(["metric.labels.response_code_class"]),
            )
            .await?;
        let mut metrics = RevisionMetrics {
            requests: 0,
            errors_5xx: 0,
            p95_latency_ms: None,
        };
        for series in &counts {
            let class = series
                .metric
                .as_ref()
                .and_then(|m| m.labels.get("response_code_class"))
                .map(String::as_str)
                .unwrap_or_default();
            let n = number(series) as i64;
            metrics.requests += n;
            if class == "5xx" {
                metrics.errors_5xx += n;
            }
        }
        let latencies = self
            .series(
                project,
                format!("metric.type = \"run.googleapis.com/request_latencies\" AND {resource}"),
                interval,
                Aggregation::new()
                    .set_alignment_period(period)
                    .set_per_series_aligner(Aligner::AlignPercentile95)
                    .set_cross_series_reducer(Reducer::ReduceMax),
            )
            .await?;
        metrics.p95_latency_ms = latencies
            .iter()
            .filter(|s| !s.points.is_empty())
            .map(number)
            .reduce(f64::max);
        Ok(metrics)
    }

    async fn series(
        &self,
        project: &str,
        filter: String,
        interval: TimeInterval,
        aggregation: Aggregation,
    ) -> Result<Vec<TimeSeries>, Error> {
        let name = format!("projects/{project}");
        let action = Action {
            verb: "read the Cloud Monitoring time series of",
            resource: name.clone(),
            project,
            api: API,
            permission: "monitoring.timeSeries.list",
        };
        let response = self
            .client
            .list_time_series()
            .set_name(name)
            .set_filter(filter)
            .set_interval(interval)
            .set_aggregation(aggregation)
            .send()
            .await
            .map_err(|e| action.error(e))?;
        Ok(response.time_series)
    }
}

fn wkt_time(t: SystemTime) -> Result<google_cloud_wkt::Timestamp, Error> {
    google_cloud_wkt::Timestamp::try_from(t).map_err(|_| Error::BadReference {
        text: format!("{t:?}"),
        expected: "a time Cloud Monitoring accepts",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_cannot_change_the_filter() {
        assert!(filter_value("mobius-chat-api-00015-qmz").is_ok());
        for bad in ["", "a\" OR metric.type = \"x", "A", "a b"] {
            assert!(filter_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_percent() {
        let m = RevisionMetrics {
            requests: 200,
            errors_5xx: 3,
            p95_latency_ms: None,
        };
        assert_eq!(m.error_percent(), Some(1.5));
        let none = RevisionMetrics { requests: 0, ..m };
        assert_eq!(none.error_percent(), None);
    }
}
