//! Where backups and evidence go: the [`ArtifactStore`] trait and a local
//! directory implementation (Cloud Storage lives in `preflight-gcp`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::Error;

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredArtifact {
    /// The store-relative key, `backups/mobius_chat/20260214T101500Z.dump`.
    pub key: String,
    /// Where it is, for people: a path or `gs://bucket/prefix/key`.
    pub uri: String,
    pub size: u64,
    /// SHA-256 (hex) of the content.
    pub sha256: String,
}

/// A place for release artifacts. Implementations stream: files of several
/// GiB are never held in memory.
#[async_trait]
pub trait ArtifactStore: Send + Sync + std::fmt::Debug {
    /// The store's location, for people (`/var/backups/preflight`, `gs://b/p`).
    fn location(&self) -> String;
    /// Copies a local file in under `key`, recording its checksum.
    async fn put_file(&self, local: &Path, key: &str) -> Result<StoredArtifact, Error>;
    /// Copies `key` out to `dest`, verifying its checksum.
    async fn get_file(&self, key: &str, dest: &Path) -> Result<StoredArtifact, Error>;
    /// Every artifact whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<StoredArtifact>, Error>;
}

/// Artifacts in a local directory; each file has a `.sha256` sidecar.
#[derive(Debug, Clone)]
pub struct LocalDirStore {
    pub root: PathBuf,
}

const SIDECAR: &str = ".sha256";

/// Rejects keys that could escape the store (`..`, absolute, empty parts).
pub fn check_key(key: &str) -> Result<(), Error> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.ends_with(SIDECAR)
        || key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        return Err(Error::BadKey {
            key: key.to_string(),
        });
    }
    Ok(())
}

/// Copies `from` to `to` in chunks, returning the size and SHA-256.
pub(crate) async fn copy_hashing(from: &Path, to: &Path) -> Result<(u64, String), Error> {
    let mut input = tokio::fs::File::open(from)
        .await
        .map_err(|source| Error::Read {
            path: from.to_path_buf(),
            source,
        })?;
    let write_err = |source| Error::Write {
        path: to.to_path_buf(),
        source,
    };
    let mut output = tokio::fs::File::create(to).await.map_err(write_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf).await.map_err(|source| Error::Read {
            path: from.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n]).await.map_err(write_err)?;
        size += n as u64;
    }
    output.flush().await.map_err(write_err)?;
    output.sync_all().await.map_err(write_err)?;
    Ok((size, hex(&hasher.finalize())))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

impl LocalDirStore {
    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn artifact(&self, key: &str, size: u64, sha256: String) -> StoredArtifact {
        StoredArtifact {
            key: key.to_string(),
            uri: self.path_of(key).display().to_string(),
            size,
            sha256,
        }
    }
}

#[async_trait]
impl ArtifactStore for LocalDirStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    async fn put_file(&self, local: &Path, key: &str) -> Result<StoredArtifact, Error> {
        check_key(key)?;
        let dest = self.path_of(key);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| Error::Write {
                    path: parent.to_path_buf(),
                    source,
                })?;
        }
        // Copy beside, then rename: a reader never sees half a backup.
        let partial = dest.with_extension("partial");
        let (size, sha256) = copy_hashing(local, &partial).await?;
        let sidecar = PathBuf::from(format!("{}{SIDECAR}", dest.display()));
        tokio::fs::write(&sidecar, format!("{sha256}  {size}\n"))
            .await
            .map_err(|source| Error::Write {
                path: sidecar.clone(),
                source,
            })?;
        tokio::fs::rename(&partial, &dest)
            .await
            .map_err(|source| Error::Write {
                path: dest.clone(),
                source,
            })?;
        Ok(self.artifact(key, size, sha256))
    }

    async fn get_file(&self, key: &str, dest: &Path) -> Result<StoredArtifact, Error> {
        check_key(key)?;
        let from = self.path_of(key);
        let expected = read_sidecar(&from).await?;
        let (size, sha256) = copy_hashing(&from, dest).await?;
        if sha256 != expected {
            let _ = tokio::fs::remove_file(dest).await;
            return Err(Error::ChecksumMismatch {
                uri: from.display().to_string(),
                expected,
                actual: sha256,
            });
        }
        Ok(self.artifact(key, size, sha256))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<StoredArtifact>, Error> {
        let mut found = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::Read { path: dir, source }),
            };
            while let Some(entry) = entries.next_entry().await.map_err(|source| Error::Read {
                path: dir.clone(),
                source,
            })? {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Some(key) = path
                    .strip_prefix(&self.root)
                    .ok()
                    .and_then(|k| k.to_str())
                    .and_then(|k| k.strip_suffix(SIDECAR))
                else {
                    continue;
                };
                if !key.starts_with(prefix) {
                    continue;
                }
                let content =
                    tokio::fs::read_to_string(&path)
                        .await
                        .map_err(|source| Error::Read {
                            path: path.clone(),
                            source,
                        })?;
                let mut parts = content.split_whitespace();
                let sha256 = parts.next().unwrap_or_default().to_string();
                let size = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                found.push(self.artifact(key, size, sha256));
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }
}

async fn read_sidecar(artifact: &Path) -> Result<String, Error> {
    let sidecar = PathBuf::from(format!("{}{SIDECAR}", artifact.display()));
    let content = tokio::fs::read_to_string(&sidecar)
        .await
        .map_err(|source| Error::Read {
            path: sidecar,
            source,
        })?;
    Ok(content
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_store() {
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "./a", "a/", "x.sha256"] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
        check_key("backups/mobius_chat/20260214T101500Z.dump").unwrap();
    }

    #[tokio::test]
    async fn put_list_get_and_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore {
            root: dir.path().join("store"),
        };
        let src = dir.path().join("in.bin");
        std::fs::write(&src, vec![7u8; 3 << 20]).unwrap();
        let put = store.put_file(&src, "backups/db/one.dump").await.unwrap();
        assert_eq!(put.size, 3 << 20);
        let listed = store.list("backups/").await.unwrap();
        assert_eq!(listed, vec![put.clone()]);
        assert!(store.list("evidence/").await.unwrap().is_empty());
        let out = dir.path().join("out.bin");
        let got = store.get_file("backups/db/one.dump", &out).await.unwrap();
        assert_eq!(got.sha256, put.sha256);
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
        std::fs::write(store.root.join("backups/db/one.dump"), b"tampered").unwrap();
        let err = store
            .get_file("backups/db/one.dump", &out)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
        assert!(!out.exists(), "a corrupt copy is not left behind");
    }
}
