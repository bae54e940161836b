//! Cloud Storage as an artifact store (`gs://bucket/prefix`), and the
//! bucket readiness check.
//!
//! Object bodies go through the official client's JSON paths (resumable
//! uploads in 8 MiB chunks, streamed reads). Listing objects and reading
//! bucket metadata use the JSON API directly with the same credentials:
//! the SDK serves them only through `StorageControl`, which is gRPC and
//! which emulators such as fake-gcs-server do not implement.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_storage::client::Storage;
use preflight_migrate::{ArtifactStore, StoredArtifact};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{ClientOptions, Error};

const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// Object metadata key holding the content's SHA-256, which the store's
/// users compare with their own records.
const SHA256_KEY: &str = "preflight-sha256";

/// `gs://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsLocation {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl GcsLocation {
    pub fn parse(text: &str) -> Result<GcsLocation, Error> {
        let bad = || Error::BadReference {
            text: text.to_string(),
            expected: "a gs://bucket[/prefix] location",
        };
        let rest = text.strip_prefix("gs://").ok_or_else(bad)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=222).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err(bad());
        }
        Ok(GcsLocation {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// The object name for a store key.
    pub fn object(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    pub fn uri(&self, key: &str) -> String {
        format!("gs://{}/{}", self.bucket, self.object(key))
    }
}

impl std::fmt::Display for GcsLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "gs://{}", self.bucket)
        } else {
            write!(f, "gs://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// What the bucket readiness check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketStatus {
    pub bucket: String,
    /// Lifecycle rules, one line each (`Delete when age >= 30`).
    pub lifecycle_rules: Vec<String>,
}

/// Artifacts in a Cloud Storage bucket. Each object records its SHA-256 in
/// its metadata; uploads are checked against the CRC32C the service
/// computed, downloads against both.
#[derive(Debug, Clone)]
pub struct GcsStore {
    location: GcsLocation,
    client: Storage,
    json: JsonApi,
}

/// The Cloud Storage JSON API for what the SDK only offers over gRPC.
#[derive(Debug, Clone)]
struct JsonApi {
    http: reqwest::Client,
    endpoint: String,
    credentials: Credentials,
}

impl GcsStore {
    /// Connects to the bucket of `location` (`gs://bucket/prefix`).
    pub async fn connect(location: &str, options: &ClientOptions) -> Result<GcsStore, Error> {
        let location = GcsLocation::parse(location)?;
        let (endpoint, credentials) = options.storage()?;
        let endpoint = endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let client = Storage::builder()
            .with_endpoint(endpoint.clone())
            .with_credentials(credentials.clone())
            .with_retry_policy(options.retry_policy())
            .with_backoff_policy(options.backoff())
            .build()
            .await
            .map_err(crate::error::client_error("Cloud Storage"))?;
        let http = reqwest::Client::builder()
            .build()
            .map_err(|source| Error::Client {
                service: "Cloud Storage JSON",
                source: Box::new(source),
            })?;
        Ok(GcsStore {
            location,
            client,
            json: JsonApi {
                http,
                endpoint,
                credentials,
            },
        })
    }

    pub fn gcs_location(&self) -> &GcsLocation {
        &self.location
    }

    fn bucket_path(&self) -> String {
        format!("projects/_/buckets/{}", self.location.bucket)
    }

    /// Uploads `local` as `key`, streaming it, and checks the service
    /// stored exactly those bytes.
    pub async fn upload(&self, local: &Path, key: &str) -> Result<StoredArtifact, Error> {
        let (size, sha256, crc32c) = hash_file(local).await?;
        let file = tokio::fs::File::open(local)
            .await
            .map_err(|source| Error::Read {
                path: local.to_path_buf(),
                source,
            })?;
        let uri = self.location.uri(key);
        let object = self
            .client
            .write_object(self.bucket_path(), self.location.object(key), file)
            .set_metadata([(SHA256_KEY, sha256.as_str())])
            .set_content_type("application/octet-stream")
            .send_buffered()
            .await
            .map_err(|source| self.action("upload", &uri).error(source))?;
        if let Some(stored) = object.checksums.as_ref().and_then(|c| c.crc32c)
            && stored != crc32c
        {
            return Err(Error::ChecksumMismatch {
                uri,
                algorithm: "CRC32C",
                expected: format!("{crc32c:08x}"),
                actual: format!("{stored:08x}"),
            });
        }
        if object.size >= 0 && object.size as u64 != size {
            return Err(Error::ChecksumMismatch {
                uri,
                algorithm: "size",
                expected: size.to_string(),
                actual: object.size.to_string(),
            });
        }
        Ok(StoredArtifact {
            key: key.to_string(),
            uri,
            size,
            sha256,
        })
    }

    /// Downloads `key` to `dest` (through a `.part` file renamed at the
    /// end, so `dest` is never half-written), checking CRC32C and SHA-256.
    pub async fn download(&self, key: &str, dest: &Path) -> Result<StoredArtifact, Error> {
        let uri = self.location.uri(key);
        let mut response = self
            .client
            .read_object(self.bucket_path(), self.location.object(key))
            .send()
            .await
            .map_err(|source| self.action("download", &uri).error(source))?;
        let highlights = response.object();
        let part = part_path(dest);
        let write_err = |source| Error::Write {
            path: part.clone(),
            source,
        };
        let mut out = tokio::fs::File::create(&part).await.map_err(write_err)?;
        let mut sha = Sha256::new();
        let mut crc = 0u32;
        let mut size = 0u64;
        let result: Result<(), Error> = async {
            while let Some(chunk) = response.next().await {
                let chunk = chunk.map_err(|source| self.action("download", &uri).error(source))?;
                sha.update(&chunk);
                crc = crc32c::crc32c_append(crc, &chunk);
                size += chunk.len() as u64;
                out.write_all(&chunk).await.map_err(write_err)?;
            }
            out.flush().await.map_err(write_err)?;
            out.sync_all().await.map_err(write_err)?;
            Ok(())
        }
        .await;
        let sha256 = hex(&sha.finalize());
        let checked = result.and_then(|()| {
            if let Some(expected) = highlights.checksums.as_ref().and_then(|c| c.crc32c)
                && expected != crc
            {
                return Err(Error::ChecksumMismatch {
                    uri: uri.clone(),
                    algorithm: "CRC32C",
                    expected: format!("{expected:08x}"),
                    actual: format!("{crc:08x}"),
                });
            }
            Ok(())
        });
        let recorded = match checked {
            Ok(()) => self.metadata_sha256(key).await,
            Err(e) => Err(e),
        };
        let verified = recorded.and_then(|recorded| match recorded {
            Some(expected) if expected != sha256 => Err(Error::ChecksumMismatch {
                uri: uri.clone(),
                algorithm: "SHA-256",
                expected,
                actual: sha256.clone(),
            }),
            _ => Ok(()),
        });
        if let Err(e) = verified {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
        tokio::fs::rename(&part, dest)
            .await
            .map_err(|source| Error::Write {
                path: dest.to_path_buf(),
                source,
            })?;
        Ok(StoredArtifact {
            key: key.to_string(),
            uri,
            size,
            sha256,
        })
    }

    /// Every object under `prefix` (a key prefix inside the store).
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<StoredArtifact>, Error> {
        let object_prefix = self.location.object(prefix);
        let strip = if self.location.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.location.prefix)
        };
        let mut out = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let url = format!(
                "{}/storage/v1/b/{}/o",
                self.json.endpoint, self.location.bucket
            );
            let mut query = vec![("prefix", object_prefix.clone())];
            if let Some(t) = &page_token {
                query.push(("pageToken", t.clone()));
            }
            let location = self.location.to_string();
            let page: ObjectList = self
                .json
                .get(&url, &query, &self.action("list the objects of", &location))
                .await?;
            for item in page.items {
                let Some(key) = item.name.strip_prefix(&strip) else {
                    continue;
                };
                out.push(StoredArtifact {
                    key: key.to_string(),
                    uri: format!("gs://{}/{}", self.location.bucket, item.name),
                    size: item.size.parse().unwrap_or(0),
                    sha256: item.metadata.get(SHA256_KEY).cloned().unwrap_or_default(),
                });
            }
            match page.next_page_token {
                Some(t) if !t.is_empty() => page_token = Some(t),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn metadata_sha256(&self, key: &str) -> Result<Option<String>, Error> {
        let url = format!(
            "{}/storage/v1/b/{}/o/{}",
            self.json.endpoint,
            self.location.bucket,
            percent_encode(&self.location.object(key))
        );
        let item: ObjectItem = self
            .json
            .get(&url, &[], &self.action("read", &self.location.uri(key)))
            .await?;
        Ok(item.metadata.get(SHA256_KEY).cloned())
    }

    /// The bucket exists and has a lifecycle policy ("GCS buckets exist with
    /// lifecycle policies"). A bucket without rules is reported, not an error:
    /// the caller decides whether that fails a gate.
    pub async fn bucket_status(&self) -> Result<BucketStatus, Error> {
        bucket_status(&self.json, &self.location.bucket).await
    }

    fn action<'a>(&'a self, verb: &'a str, resource: &str) -> crate::error::Action<'a> {
        crate::error::Action {
            verb,
            resource: resource.to_string(),
            project: "_",
            api: "storage.googleapis.com",
            permission: match verb {
                "upload" => "storage.objects.create",
                "list the objects of" => "storage.objects.list",
                _ => "storage.objects.get",
            },
        }
    }
}

/// Checks one bucket by name (for buckets that are not an artifact store).
pub async fn check_bucket(bucket: &str, options: &ClientOptions) -> Result<BucketStatus, Error> {
    let store = GcsStore::connect(&format!("gs://{bucket}"), options).await?;
    store.bucket_status().await
}

async fn bucket_status(json: &JsonApi, bucket: &str) -> Result<BucketStatus, Error> {
    let url = format!("{}/storage/v1/b/{bucket}", json.endpoint);
    let action = crate::error::Action {
        verb: "read the bucket",
        resource: format!("gs://{bucket}"),
        project: "_",
        api: "storage.googleapis.com",
        permission: "storage.buckets.get",
    };
    let meta: BucketMeta = json.get(&url, &[], &action).await?;
    let lifecycle_rules = meta
        .lifecycle
        .map(|l| l.rule)
        .unwrap_or_default()
        .iter()
        .map(describe_rule)
        .collect();
    Ok(BucketStatus {
        bucket: bucket.to_string(),
        lifecycle_rules,
    })
}

fn describe_rule(rule: &serde_json::Value) -> String {
    let action = rule
        .pointer("/action/type")
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    let condition = rule
        .get("condition")
        .and_then(|c| c.as_object())
        .map(|c| {
            c.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!("{action} when {condition}")
}

impl JsonApi {
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
        action: &crate::error::Action<'_>,
    ) -> Result<T, Error> {
        let transport = |source: Box<dyn std::error::Error + Send + Sync>| Error::Transport {
            action: action.verb.to_string(),
            resource: action.resource.clone(),
            source,
        };
        let headers = match self
            .credentials
            .headers(http::Extensions::new())
            .await
            .map_err(|e| transport(Box::new(e)))?
        {
            CacheableResource::New { data, .. } => data,
            CacheableResource::NotModified => http::HeaderMap::new(),
        };
        let mut attempt = 0;
        let mut delay = std::time::Duration::from_millis(200);
        loop {
            attempt += 1;
            let response = self
                .http
                .get(url)
                .query(query)
                .headers(headers.clone())
                .send()
                .await
                .map_err(|e| transport(Box::new(e)))?;
            let status = response.status().as_u16();
            // Reads are idempotent: retry 429 and 503 like the SDK does.
            if (status == 429 || status == 503) && attempt < 5 {
                tokio::time::sleep(delay).await;
                delay *= 2;
                continue;
            }
            let body = response.bytes().await.map_err(|e| transport(Box::new(e)))?;
            if status == 200 {
                return serde_json::from_slice(&body).map_err(|e| transport(Box::new(e)));
            }
            let source = google_cloud_gax::error::Error::http(status, Default::default(), body);
            return Err(action.error(source));
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectList {
    #[serde(default)]
    items: Vec<ObjectItem>,
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ObjectItem {
    name: String,
    #[serde(default)]
    size: String,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct BucketMeta {
    lifecycle: Option<Lifecycle>,
}

#[derive(Debug, Deserialize)]
struct Lifecycle {
    #[serde(default)]
    rule: Vec<serde_json::Value>,
}

#[async_trait]
impl ArtifactStore for GcsStore {
    fn location(&self) -> String {
        self.location.to_string()
    }

    async fn put_file(
        &self,
        local: &Path,
        key: &str,
    ) -> Result<StoredArtifact, preflight_migrate::Error> {
        preflight_migrate::check_key(key)?;
        self.upload(local, key)
            .await
            .map_err(|e| store_error(self, "upload", key, e))
    }

    async fn get_file(
        &self,
        key: &str,
        dest: &Path,
    ) -> Result<StoredArtifact, preflight_migrate::Error> {
        preflight_migrate::check_key(key)?;
        self.download(key, dest)
            .await
            .map_err(|e| store_error(self, "download", key, e))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<StoredArtifact>, preflight_migrate::Error> {
        self.list_keys(prefix)
            .await
            .map_err(|e| store_error(self, "list", prefix, e))
    }
}

fn store_error(store: &GcsStore, verb: &str, key: &str, e: Error) -> preflight_migrate::Error {
    preflight_migrate::Error::Store {
        location: store.location.to_string(),
        action: format!("{verb} `{key}`"),
        source: Box::new(e),
    }
}

/// Size, SHA-256 (hex) and CRC32C of a file, read in 1 MiB chunks.
async fn hash_file(path: &Path) -> Result<(u64, String, u32), Error> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(read_err)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut sha = Sha256::new();
    let mut crc = 0u32;
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await.map_err(read_err)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&sha.finalize()), crc))
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Object names in a URL path: everything but unreserved characters escaped.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let l = GcsLocation::parse("gs://mobius-backups/releases/prod/").unwrap();
        assert_eq!(l.bucket, "mobius-backups");
        assert_eq!(l.prefix, "releases/prod");
        assert_eq!(
            l.uri("backups/a.dump"),
            "gs://mobius-backups/releases/prod/backups/a.dump"
        );
        assert_eq!(GcsLocation::parse("gs://b12").unwrap().object("k"), "k");
        for bad in ["s3://bucket", "gs://", "gs://UPPER", "gs://ab", "gs://-x/y"] {
            assert!(GcsLocation::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encodes_object_names() {
        assert_eq!(percent_encode("a b/c.dump"), "a%20b%2Fc.dump");
    }
}
