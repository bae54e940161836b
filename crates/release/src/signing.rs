//! The checklist's signing key, given as its text or as a Secret Manager
//! reference (`secret://projects/P/secrets/NAME[/versions/V]`), so a team
//! need not hand the key to every operator's shell.

use preflight_checklist::SigningKey;
use preflight_manifest::SecretRef;

use crate::error::Error;

/// The signing key `value` names: the key itself, or a `secret://`
/// reference read through Secret Manager. Shorter than 16 bytes is refused
/// (an HMAC key that short is guessable); the value is never in an error.
pub async fn checklist_signing_key(value: &str) -> Result<SigningKey, Error> {
    let (bytes, from) = if value.starts_with("secret://") {
        let reference = SecretRef::parse(value).map_err(Error::Refused)?;
        let text = crate::gcp::resolve_secret(&reference).await?;
        (text.into_bytes(), format!("the secret {reference}"))
    } else {
        (value.as_bytes().to_vec(), "the given key".to_string())
    };
    SigningKey::new(bytes).ok_or_else(|| {
        Error::Refused(format!(
            "the checklist signing key from {from} is shorter than 16 bytes"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_short_key_is_refused_without_showing_it() {
        let e = checklist_signing_key("short-kx").await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains("shorter than 16 bytes"), "{text}");
        assert!(!text.contains("short-kx"), "{text}");
        assert!(
            checklist_signing_key("a-long-enough-team-key")
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_malformed_reference_is_refused() {
        let e = checklist_signing_key("secret://projects/p")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("secret://"), "{e}");
    }
}
