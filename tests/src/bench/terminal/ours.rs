//! The terminal benchmark's client of our local hub: the real protocol over its Unix socket, acknowledging every
//! OUTPUT and SNAPSHOT frame as soon as it is read (a client that keeps up).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use orrery_local_hub::client::Connection;
use orrery_local_hub::protocol::{self, kind, Frame, Hello, Service, TerminalSize, VERSION};

use crate::workload::{Chunk, Terminal};

pub struct Ours {
    connection: Connection,
    channel: u32,
}

impl Ours {
    /// Connects to the local hub at `socket` (waiting for it to listen) and opens terminal `name`.
    pub async fn open(socket: &Path, name: &str, size: TerminalSize) -> Result<Ours> {
        let hello = Hello {
            version: VERSION,
            name: "bench".into(),
            color: "#859900".into(),
            ..Default::default()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut connection = loop {
            match Connection::connect(socket, hello.clone()).await {
                Ok(connection) => break connection,
                Err(error) if Instant::now() > deadline => {
                    bail!(
                        "the local hub never listened on {}: {error}",
                        socket.display()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let (channel, _) = connection
            .open(Service::Terminal {
                name: name.into(),
                size,
                resume: None,
            })
            .await
            .map_err(|error| anyhow!("opening the terminal: {error}"))?;
        Ok(Ours {
            connection,
            channel,
        })
    }

    async fn ack(&mut self, bytes: usize) -> Result<()> {
        let mut body = Vec::with_capacity(4);
        protocol::write_varint(&mut body, bytes as u64);
        self.connection
            .send(&Frame::new(self.channel, kind::ACK, body))
            .await
            .map_err(|error| anyhow!("ack: {error}"))
    }
}

impl Terminal for Ours {
    async fn input(&mut self, keys: &str) -> Result<()> {
        self.connection
            .send(&Frame::new(
                self.channel,
                kind::INPUT,
                keys.as_bytes().to_vec(),
            ))
            .await
            .map_err(|error| anyhow!("input: {error}"))
    }

    async fn next(&mut self, deadline: Instant) -> Result<Option<Chunk>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = match tokio::time::timeout(left, self.connection.recv()).await {
                Err(_) => return Ok(None),
                Ok(Err(error)) => bail!("receiving: {error}"),
                Ok(Ok(None)) => bail!("the local hub closed the connection"),
                Ok(Ok(Some(frame))) => frame,
            };
            match frame.kind {
                kind::OUTPUT => {
                    self.ack(frame.body.len()).await?;
                    return Ok(Some(Chunk::Output(frame.body)));
                }
                kind::SNAPSHOT => {
                    self.ack(frame.body.len()).await?;
                    return Ok(Some(Chunk::Snapshot(frame.body)));
                }
                // Which shell, and its size: nothing to time.
                kind::SIZE | kind::ATTACHED => {}
                kind::EXITED => bail!("the terminal's shell exited"),
                other => bail!("unexpected frame kind 0x{other:02x}: {frame:?}"),
            }
        }
    }
}
