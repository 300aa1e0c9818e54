//! A client of the local hub's protocol over its Unix socket: what the host and the tests use to talk to a local hub.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::protocol::{
    self, kind, Close, ErrorBody, ErrorCode, Frame, Hello, Open, Opened, Service, Welcome,
};
use crate::Error;

/// How long a request waits for its answer by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to a local hub.
#[derive(Debug)]
pub struct Connection {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    /// Frames read while waiting for something else.
    pending: VecDeque<Frame>,
    /// Bytes read but not yet a whole frame: reads go here first so a timed-out `recv` loses nothing.
    partial: Vec<u8>,
    next_channel: u32,
    /// This connection's id, from the Welcome.
    pub id: u64,
}

impl Connection {
    /// Connects and says Hello.
    pub async fn connect(socket: &Path, hello: Hello) -> Result<Connection, Error> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|error| Error::io("connect", &error))?;
        let (reader, writer) = stream.into_split();
        let mut connection = Connection {
            reader,
            writer,
            pending: VecDeque::new(),
            partial: Vec::new(),
            next_channel: 1,
            id: 0,
        };
        connection
            .send(&Frame::json(protocol::CONTROL, kind::HELLO, &hello))
            .await?;
        let welcome = connection.recv_timeout(DEFAULT_TIMEOUT).await?;
        match welcome.kind {
            kind::WELCOME => connection.id = welcome.parse::<Welcome>()?.connection,
            _ => return Err(error_of(&welcome)),
        }
        Ok(connection)
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), Error> {
        self.send_raw(&frame.encode()).await
    }

    /// Sends bytes as they are: for tests of what the hub does with malformed frames.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|error| Error::io("send", &error))
    }

    /// The next frame on any channel, or `None` when the hub closed the connection.
    ///
    /// Cancel-safe: bytes are kept in `partial` until a whole frame has arrived, so dropping this future (a timeout)
    /// never loses part of a frame.
    pub async fn recv(&mut self) -> Result<Option<Frame>, Error> {
        if let Some(frame) = self.pending.pop_front() {
            return Ok(Some(frame));
        }
        loop {
            if self.partial.len() >= 4 {
                let length = u32::from_le_bytes([
                    self.partial[0],
                    self.partial[1],
                    self.partial[2],
                    self.partial[3],
                ]) as usize;
                if length > protocol::MAX_FRAME {
                    return Err(Error::new(
                        ErrorCode::TooLarge,
                        format!("the hub sent a frame of {length} bytes"),
                    ));
                }
                if self.partial.len() >= 4 + length {
                    let frame = Frame::decode(&self.partial[4..4 + length]);
                    self.partial.drain(..4 + length);
                    return Ok(Some(frame?));
                }
            }
            let mut chunk = [0u8; 64 << 10];
            let read = self
                .reader
                .read(&mut chunk)
                .await
                .map_err(|error| Error::io("receive", &error))?;
            if read == 0 {
                return Ok(None);
            }
            self.partial.extend_from_slice(&chunk[..read]);
        }
    }

    /// The next frame, failing after `timeout` or when the connection closes.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Frame, Error> {
        match tokio::time::timeout(timeout, self.recv()).await {
            Ok(Ok(Some(frame))) => Ok(frame),
            Ok(Ok(None)) => Err(Error::new(
                ErrorCode::Internal,
                "the local hub closed the connection",
            )),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(Error::new(
                ErrorCode::Internal,
                format!("no frame within {timeout:?}"),
            )),
        }
    }

    /// Waits for the first frame that `accept` takes, keeping every other frame for later `recv`s.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut accept: impl FnMut(&Frame) -> bool,
    ) -> Result<Frame, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut skipped = VecDeque::new();
        // Look at what is already buffered first.
        while let Some(frame) = self.pending.pop_front() {
            if accept(&frame) {
                skipped.append(&mut self.pending);
                self.pending = skipped;
                return Ok(frame);
            }
            skipped.push_back(frame);
        }
        let result = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_timeout(left).await {
                Ok(frame) if accept(&frame) => break Ok(frame),
                Ok(frame) => skipped.push_back(frame),
                Err(error) => break Err(error),
            }
        };
        self.pending = skipped;
        result
    }

    /// Opens a channel to `service`; returns its number and the hub's Opened, or the hub's error.
    pub async fn open(&mut self, service: Service) -> Result<(u32, Opened), Error> {
        let channel = self.next_channel;
        self.next_channel += 1;
        self.send(&Frame::json(
            protocol::CONTROL,
            kind::OPEN,
            &Open { channel, service },
        ))
        .await?;
        let frame = self
            .wait_for(DEFAULT_TIMEOUT, |frame| {
                (frame.channel == protocol::CONTROL && frame.kind == kind::OPENED)
                    || (frame.channel == channel && frame.kind == kind::ERROR)
                    || (frame.channel == protocol::CONTROL && frame.kind == kind::ERROR)
            })
            .await?;
        match frame.kind {
            kind::OPENED => Ok((channel, frame.parse()?)),
            _ => Err(error_of(&frame)),
        }
    }

    /// Closes a channel.
    pub async fn close(&mut self, channel: u32) -> Result<(), Error> {
        self.send(&Frame::json(
            protocol::CONTROL,
            kind::CLOSE,
            &Close {
                channel,
                reason: None,
            },
        ))
        .await
    }
}

/// The error an Error frame carries (or a description of an unexpected frame).
pub fn error_of(frame: &Frame) -> Error {
    match frame.parse::<ErrorBody>() {
        Ok(body) if frame.kind == kind::ERROR => Error::new(body.code, body.message),
        _ => Error::new(
            ErrorCode::Internal,
            format!(
                "unexpected frame kind 0x{:02x} on channel {}",
                frame.kind, frame.channel
            ),
        ),
    }
}
