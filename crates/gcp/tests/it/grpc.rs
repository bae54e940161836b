//! A loopback gRPC server (HTTP/2 without TLS) answering Pub/Sub's
//! `google.pubsub.v1.Publisher/Publish`: it keeps every request and
//! answers with one message id per message. No Pub/Sub emulator installs
//! from the registries this project may use, and the official client
//! publishes over gRPC only. The CLI's tests include this file (`#[path]`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

/// One published message, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub topic: String,
    pub data: String,
    pub attributes: BTreeMap<String, String>,
}

/// Each call's path and decoded messages.
type Calls = Arc<Mutex<Vec<(String, Vec<Published>)>>>;

#[derive(Debug)]
pub struct PubSubServer {
    pub addr: SocketAddr,
    /// Each call's path and decoded messages.
    calls: Calls,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PubSubServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PubSubServer {
    pub async fn start() -> PubSubServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls: Calls = Arc::default();
        let shared = calls.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let calls = shared.clone();
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(socket).await else {
                        return;
                    };
                    while let Some(Ok((request, respond))) = conn.accept().await {
                        let calls = calls.clone();
                        tokio::spawn(async move {
                            let _ = answer(request, respond, calls).await;
                        });
                    }
                });
            }
        });
        PubSubServer { addr, calls, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every message published, in order.
    pub fn published(&self) -> Vec<Published> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, m)| m.clone())
            .collect()
    }

    /// The gRPC paths called.
    pub fn paths(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }
}

async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<bytes::Bytes>,
    calls: Calls,
) -> Result<(), h2::Error> {
    let path = request.uri().path().to_string();
    let mut body = request.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    // One gRPC frame: a compression flag, a 4-byte length, the message.
    let message = bytes.get(5..).unwrap_or_default();
    let (topic, messages) = decode_publish(message);
    let published: Vec<Published> = messages
        .into_iter()
        .map(|(data, attributes)| Published {
            topic: topic.clone(),
            data,
            attributes,
        })
        .collect();
    let ids = published.len();
    calls.lock().unwrap().push((path, published));
    // PublishResponse { message_ids: ["m-1", …] }
    let mut reply = Vec::new();
    for i in 1..=ids {
        let id = format!("m-{i}");
        reply.push(0x0a);
        reply.push(id.len() as u8);
        reply.extend_from_slice(id.as_bytes());
    }
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(reply.len() as u32).to_be_bytes());
    frame.extend_from_slice(&reply);
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let mut send = respond.send_response(response, false)?;
    send.send_data(frame.into(), false)?;
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    send.send_trailers(trailers)
}

/// A protobuf varint at `*at`.
fn varint(buf: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    while *at < buf.len() {
        let b = buf[*at];
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    value
}

/// The (field, bytes) pairs of a message whose fields are all
/// length-delimited (the only kind Publish's request uses here).
fn fields(buf: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let key = varint(buf, &mut at);
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            2 => {
                let len = varint(buf, &mut at) as usize;
                let end = (at + len).min(buf.len());
                out.push((field, &buf[at..end]));
                at = end;
            }
            0 => {
                varint(buf, &mut at);
            }
            _ => break,
        }
    }
    out
}

/// `PublishRequest { topic = 1; repeated PubsubMessage messages = 2 }`,
/// `PubsubMessage { bytes data = 1; map<string, string> attributes = 2 }`.
type Decoded = (String, Vec<(String, BTreeMap<String, String>)>);

fn decode_publish(buf: &[u8]) -> Decoded {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut topic = String::new();
    let mut messages = Vec::new();
    for (field, value) in fields(buf) {
        match field {
            1 => topic = text(value),
            2 => {
                let mut data = String::new();
                let mut attributes = BTreeMap::new();
                for (f, v) in fields(value) {
                    match f {
                        1 => data = text(v),
                        2 => {
                            let entry = fields(v);
                            let get = |n| entry.iter().find(|(f, _)| *f == n).map(|(_, v)| text(v));
                            attributes
                                .insert(get(1).unwrap_or_default(), get(2).unwrap_or_default());
                        }
                        _ => {}
                    }
                }
                messages.push((data, attributes));
            }
            _ => {}
        }
    }
    (topic, messages)
}
