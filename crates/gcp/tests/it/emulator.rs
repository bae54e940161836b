//! fake-gcs-server, the Cloud Storage emulator, on a free loopback port.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct FakeGcs {
    pub url: String,
    child: Child,
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 127.x.y.z address whose port 80 is free.
fn free_loopback_port_80() -> String {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    for i in 0..200u64 {
        let n = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(i * 1442695040888963407);
        let host = format!(
            "127.{}.{}.{}",
            (n >> 8) % 250 + 1,
            (n >> 16) % 250 + 1,
            (n >> 24) % 250 + 2
        );
        match std::net::TcpListener::bind((host.as_str(), 80)) {
            Ok(_) => return host,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                panic!("fake-gcs-server needs port 80 on a loopback address; run the tests as root")
            }
            Err(_) => continue,
        }
    }
    panic!("no free loopback address for fake-gcs-server")
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FAKE_GCS_SERVER") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join(".venv/bin/fake-gcs-server");
    assert!(
        path.exists(),
        "fake-gcs-server is not installed at {}: run scripts/setup",
        path.display()
    );
    path
}

impl FakeGcs {
    /// Starts the emulator on port 80 of a loopback address of its own.
    ///
    /// Why port 80: the official client sends `Host` without the port
    /// (gax-internal's `host::header`), and fake-gcs-server builds the
    /// resumable-upload session URL from `Host`, so on any other port the
    /// client would send the upload's chunks to port 80. Each server gets
    /// its own 127.x.y.z, so tests run in parallel (binding port 80 needs
    /// root, which the test machines are).
    pub async fn start() -> FakeGcs {
        let host = free_loopback_port_80();
        let url = format!("http://{host}");
        let child = Command::new(binary())
            .args(["-scheme", "http", "-backend", "memory", "-host", &host])
            .args(["-port", "80", "-external-url", &url, "-public-host", &host])
            .args(["-log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fake-gcs-server");
        let server = FakeGcs { url, child };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ok = http
                .get(format!("{}/storage/v1/b", server.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "fake-gcs-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn create_bucket(&self, name: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/storage/v1/b?project=test", self.url))
            .body(format!(r#"{{"name":"{name}"}}"#))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
    }
}
