//! The one redaction set of a Preflight run.
//!
//! A [`Redactor`] holds every secret value a run knows (database URLs and
//! their passwords in any form, `secret://` values, declared probe and step
//! secrets, header tokens, webhook URLs) and also removes credential-shaped
//! text it was never told about: URL passwords, `Authorization` headers,
//! bearer tokens and `password=` pairs. The verify runner, the release
//! engine and the checklist's state log all redact through it.
//!
//! ```
//! use preflight_redact::Redactor;
//!
//! let mut r = Redactor::new();
//! r.add_url("postgres://app:hunter2-pw@db/app");
//! assert_eq!(r.redact("failed: hunter2-pw"), "failed: ***");
//! assert_eq!(r.redact("token=abc123"), "token=***");
//! ```

#![deny(missing_docs)]

use std::sync::LazyLock;

use regex::Regex;

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // scheme://user:password@host
        (r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", "${1}***@"),
        // Authorization: Basic xxx / Bearer xxx, in headers or logs
        (r"(?i)\b(authorization|proxy-authorization)(\s*[:=]\s*)[^\r\n]+", "${1}${2}***"),
        (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", "${1} ***"),
        // password=..., PGPASSWORD=..., api_key: ...
        (
            r#"(?i)\b([A-Za-z_]*(?:password|passwd|secret|token|api_key|apikey))(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,]+)"#,
            "${1}${2}***",
        ),
    ]
    .into_iter()
    .map(|(re, with)| (Regex::new(re).expect("valid redaction pattern"), with))
    .collect()
});

/// Secret values to remove, on top of the credential patterns every
/// redactor removes.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

// Never the values: a `{:?}` of a struct holding a redactor must not leak.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor that knows no values yet (it still removes credential patterns).
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Adds a value that must never be shown. Very short values (under 4
    /// characters) are ignored: redacting them would garble every report.
    pub fn add(&mut self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.chars().count() >= 4 && !self.secrets.contains(&secret) {
            self.secrets.push(secret);
            // Longest first, so a secret containing another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Adds a database or webhook URL: the whole URL, and its password
    /// wherever it is written (`user:password@`, `?password=`, and
    /// percent-decoded).
    pub fn add_url(&mut self, url: &str) {
        self.add(url);
        for password in url_passwords(url) {
            self.add(password);
        }
    }

    /// Adds every secret of `other`.
    pub fn extend(&mut self, other: &Redactor) {
        for s in &other.secrets {
            self.add(s.clone());
        }
    }

    /// Whether `text` holds a known secret value.
    pub fn knows_in(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// `text` with every known secret and credential pattern replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        for (re, with) in PATTERNS.iter() {
            if re.is_match(&out) {
                out = re.replace_all(&out, *with).into_owned();
            }
        }
        out
    }
}

/// The passwords a connection URL or key=value DSN carries, raw and
/// percent-decoded.
fn url_passwords(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            out.push(password.to_string());
        }
    }
    // `?password=…&` in a URL, `password=…` in a DSN.
    for part in url.split(['?', '&', ' ']) {
        if let Some((key, value)) = part.split_once('=')
            && key.eq_ignore_ascii_case("password")
        {
            out.push(value.trim_matches(['\'', '"']).to_string());
        }
    }
    let decoded: Vec<String> = out.iter().map(|p| percent_decode(p)).collect();
    out.extend(decoded);
    out.retain(|p| !p.is_empty());
    out
}

/// `%XX` escapes decoded (a URL's password as the server sees it).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_known_values_and_patterns() {
        let mut r = Redactor::new();
        r.add("s3cr3t-token-value");
        r.add("ab");
        assert_eq!(r.redact("got s3cr3t-token-value back"), "got *** back");
        assert_eq!(r.redact("ab stays"), "ab stays");
        assert_eq!(
            r.redact("postgres://app:hunter22@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            r.redact("Authorization: Bearer abc.def.ghi"),
            "Authorization: ***"
        );
        assert_eq!(
            r.redact("curl -H 'Bearer abcdefghijk'"),
            "curl -H 'Bearer ***'"
        );
        assert_eq!(
            r.redact("host=db password=hunter22 user=app"),
            "host=db password=*** user=app"
        );
        assert_eq!(r.redact("PGPASSWORD=\"x y z\" psql"), "PGPASSWORD=*** psql");
        assert_eq!(
            r.redact("no secrets here: status=ok"),
            "no secrets here: status=ok"
        );
    }

    #[test]
    fn debug_shows_no_value() {
        let mut r = Redactor::new();
        r.add("debug-canary-1234");
        assert!(!format!("{r:?}").contains("canary"));
    }

    #[test]
    fn a_url_brings_its_password_in_every_form() {
        let mut r = Redactor::new();
        r.add_url("postgres://app:s%40cr3t-pw@db/x?sslmode=require");
        r.add_url("postgres://db/y?user=app&password=qp-canary-77");
        r.add_url("host=db user=app password='dsn-canary-88' dbname=z");
        for leak in ["s@cr3t-pw", "s%40cr3t-pw", "qp-canary-77", "dsn-canary-88"] {
            assert_eq!(
                r.redact(&format!("saw {leak} here")),
                "saw *** here",
                "{leak}"
            );
        }
    }
}
