use std::path::PathBuf;

/// Everything that can go wrong talking to Google Cloud. The variants for
/// 403 and 404 say which resource, which project and which permission or
/// API is missing; the service's own text stays in the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("permission denied to {action} {resource}{}{}", in_project(project), permission.as_ref().map(|p| format!(": the caller needs `{p}`")).unwrap_or_default())]
    PermissionDenied {
        action: String,
        resource: String,
        project: String,
        permission: Option<String>,
        #[source]
        source: Box<google_cloud_gax::error::Error>,
    },
    #[error(
        "{api} is not enabled in project {project} (needed to {action} {resource}); run `gcloud services enable {api} --project={project}`"
    )]
    ApiDisabled {
        api: String,
        action: String,
        resource: String,
        project: String,
        #[source]
        source: Box<google_cloud_gax::error::Error>,
    },
    #[error("cannot {action} {resource}: not found{}", in_project(project))]
    NotFound {
        action: String,
        resource: String,
        project: String,
        #[source]
        source: Box<google_cloud_gax::error::Error>,
    },
    #[error(
        "Google Cloud rejected the credentials used to {action} {resource}; run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
    )]
    Unauthenticated {
        action: String,
        resource: String,
        #[source]
        source: Box<google_cloud_gax::error::Error>,
    },
    #[error("cannot {action} {resource}")]
    Call {
        action: String,
        resource: String,
        #[source]
        source: Box<google_cloud_gax::error::Error>,
    },
    #[error("cannot {action} {resource}: HTTP {status}")]
    Http {
        action: String,
        resource: String,
        status: u16,
        body: String,
    },
    #[error("cannot {action} {resource}")]
    Transport {
        action: String,
        resource: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("no Google Cloud credentials (Application Default Credentials)")]
    Credentials {
        #[source]
        source: google_cloud_auth::build_errors::Error,
    },
    #[error("cannot build the {service} client")]
    Client {
        service: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{what} did not finish within {secs}s{}", last.as_ref().map(|l| format!(" (last seen: {l})")).unwrap_or_default())]
    Deadline {
        what: String,
        secs: u64,
        last: Option<String>,
    },
    #[error("{what} failed: {message}")]
    OperationFailed { what: String, message: String },
    #[error("`{text}` is not {expected}")]
    BadReference {
        text: String,
        expected: &'static str,
    },
    #[error("{uri} is corrupt: its {algorithm} is {actual}, {expected} was expected")]
    ChecksumMismatch {
        uri: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot generate the Cloud Build config: {reason}")]
    BuildConfig { reason: String },
}

/// Maps a client builder's failure for `service`.
pub(crate) fn client_error(
    service: &'static str,
) -> impl Fn(google_cloud_gax::client_builder::Error) -> Error + Copy {
    move |source| Error::Client {
        service,
        source: Box::new(source),
    }
}

/// ` in project P`, or nothing where the project is not known (`_`).
fn in_project(project: &str) -> String {
    match project {
        "" | "_" => String::new(),
        p => format!(" in project {p}"),
    }
}

/// What a call was doing, so its failure can say so.
#[derive(Debug, Clone)]
pub(crate) struct Action<'a> {
    /// `read`, `run`, `list the databases of`…
    pub verb: &'a str,
    /// `projects/P/secrets/S/versions/latest`, `Cloud Run job J`…
    pub resource: String,
    pub project: &'a str,
    /// The API that serves the call, e.g. `secretmanager.googleapis.com`.
    pub api: &'a str,
    /// The permission the call needs, named when the service does not.
    pub permission: &'a str,
}

impl Action<'_> {
    /// Turns a client error into one that names the resource, the project
    /// and what is missing.
    pub fn error(&self, source: google_cloud_gax::error::Error) -> Error {
        let source = Box::new(source);
        use google_cloud_gax::error::rpc::{Code, StatusDetails};
        let action = self.verb.to_string();
        let resource = self.resource.clone();
        let project = self.project.to_string();
        let code = source.status().map(|s| s.code);
        let http = source.http_status_code();
        let reason = source.status().and_then(|s| {
            s.details.iter().find_map(|d| match d {
                StatusDetails::ErrorInfo(info) => Some(info.clone()),
                _ => None,
            })
        });
        if code == Some(Code::PermissionDenied) || http == Some(403) {
            let message = source
                .status()
                .map(|s| s.message.clone())
                .unwrap_or_default();
            let disabled = reason
                .as_ref()
                .is_some_and(|r| r.reason == "SERVICE_DISABLED" || r.reason == "API_DISABLED")
                || message.contains("has not been used in project")
                || message.contains("it is disabled");
            if disabled {
                let api = reason
                    .as_ref()
                    .and_then(|r| r.metadata.get("service").cloned())
                    .unwrap_or_else(|| self.api.to_string());
                return Error::ApiDisabled {
                    api,
                    action,
                    resource,
                    project,
                    source,
                };
            }
            let permission = reason
                .as_ref()
                .and_then(|r| r.metadata.get("permission").cloned())
                .or_else(|| quoted_after(&message, "Permission '"))
                .or_else(|| quoted_after(&message, "permission '"))
                .or_else(|| (!self.permission.is_empty()).then(|| self.permission.to_string()));
            return Error::PermissionDenied {
                action,
                resource,
                project,
                permission,
                source,
            };
        }
        if code == Some(Code::NotFound) || http == Some(404) {
            return Error::NotFound {
                action,
                resource,
                project,
                source,
            };
        }
        if code == Some(Code::Unauthenticated) || http == Some(401) || source.is_authentication() {
            return Error::Unauthenticated {
                action,
                resource,
                source,
            };
        }
        Error::Call {
            action,
            resource,
            source,
        }
    }
}

/// The text between `prefix` and the next `'`: Google's 403 messages say
/// "Permission 'secretmanager.versions.access' denied on resource …".
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    let len = message[start..].find('\'')?;
    Some(message[start..start + len].to_string())
}
