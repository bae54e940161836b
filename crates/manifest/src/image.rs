//! Container image references: `[registry/]repository[:tag][@digest]`.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A parsed image reference such as `gcr.io/mobius-prod/mobius-chat-api:v1.4.2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ImageRef {
    /// `gcr.io`, `us-docker.pkg.dev`, `localhost:5000`; `None` means Docker Hub.
    pub registry: Option<String>,
    /// The path after the registry, e.g. `mobius-prod/mobius-chat-api`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>` when the image is pinned by content.
    pub digest: Option<String>,
}

impl ImageRef {
    /// True when the reference does not pin a build: no tag and no digest, or `latest`.
    pub fn is_mutable(&self) -> bool {
        self.digest.is_none() && self.tag.as_deref().is_none_or(|t| t == "latest")
    }

    /// The last path component of the repository (`mobius-chat-api`).
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}/")?;
        }
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Why an image reference did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRefError {
    pub message: String,
}

impl fmt::Display for ImageRefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ImageRefError {}

fn fail(message: impl Into<String>) -> ImageRefError {
    ImageRefError {
        message: message.into(),
    }
}

impl FromStr for ImageRef {
    type Err = ImageRefError;

    /// Parses with the grammar of the distribution reference spec
    /// (github.com/distribution/reference): lower-case path components
    /// separated by `.`, `_`, `__` or `-`, a tag of at most 128 word characters,
    /// a digest of `algorithm:hex`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(fail("the image reference is empty"));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(fail("an image reference cannot contain spaces"));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        if let Some(d) = digest {
            let (algo, hex) = d
                .split_once(':')
                .ok_or_else(|| fail(format!("digest `{d}` is not `algorithm:hex`")))?;
            let valid_hex = match algo {
                "sha256" => hex.len() == 64,
                "sha512" => hex.len() == 128,
                _ => return Err(fail(format!("unsupported digest algorithm `{algo}`"))),
            } && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !valid_hex {
                return Err(fail(format!(
                    "digest `{d}` must be {algo} followed by lower-case hex of the right length"
                )));
            }
        }
        // A tag follows the last ':' after the last '/' (a ':' before it is a registry port).
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            let valid = !t.is_empty()
                && t.len() <= 128
                && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !valid {
                return Err(fail(format!(
                    "tag `{t}` may only contain letters, digits, `_`, `.` and `-` (at most 128, not starting with `.` or `-`)"
                )));
            }
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let registry = if parts.len() > 1
            && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
        {
            Some(parts.remove(0).to_string())
        } else {
            None
        };
        if let Some(r) = &registry {
            let (host, port) = match r.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (r.as_str(), None),
            };
            let host_ok = !host.is_empty()
                && host.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            let port_ok =
                port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            if !host_ok || !port_ok {
                return Err(fail(format!("registry `{r}` is not a valid host[:port]")));
            }
        }
        if parts.is_empty() || parts.iter().any(|p| p.is_empty()) {
            return Err(fail("the repository path has an empty component"));
        }
        for part in &parts {
            if !valid_path_component(part) {
                return Err(fail(format!(
                    "repository component `{part}` must be lower-case letters and digits, separated by `.`, `_`, `__` or `-`"
                )));
            }
        }
        Ok(ImageRef {
            registry,
            repository: parts.join("/"),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }
}

/// One `/`-separated component of an image repository path (the OCI
/// distribution grammar): lower-case letters and digits, separated by `.`,
/// `_`, `__` or runs of `-`.
pub(crate) fn valid_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().copied().is_some_and(alnum) || !bytes.last().copied().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator: '.', '_', '__' or a run of '-'.
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &part[sep_start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gcr_with_tag() {
        let r: ImageRef = "gcr.io/mobius-prod/mobius-chat-api:v1.4.2".parse().unwrap();
        assert_eq!(r.registry.as_deref(), Some("gcr.io"));
        assert_eq!(r.repository, "mobius-prod/mobius-chat-api");
        assert_eq!(r.tag.as_deref(), Some("v1.4.2"));
        assert_eq!(r.name(), "mobius-chat-api");
        assert!(!r.is_mutable());
        assert_eq!(r.to_string(), "gcr.io/mobius-prod/mobius-chat-api:v1.4.2");
    }

    #[test]
    fn registry_port_is_not_a_tag() {
        let r: ImageRef = "localhost:5000/app".parse().unwrap();
        assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(r.tag, None);
        assert!(r.is_mutable());
    }

    #[test]
    fn digest_pins() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r: ImageRef = format!("us-docker.pkg.dev/p/repo/img@{d}").parse().unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert!(!r.is_mutable());
        assert!("img@sha256:abc".parse::<ImageRef>().is_err());
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            "gcr.io/Upper/x:1",
            "gcr.io//x",
            "x:",
            "x:-bad",
            "a b",
            "gcr.io/p/x--:1",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad}");
        }
        assert!("latest".parse::<ImageRef>().unwrap().is_mutable());
        assert!("x:latest".parse::<ImageRef>().unwrap().is_mutable());
    }
}
