//! The local hub's one error type: every failure a client can cause maps to a protocol error code and a message.

use crate::protocol::{ErrorCode, Frame};

/// A failure to report on a channel; never a reason to drop the connection or the hub.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn malformed(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Malformed, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Internal, message)
    }

    /// An I/O error on `what`, with the code a client can act on.
    pub fn io(what: &str, error: &std::io::Error) -> Error {
        let code = match error.kind() {
            std::io::ErrorKind::NotFound => ErrorCode::NotFound,
            std::io::ErrorKind::AlreadyExists => ErrorCode::AlreadyExists,
            std::io::ErrorKind::PermissionDenied => ErrorCode::Refused,
            _ => ErrorCode::Refused,
        };
        Error::new(code, format!("{what}: {error}"))
    }

    /// This error as a frame on `channel`.
    pub fn frame(&self, channel: u32) -> Frame {
        Frame::error(channel, self.code, self.message.clone())
    }
}

impl From<crate::protocol::ProtocolError> for Error {
    fn from(error: crate::protocol::ProtocolError) -> Error {
        match error {
            crate::protocol::ProtocolError::TooLarge { .. } => {
                Error::new(ErrorCode::TooLarge, error.to_string())
            }
            crate::protocol::ProtocolError::Malformed(_) => {
                Error::new(ErrorCode::Malformed, error.to_string())
            }
        }
    }
}
