//! A local HTTP/1.1 server that answers like Google's REST APIs: each
//! route replies with recorded fixtures in order (the last one repeats),
//! and every request is kept so tests can see what the client sent.
//! The CLI's tests include this file too (`#[path]`) and use part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// A fixture from `tests/fixtures/`.
pub fn fixture(status: u16, name: &str) -> Reply {
    // Next to this file, whichever crate's tests include it: `file!()` is
    // relative to the workspace root, two levels above either crate.
    let here = std::path::Path::new(file!()).parent().unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(here)
        .join("../fixtures")
        .join(name);
    let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Reply { status, body }
}

/// A fixture with its `{{KEY}}` placeholders filled.
pub fn fixture_filled(status: u16, name: &str, fills: &[(&str, &str)]) -> Reply {
    let mut reply = fixture(status, name);
    for (key, value) in fills {
        reply.body = reply.body.replace(&format!("{{{{{key}}}}}"), value);
    }
    reply
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
}

type Routes = HashMap<(String, String), Vec<Reply>>;

#[derive(Debug)]
pub struct FixtureServer {
    pub addr: SocketAddr,
    routes: Arc<Mutex<Routes>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FixtureServer {
    pub async fn start() -> FixtureServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<Routes>> = Arc::default();
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let (r, q) = (routes.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (r, q) = (r.clone(), q.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, r, q).await;
                });
            }
        });
        FixtureServer {
            addr,
            routes,
            requests,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers `method path` (path without the query) with `replies` in order.
    pub fn route(&self, method: &str, path: &str, replies: Vec<Reply>) {
        self.routes
            .lock()
            .unwrap()
            .insert((method.to_string(), path.to_string()), replies);
    }

    /// The live list of requests, for a thread that waits on one.
    pub fn requests_handle(&self) -> Arc<Mutex<Vec<Recorded>>> {
        self.requests.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn hits(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    routes: Arc<Mutex<Routes>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).await?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).await?;
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        requests.lock().unwrap().push(Recorded {
            method: method.clone(),
            path: path.to_string(),
            query: query.to_string(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let reply = {
            let mut routes = routes.lock().unwrap();
            match routes.get_mut(&(method.clone(), path.to_string())) {
                Some(replies) if replies.len() > 1 => replies.remove(0),
                Some(replies) if !replies.is_empty() => replies[0].clone(),
                _ => Reply {
                    status: 404,
                    body: format!(
                        r#"{{"error":{{"code":404,"message":"no fixture for {method} {path}","status":"NOT_FOUND"}}}}"#
                    ),
                },
            }
        };
        let head = format!(
            "HTTP/1.1 {} Fixture\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}\r\n\r\n",
            reply.status,
            reply.body.len()
        );
        let stream = reader.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(reply.body.as_bytes()).await?;
        stream.flush().await?;
    }
}
