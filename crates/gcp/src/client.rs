//! How clients are built: endpoint overrides (emulators, local servers),
//! credentials, and the retry and polling policies every call shares.

use std::time::Duration;

use google_cloud_auth::credentials::{Credentials, anonymous};
use google_cloud_gax::client_builder::ClientBuilder;
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::retry_policy::{RetryPolicy, RetryPolicyExt};
use google_cloud_gax::retry_result::RetryResult;
use google_cloud_gax::retry_state::RetryState;

use crate::Error;

/// Environment variable that points every client at one endpoint.
pub const ENDPOINT_ENV: &str = "PREFLIGHT_GCP_ENDPOINT";
/// The variable fake-gcs-server and gcloud use for a Storage emulator.
pub const STORAGE_EMULATOR_ENV: &str = "STORAGE_EMULATOR_HOST";
/// The variable Google's clients read for a Pub/Sub emulator.
pub const PUBSUB_EMULATOR_ENV: &str = "PUBSUB_EMULATOR_HOST";

/// Where clients connect and with which credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Overrides every service's endpoint (`http://127.0.0.1:8085`).
    pub endpoint: Option<String>,
    /// Overrides Cloud Storage's endpoint (an emulator).
    pub storage_endpoint: Option<String>,
    /// Overrides Pub/Sub's endpoint (an emulator, which speaks gRPC).
    pub pubsub_endpoint: Option<String>,
    pub credentials: CredentialsSource,
    /// Retries of one call on 429 and 503, including the first attempt.
    pub max_attempts: u32,
    /// First delay between retries and between operation polls; doubles up to `max_delay`.
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

/// Which credentials calls carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsSource {
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`,
    /// gcloud's user credentials, or the metadata server.
    ApplicationDefault,
    /// No credentials: for emulators and local test servers.
    Anonymous,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            endpoint: None,
            storage_endpoint: None,
            pubsub_endpoint: None,
            credentials: CredentialsSource::ApplicationDefault,
            max_attempts: 5,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(15),
        }
    }
}

impl ClientOptions {
    /// Real Google Cloud with Application Default Credentials, unless
    /// `PREFLIGHT_GCP_ENDPOINT` or `STORAGE_EMULATOR_HOST` say otherwise.
    pub fn from_env() -> ClientOptions {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut options = ClientOptions::default();
        if let Some(endpoint) = var(ENDPOINT_ENV) {
            options = options.with_endpoint(endpoint);
        }
        // Emulators are named `host:port`, as gcloud and Google's clients take them.
        let emulator = |name: &str| {
            var(name).map(|host| match host.contains("://") {
                true => host.trim_end_matches('/').to_string(),
                false => format!("http://{}", host.trim_end_matches('/')),
            })
        };
        options.storage_endpoint = emulator(STORAGE_EMULATOR_ENV);
        options.pubsub_endpoint = emulator(PUBSUB_EMULATOR_ENV);
        options
    }

    /// Points every client at `endpoint`. A plain `http://` endpoint is an
    /// emulator or a test server, so it gets no credentials: a token sent
    /// without TLS would be a leak.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> ClientOptions {
        let endpoint = endpoint.into().trim_end_matches('/').to_string();
        if endpoint.starts_with("http://") {
            self.credentials = CredentialsSource::Anonymous;
        }
        self.endpoint = Some(endpoint);
        self
    }

    /// Points only Cloud Storage at `endpoint` (same credential rule, for
    /// Cloud Storage only: the other services keep theirs).
    pub fn with_storage_endpoint(mut self, endpoint: impl Into<String>) -> ClientOptions {
        self.storage_endpoint = Some(endpoint.into().trim_end_matches('/').to_string());
        self
    }

    /// Cloud Storage's endpoint and credentials.
    pub(crate) fn storage(&self) -> Result<(Option<String>, Credentials), Error> {
        self.service_endpoint(self.storage_endpoint.as_ref())
    }

    /// Pub/Sub's endpoint and credentials.
    pub(crate) fn pubsub(&self) -> Result<(Option<String>, Credentials), Error> {
        self.service_endpoint(self.pubsub_endpoint.as_ref())
    }

    /// A service's own endpoint override, else the shared one, with no
    /// credentials for a plain `http://` endpoint (an emulator).
    fn service_endpoint(
        &self,
        own: Option<&String>,
    ) -> Result<(Option<String>, Credentials), Error> {
        let endpoint = own.or(self.endpoint.as_ref()).cloned();
        let credentials = match &endpoint {
            Some(e) if e.starts_with("http://") => anonymous::Builder::new().build(),
            _ => self.credentials()?,
        };
        Ok((endpoint, credentials))
    }

    pub(crate) fn credentials(&self) -> Result<Credentials, Error> {
        match self.credentials {
            CredentialsSource::Anonymous => Ok(anonymous::Builder::new().build()),
            CredentialsSource::ApplicationDefault => {
                google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map_err(|source| Error::Credentials { source })
            }
        }
    }

    /// Applies the endpoint, credentials, retry and polling policies to a
    /// generated client's builder.
    pub(crate) fn configure<F, Cr>(
        &self,
        builder: ClientBuilder<F, Cr>,
    ) -> Result<ClientBuilder<F, Cr>, Error>
    where
        Credentials: Into<Cr>,
    {
        let mut builder = builder
            .with_credentials(self.credentials()?)
            .with_retry_policy(self.retry_policy())
            .with_backoff_policy(self.backoff());
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        Ok(builder)
    }

    pub(crate) fn retry_policy(&self) -> impl RetryPolicy + use<> {
        TransientErrors.with_attempt_limit(self.max_attempts.max(1))
    }

    pub(crate) fn backoff(&self) -> google_cloud_gax::exponential_backoff::ExponentialBackoff {
        ExponentialBackoffBuilder::new()
            .with_initial_delay(self.initial_delay)
            .with_maximum_delay(self.max_delay.max(self.initial_delay))
            .build()
            .unwrap_or_default()
    }
}

/// Retries what is worth retrying: 429 always (the request was refused
/// before it did anything), 503 and connection errors only for idempotent
/// calls (a second `run_job` could start a second migration).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TransientErrors;

impl RetryPolicy for TransientErrors {
    fn on_error(&self, state: &RetryState, error: GaxError) -> RetryResult {
        if error.is_transient_and_before_rpc() || is_too_many_requests(&error) {
            return RetryResult::Continue(error);
        }
        if state.idempotent && (error.is_io() || is_unavailable(&error)) {
            return RetryResult::Continue(error);
        }
        RetryResult::Permanent(error)
    }
}

pub(crate) fn is_too_many_requests(error: &GaxError) -> bool {
    error.http_status_code() == Some(429)
        || error
            .status()
            .is_some_and(|s| s.code == Code::ResourceExhausted)
}

pub(crate) fn is_unavailable(error: &GaxError) -> bool {
    error.http_status_code() == Some(503)
        || error.status().is_some_and(|s| s.code == Code::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_endpoints_get_no_credentials() {
        let o = ClientOptions::default().with_endpoint("http://127.0.0.1:8085/");
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:8085"));
        assert_eq!(o.credentials, CredentialsSource::Anonymous);
        let o = ClientOptions::default().with_endpoint("https://private.googleapis.com");
        assert_eq!(o.credentials, CredentialsSource::ApplicationDefault);
        // A Storage emulator leaves the other services' credentials alone.
        let o = ClientOptions::default().with_storage_endpoint("http://127.0.0.1:4443");
        assert_eq!(o.credentials, CredentialsSource::ApplicationDefault);
        assert_eq!(
            o.storage().unwrap().0.as_deref(),
            Some("http://127.0.0.1:4443")
        );
    }
}
