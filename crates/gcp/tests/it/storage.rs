//! The Cloud Storage artifact store against fake-gcs-server.

use std::io::Write as _;

use preflight_gcp::{ClientOptions, GcsStore, Readiness, ReadinessOptions, ReadinessStatus};
use preflight_migrate::ArtifactStore;

use crate::emulator::FakeGcs;

fn options(gcs: &FakeGcs) -> ClientOptions {
    ClientOptions::default().with_storage_endpoint(gcs.url.clone())
}

/// A file of `len` bytes that are not all alike.
fn write_file(dir: &std::path::Path, name: &str, len: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let block: Vec<u8> = (0..1024 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    let mut left = len;
    let mut n = 0u8;
    while left > 0 {
        let take = left.min(block.len());
        let mut chunk = block[..take].to_vec();
        chunk[0] = n; // every MiB differs
        n = n.wrapping_add(1);
        f.write_all(&chunk).unwrap();
        left -= take;
    }
    path
}

#[tokio::test]
async fn uploads_lists_and_downloads_with_checksums() {
    let gcs = FakeGcs::start().await;
    gcs.create_bucket("mobius-release-artifacts").await;
    let store: Box<dyn ArtifactStore> = Box::new(
        GcsStore::connect(
            "gs://mobius-release-artifacts/releases/prod",
            &options(&gcs),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        store.location(),
        "gs://mobius-release-artifacts/releases/prod"
    );
    let dir = tempfile::tempdir().unwrap();
    let small = write_file(dir.path(), "log.md", 3_000);
    // Above the SDK's 16 MiB threshold: a resumable upload in 8 MiB chunks.
    let big = write_file(dir.path(), "mobius_chat.dump", 20 * 1024 * 1024 + 17);

    let put_small = store
        .put_file(&small, "logs/2026-02-14-prod.md")
        .await
        .unwrap();
    let put_big = store
        .put_file(&big, "backups/mobius_chat/20260214T101500Z.dump")
        .await
        .unwrap();
    assert_eq!(put_big.size, 20 * 1024 * 1024 + 17);
    assert_eq!(
        put_big.uri,
        "gs://mobius-release-artifacts/releases/prod/backups/mobius_chat/20260214T101500Z.dump"
    );

    let listed = store.list("").await.unwrap();
    assert_eq!(listed, vec![put_big.clone(), put_small.clone()]);
    let backups = store.list("backups/").await.unwrap();
    assert_eq!(backups, vec![put_big.clone()]);

    let back = dir.path().join("restored.dump");
    let got = store
        .get_file("backups/mobius_chat/20260214T101500Z.dump", &back)
        .await
        .unwrap();
    assert_eq!(got.sha256, put_big.sha256);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&big).unwrap());
    assert!(!dir.path().join("restored.dump.part").exists());
}

#[tokio::test]
async fn a_corrupt_object_is_refused_and_nothing_is_left_behind() {
    let gcs = FakeGcs::start().await;
    gcs.create_bucket("artifacts").await;
    // An object whose recorded SHA-256 does not match its bytes, as if it
    // had been overwritten outside Preflight.
    let boundary = "preflight-boundary";
    let body = format!(
        "--{boundary}\r\ncontent-type: application/json\r\n\r\n{{\"name\":\"backups/x.dump\",\"metadata\":{{\"preflight-sha256\":\"{}\"}}}}\r\n--{boundary}\r\ncontent-type: application/octet-stream\r\n\r\ntampered bytes\r\n--{boundary}--\r\n",
        "0".repeat(64)
    );
    let response = reqwest::Client::new()
        .post(format!(
            "{}/upload/storage/v1/b/artifacts/o?uploadType=multipart",
            gcs.url
        ))
        .header(
            "content-type",
            format!("multipart/related; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");

    let store = GcsStore::connect("gs://artifacts", &options(&gcs))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x.dump");
    let err = store.download("backups/x.dump", &dest).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("gs://artifacts/backups/x.dump is corrupt: its SHA-256 is "),
        "{text}"
    );
    assert!(!dest.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn missing_buckets_and_bad_keys_are_clear_errors() {
    let gcs = FakeGcs::start().await;
    let store = GcsStore::connect("gs://no-such-bucket/p", &options(&gcs))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "a", 10);
    let err = store.put_file(&file, "../escape").await.unwrap_err();
    assert!(
        err.to_string().contains("not a valid artifact key"),
        "{err}"
    );

    let err = store.bucket_status().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read the bucket gs://no-such-bucket: not found"
    );
    let err = store.put_file(&file, "k").await.unwrap_err();
    assert_eq!(err.to_string(), "gs://no-such-bucket/p: cannot upload `k`");
}

#[tokio::test]
async fn bucket_readiness_needs_a_lifecycle_policy() {
    let gcs = FakeGcs::start().await;
    gcs.create_bucket("mobius-uploads-mobiusos-new").await;
    let readiness = Readiness::new(
        options(&gcs),
        ReadinessOptions {
            project: "mobiusos-new".into(),
            region: "us-central1".into(),
        },
    );
    // fake-gcs-server keeps no lifecycle rules: the bucket exists, the check fails.
    let check = readiness.bucket("mobius-uploads-mobiusos-new").await;
    assert_eq!(check.status, ReadinessStatus::Fail);
    assert_eq!(
        check.summary,
        "gs://mobius-uploads-mobiusos-new has no lifecycle policy"
    );
    let check = readiness.bucket("shared-assets").await;
    assert_eq!(check.status, ReadinessStatus::Unknown);
    assert!(
        check.summary.contains("gs://shared-assets: not found"),
        "{check:?}"
    );
}
