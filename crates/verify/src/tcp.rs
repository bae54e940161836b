//! TCP probes: a host:port accepts connections (Redis behind VPC egress).

use std::time::Instant;

use async_trait::async_trait;

use crate::probe::{Check, Probe, ProbeContext};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpProbe {
    /// `host:port`.
    pub address: String,
}

#[async_trait]
impl Probe for TcpProbe {
    fn kind(&self) -> &'static str {
        "tcp"
    }
    fn target(&self) -> String {
        self.address.clone()
    }
    async fn check(&self, _cx: &ProbeContext) -> Check {
        let clock = Instant::now();
        match tokio::net::TcpStream::connect(&self.address).await {
            Ok(stream) => {
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| self.address.clone(), |a| a.to_string());
                Check::pass(format!(
                    "connected to {peer} in {} ms",
                    clock.elapsed().as_millis()
                ))
            }
            Err(e) => Check::fail(format!("cannot connect to {}: {e}", self.address)),
        }
    }
}
