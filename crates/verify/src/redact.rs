//! Keeps secrets out of reports: known secret values, URL passwords,
//! `Authorization` headers, bearer tokens and `password=` pairs.

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

/// Redacts secrets from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
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
}
