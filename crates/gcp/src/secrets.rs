//! Secret Manager: `secret://projects/P/secrets/NAME[/versions/V]`
//! references resolved at run time, and the list of secrets a project has
//! (for "every `.env.example` key has a secret").

use std::collections::BTreeSet;

use google_cloud_gax::paginator::ItemPaginator as _;
use google_cloud_secretmanager_v1::client::SecretManagerService;
use preflight_manifest::SecretRef;

use crate::error::Action;
use crate::{ClientOptions, Error};

/// A resolved secret. Its `Debug` and `Display` never show the value;
/// only [`SecretValue::expose`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl std::fmt::Display for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Reads secrets through Secret Manager.
#[derive(Debug, Clone)]
pub struct SecretResolver {
    client: SecretManagerService,
}

impl SecretResolver {
    pub async fn connect(options: &ClientOptions) -> Result<SecretResolver, Error> {
        let client = options
            .configure(SecretManagerService::builder())?
            .build()
            .await
            .map_err(crate::error::client_error("Secret Manager"))?;
        Ok(SecretResolver { client })
    }

    /// The secret's value (`gcloud secrets versions access`). Trailing
    /// newlines, which `echo … | gcloud secrets create` leaves, are dropped.
    pub async fn resolve(&self, reference: &SecretRef) -> Result<SecretValue, Error> {
        let name = format!(
            "projects/{}/secrets/{}/versions/{}",
            reference.project, reference.secret, reference.version
        );
        let action = Action {
            verb: "read the secret",
            resource: name.clone(),
            project: &reference.project,
            api: "secretmanager.googleapis.com",
            permission: "secretmanager.versions.access",
        };
        let response = self
            .client
            .access_secret_version()
            .set_name(name.clone())
            .send()
            .await
            .map_err(|e| action.error(e))?;
        let data = response.payload.map(|p| p.data).unwrap_or_default();
        let text = String::from_utf8(data.to_vec()).map_err(|_| Error::BadReference {
            text: name,
            expected: "a UTF-8 secret",
        })?;
        Ok(SecretValue(text.trim_end_matches(['\r', '\n']).to_string()))
    }

    /// The ids of every secret in `project`.
    pub async fn secret_ids(&self, project: &str) -> Result<BTreeSet<String>, Error> {
        let action = Action {
            verb: "list the secrets of",
            resource: format!("projects/{project}"),
            project,
            api: "secretmanager.googleapis.com",
            permission: "secretmanager.secrets.list",
        };
        let mut items = self
            .client
            .list_secrets()
            .set_parent(format!("projects/{project}"))
            .by_item();
        let mut ids = BTreeSet::new();
        while let Some(secret) = items.next().await {
            let secret = secret.map_err(|e| action.error(e))?;
            if let Some(id) = secret.name.rsplit('/').next() {
                ids.insert(id.to_string());
            }
        }
        Ok(ids)
    }
}

/// The secret id a `.env` key maps to under `template` (`{module}-{key}`
/// by default): `{key}` is the key in lower case with `_` as `-`.
pub fn secret_id_for(template: &str, module: &str, key: &str, env: &str, project: &str) -> String {
    let kebab = key.to_ascii_lowercase().replace('_', "-");
    template
        .replace("{module}", module)
        .replace("{key}", &kebab)
        .replace("{env}", env)
        .replace("{gcp_project}", project)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_print() {
        let v = SecretValue("postgres://u:pw@h/db".into());
        assert_eq!(format!("{v:?} {v}"), "SecretValue(<redacted>) <redacted>");
        assert_eq!(v.expose(), "postgres://u:pw@h/db");
    }

    #[test]
    fn maps_keys_to_ids() {
        assert_eq!(
            secret_id_for("{module}-{key}", "mobius-rag", "DATABASE_URL", "prod", "p"),
            "mobius-rag-database-url"
        );
        assert_eq!(
            secret_id_for("{env}-{key}", "m", "OPENAI_API_KEY", "prod", "p"),
            "prod-openai-api-key"
        );
    }
}
