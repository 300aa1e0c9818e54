//! Where a service writes: the outgoing side of one channel of one connection.

use serde::Serialize;
use tokio::sync::mpsc;

use crate::protocol::Frame;
use crate::Error;

/// Frames for one channel of one connection. Cheap to clone; every clone writes to the same connection.
#[derive(Debug, Clone)]
pub struct ChannelSink {
    /// The connection's id (from its Welcome).
    pub connection: u64,
    pub channel: u32,
    tx: mpsc::Sender<Frame>,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySendError {
    /// The connection's queue is full: the peer reads slower than we write.
    Full,
    /// The connection is gone.
    Closed,
}

impl ChannelSink {
    pub fn new(connection: u64, channel: u32, tx: mpsc::Sender<Frame>) -> ChannelSink {
        ChannelSink {
            connection,
            channel,
            tx,
        }
    }

    /// Queues a frame, waiting for room; false when the connection is gone.
    pub async fn send(&self, kind: u8, body: Vec<u8>) -> bool {
        self.tx
            .send(Frame::new(self.channel, kind, body))
            .await
            .is_ok()
    }

    /// Queues a frame without waiting.
    pub fn try_send(&self, kind: u8, body: Vec<u8>) -> Result<(), TrySendError> {
        self.tx
            .try_send(Frame::new(self.channel, kind, body))
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => TrySendError::Full,
                mpsc::error::TrySendError::Closed(_) => TrySendError::Closed,
            })
    }

    /// Queues a frame with a JSON body.
    pub async fn json<T: Serialize>(&self, kind: u8, value: &T) -> bool {
        self.tx
            .send(Frame::json(self.channel, kind, value))
            .await
            .is_ok()
    }

    /// Reports an error on this channel.
    pub async fn error(&self, error: &Error) -> bool {
        self.tx.send(error.frame(self.channel)).await.is_ok()
    }

    /// True once the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}
