//! The one error type of the sync engine.

/// Everything that can go wrong in the sync engine; every variant is reachable from input and none panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A varint was overlong, unterminated, or above 2^53 - 1.
    #[error("bad varint: {0}")]
    BadVarint(&'static str),
    /// A delta op header had kind 3 or a zero length.
    #[error("bad delta op: {0}")]
    BadOp(&'static str),
    /// A delta was not in canonical form (adjacent ops of one kind, or an insert before a delete).
    #[error("delta is not canonical: {0}")]
    NonCanonical(&'static str),
    /// Inserted or transmitted text was not valid UTF-8.
    #[error("text is not valid UTF-8")]
    BadUtf8,
    /// A delta's retained and deleted lengths do not add up to the length of the text it applies to.
    #[error("delta covers {delta} code points but the text has {text}")]
    LengthMismatch { delta: u64, text: u64 },
    /// A splice reached past the end of the text.
    #[error("edit at {pos}+{del} is outside a text of {len} code points")]
    OutOfRange { pos: u64, del: u64, len: u64 },
    /// A document or message went over its size limit.
    #[error("document too large: {size} bytes, the limit is {limit}")]
    DocumentTooLarge { size: u64, limit: u64 },
    /// A message went over the message size limit.
    #[error("message too large: {size} bytes, the limit is {limit}")]
    MessageTooLarge { size: u64, limit: u64 },
    /// A message ended before its last field.
    #[error("message truncated")]
    Truncated,
    /// A message had bytes after its last field.
    #[error("message has {0} trailing bytes")]
    TrailingBytes(usize),
    /// The first byte of a message named no known message type.
    #[error("unknown message type 0x{0:02x}")]
    UnknownMessage(u8),
    /// A message was valid but not one this side accepts now (e.g. a Resync nobody asked for).
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
    /// diff-match-patch failed (it reports errors rather than panicking on the inputs we give it).
    #[error("diff-match-patch failed: {0}")]
    Diff(String),
}

impl Error {
    /// The stable name both engines use in test vectors and wire `Error` messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::BadVarint(_) => "BadVarint",
            Error::BadOp(_) => "BadOp",
            Error::NonCanonical(_) => "NonCanonical",
            Error::BadUtf8 => "BadUtf8",
            Error::LengthMismatch { .. } => "LengthMismatch",
            Error::OutOfRange { .. } => "OutOfRange",
            Error::DocumentTooLarge { .. } => "DocumentTooLarge",
            Error::MessageTooLarge { .. } => "MessageTooLarge",
            Error::Truncated => "Truncated",
            Error::TrailingBytes(_) => "TrailingBytes",
            Error::UnknownMessage(_) => "UnknownMessage",
            Error::Unexpected(_) => "Unexpected",
            Error::Diff(_) => "Diff",
        }
    }

    /// The numeric code carried by a wire `Error` message.
    pub fn code(&self) -> u64 {
        match self {
            Error::BadVarint(_) => 1,
            Error::BadOp(_) => 2,
            Error::NonCanonical(_) => 3,
            Error::BadUtf8 => 4,
            Error::LengthMismatch { .. } => 5,
            Error::OutOfRange { .. } => 6,
            Error::DocumentTooLarge { .. } => 7,
            Error::Truncated => 8,
            Error::TrailingBytes(_) => 9,
            Error::UnknownMessage(_) => 10,
            Error::Unexpected(_) => 11,
            Error::Diff(_) => 12,
            // 13 is retired: it named a bad editing trace, which is test data, not a wire error.
            Error::MessageTooLarge { .. } => 14,
        }
    }
}
