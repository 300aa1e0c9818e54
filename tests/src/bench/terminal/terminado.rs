//! The terminal benchmark's client of terminado: its JSON messages (`["stdin", keys]`, `["stdout", text]`,
//! `["set_size", rows, cols]`) over a WebSocket on loopback TCP. The WebSocket is the few lines of RFC 6455 a client
//! needs (no extensions, so no compression), so the benchmark pulls in no WebSocket crate.

use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::workload::{Chunk, Terminal};

pub struct Terminado {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xa;

impl Terminado {
    /// Opens terminal `name` of the terminado server on `port`, and tells it this client's size.
    pub async fn open(port: u16, name: &str, rows: u16, cols: u16) -> Result<Terminado> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .with_context(|| format!("connecting to terminado on port {port}"))?;
        stream.set_nodelay(true)?;
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::with_capacity(256 << 10, reader);
        writer
            .write_all(
                format!(
                    "GET /websocket/{name} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Key: b3JyZXJ5LWJlbmNoLWtleQ==\r\n\
                     Sec-WebSocket-Version: 13\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
        let mut status = String::new();
        reader.read_line(&mut status).await?;
        if !status.starts_with("HTTP/1.1 101") {
            bail!("terminado refused the WebSocket: {}", status.trim_end());
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await? == 0 {
                bail!("terminado closed during the handshake");
            }
            if header == "\r\n" {
                break;
            }
        }
        let mut terminado = Terminado { reader, writer };
        terminado
            .send(&serde_json::json!(["set_size", rows, cols]).to_string())
            .await?;
        Ok(terminado)
    }

    /// Sends one masked text frame.
    async fn send(&mut self, text: &str) -> Result<()> {
        self.frame(TEXT, text.as_bytes()).await
    }

    async fn frame(&mut self, opcode: u8, payload: &[u8]) -> Result<()> {
        const MASK: [u8; 4] = [0x6f, 0x72, 0x72, 0x79];
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len @ 126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&MASK);
        frame.extend(
            payload
                .iter()
                .enumerate()
                .map(|(index, byte)| byte ^ MASK[index % 4]),
        );
        self.writer.write_all(&frame).await?;
        Ok(())
    }

    /// The next whole message's text.
    async fn message(&mut self) -> Result<Vec<u8>> {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.reader.read_exact(&mut head).await?;
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let len = match head[1] & 0x7f {
                126 => u64::from(self.reader.read_u16().await?),
                127 => self.reader.read_u64().await?,
                len => u64::from(len),
            };
            let mut mask = [0u8; 4];
            if head[1] & 0x80 != 0 {
                self.reader.read_exact(&mut mask).await?;
            }
            let mut payload = vec![0u8; usize::try_from(len)?];
            self.reader.read_exact(&mut payload).await?;
            if head[1] & 0x80 != 0 {
                for (index, byte) in payload.iter_mut().enumerate() {
                    *byte ^= mask[index % 4];
                }
            }
            match opcode {
                TEXT | CONTINUATION => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return Ok(message);
                    }
                }
                PING => self.frame(PONG, &payload).await?,
                PONG => {}
                CLOSE => bail!("terminado closed the WebSocket"),
                other => bail!("unexpected WebSocket opcode {other}"),
            }
        }
    }
}

impl Terminal for Terminado {
    async fn input(&mut self, keys: &str) -> Result<()> {
        self.send(&serde_json::json!(["stdin", keys]).to_string())
            .await
    }

    async fn next(&mut self, deadline: Instant) -> Result<Option<Chunk>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = match tokio::time::timeout(left, self.message()).await {
                Err(_) => return Ok(None),
                Ok(message) => message?,
            };
            let parsed: Vec<serde_json::Value> =
                serde_json::from_slice(&message).context("terminado's message is not JSON")?;
            match parsed.first().and_then(|kind| kind.as_str()) {
                Some("stdout") => {
                    let text = parsed
                        .get(1)
                        .and_then(|text| text.as_str())
                        .ok_or_else(|| anyhow!("a stdout message without text"))?;
                    return Ok(Some(Chunk::Output(text.as_bytes().to_vec())));
                }
                Some("setup") => {}
                Some("disconnect") => bail!("terminado's terminal ended"),
                _ => bail!(
                    "unexpected terminado message {}",
                    String::from_utf8_lossy(&message)
                ),
            }
        }
    }
}
