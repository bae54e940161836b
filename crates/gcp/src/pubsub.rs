//! Pub/Sub: a release's notifications published to a topic, one message
//! per event, with the event and release as attributes so subscribers can
//! filter without reading the body.

use std::collections::BTreeMap;
use std::time::Duration;

use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::model::Message;

use crate::{ClientOptions, Error};

/// How long one publish may take, retries included.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(20);

/// Publishes to one topic (`projects/P/topics/T`).
#[derive(Debug)]
pub struct PubSubNotifier {
    publisher: Publisher,
    topic: String,
}

/// Whether `topic` is a full topic name Pub/Sub accepts.
fn topic_ok(topic: &str) -> bool {
    let parts: Vec<&str> = topic.split('/').collect();
    matches!(parts.as_slice(), ["projects", p, "topics", t] if !p.is_empty() && !t.is_empty())
}

impl PubSubNotifier {
    pub async fn connect(options: &ClientOptions, topic: &str) -> Result<PubSubNotifier, Error> {
        if !topic_ok(topic) {
            return Err(Error::BadReference {
                text: topic.to_string(),
                expected: "a Pub/Sub topic (`projects/P/topics/T`)",
            });
        }
        let (endpoint, credentials) = options.pubsub()?;
        let mut builder = Publisher::builder(topic)
            .with_credentials(credentials)
            .with_retry_policy(options.retry_policy())
            .with_backoff_policy(options.backoff())
            // One event, one message: nothing waits to be batched.
            .set_delay_threshold(Duration::ZERO);
        if let Some(endpoint) = endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let publisher = builder
            .build()
            .await
            .map_err(crate::error::client_error("Pub/Sub"))?;
        Ok(PubSubNotifier {
            publisher,
            topic: topic.to_string(),
        })
    }

    /// Publishes `data` with `attributes` and returns the message id.
    pub async fn publish(
        &self,
        data: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<String, Error> {
        let message = Message::new()
            .set_data(data.to_string())
            .set_attributes(attributes.clone());
        let what = format!("publishing to {}", self.topic);
        // A notification never holds a release up for long.
        match tokio::time::timeout(PUBLISH_DEADLINE, self.publisher.publish(message)).await {
            Err(_) => Err(Error::Deadline {
                what,
                secs: PUBLISH_DEADLINE.as_secs(),
                last: None,
            }),
            Ok(result) => result.map_err(|e| Error::OperationFailed {
                what,
                message: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn topics() {
        assert!(super::topic_ok("projects/mobiusos-new/topics/releases"));
        for bad in [
            "releases",
            "projects//topics/t",
            "projects/p/topics/",
            "projects/p/subscriptions/s",
        ] {
            assert!(!super::topic_ok(bad), "{bad}");
        }
    }
}
