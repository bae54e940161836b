//! A small real HTTP/1.1 server on loopback with the endpoints the probes
//! meet in production: healthy, slow, failing, hanging, flapping, and a
//! job that is pending for a few polls before it completes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub hits: Arc<HashMap<&'static str, AtomicUsize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const ROUTES: &[&str] = &[
    "/flaky",
    "/chat/response/abc123",
    "/hang",
    "/refuse",
    "/fail",
];

impl TestServer {
    pub async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits: Arc<HashMap<&'static str, AtomicUsize>> =
            Arc::new(ROUTES.iter().map(|r| (*r, AtomicUsize::new(0))).collect());
        let shared = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let hits = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, hits).await;
                });
            }
        });
        TestServer { addr, hits, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self, route: &str) -> usize {
        self.hits[route].load(Ordering::SeqCst)
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    hits: Arc<HashMap<&'static str, AtomicUsize>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        if let Some(counter) = hits.get(path.as_str()) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        let count = |route: &str| hits[route].load(Ordering::SeqCst);
        let (status, body): (u16, String) = match (method.as_str(), path.as_str()) {
            ("GET", "/health") => (200, r#"{"status":"ok","version":"1.4.2"}"#.into()),
            ("GET", "/slow") => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                (200, r#"{"status":"ok"}"#.into())
            }
            ("GET", "/fail") => (500, "internal error: database is down".into()),
            ("GET", "/refuse") => (400, r#"{"error":"invalid_payload"}"#.into()),
            ("GET", "/hang") => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                (200, String::new())
            }
            // 503 twice, then healthy: a service still starting.
            ("GET", "/flaky") if count("/flaky") <= 2 => (503, "starting".into()),
            ("GET", "/flaky") => (200, r#"{"status":"ok"}"#.into()),
            ("POST", "/chat") => {
                let ok = String::from_utf8_lossy(&body).contains("\"message\"");
                if ok {
                    (202, r#"{"id":"abc123"}"#.into())
                } else {
                    (400, r#"{"error":"message required"}"#.into())
                }
            }
            ("GET", "/chat/response/abc123") if count("/chat/response/abc123") <= 2 => {
                (200, r#"{"status":"pending"}"#.into())
            }
            ("GET", "/chat/response/abc123") => {
                (200, r#"{"status":"completed","answer":"42"}"#.into())
            }
            ("GET", "/chat/response/failed") => (200, r#"{"status":"failed"}"#.into()),
            // Echoes what it was sent, as a careless service might.
            ("GET", "/echo") => (
                500,
                format!(
                    "unauthorized: got {}",
                    headers.get("authorization").cloned().unwrap_or_default()
                ),
            ),
            _ => (404, "not found".into()),
        };
        let reason = match status {
            200 => "OK",
            202 => "Accepted",
            400 => "Bad Request",
            404 => "Not Found",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        reader.get_mut().write_all(response.as_bytes()).await?;
    }
}
