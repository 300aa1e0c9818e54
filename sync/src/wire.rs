//! Wire format v1 of the sync protocol (PROTOCOL.md §3): the messages, their binary codec and their JSON form for test vectors.
//!
//! Decoders take untrusted bytes and never panic: every field is bounds-checked, every length limited.

use serde::{Deserialize, Serialize};

use crate::delta::Delta;
use crate::varint::{put_string, put_varint, Reader};
use crate::{Error, Limits};

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientMessage {
    /// "Send me the whole text": the first message of a client, and its answer to anything it cannot apply.
    ResyncRequest { seq: u64 },
    /// The client's unacknowledged edits, versions `n_first..`, and its acknowledgement of server versions below `m_ack`.
    Sync {
        seq: u64,
        m_ack: u64,
        n_first: u64,
        edits: Vec<Delta>,
        #[serde(with = "hex64")]
        hash: u64,
    },
}

/// An edit the server could not apply to the master text: the client's version and the text that was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub n: u64,
    pub dropped: String,
}

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    /// The answer to a Sync: client versions below `n_ack` are applied; server edits `m_first..` follow.
    Reply {
        seq: u64,
        n_ack: u64,
        m_first: u64,
        edits: Vec<Delta>,
        #[serde(with = "hex64")]
        hash: u64,
        failures: Vec<Failure>,
    },
    /// The whole text with fresh versions: client versions below `n` are in it.
    Resync {
        seq: u64,
        n: u64,
        m: u64,
        text: String,
        #[serde(with = "hex64")]
        hash: u64,
    },
    /// The master changed: sync when nothing is in flight.
    Nudge,
    /// The server refused a message; `code` is [`Error::code`].
    Error { code: u64, message: String },
}

const RESYNC_REQUEST: u8 = 0x01;
const SYNC: u8 = 0x02;
const REPLY: u8 = 0x81;
const RESYNC: u8 = 0x82;
const NUDGE: u8 = 0x83;
const ERROR: u8 = 0x84;

fn put_edits(out: &mut Vec<u8>, edits: &[Delta]) {
    put_varint(out, edits.len() as u64);
    for delta in edits {
        delta.encode_prefixed(out);
    }
}

fn read_edits(reader: &mut Reader<'_>, limits: &Limits) -> Result<Vec<Delta>, Error> {
    // Every delta takes at least its one-byte length prefix, which bounds the allocation below.
    let count = reader.count()?;
    let mut edits = Vec::with_capacity(count);
    for _ in 0..count {
        let len = reader.count()?;
        edits.push(Delta::decode(reader.take(len)?, limits.max_document_bytes)?);
    }
    Ok(edits)
}

/// Encodes a client message.
pub fn encode_client(message: &ClientMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    match message {
        ClientMessage::ResyncRequest { seq } => {
            out.push(RESYNC_REQUEST);
            put_varint(&mut out, *seq);
        }
        ClientMessage::Sync {
            seq,
            m_ack,
            n_first,
            edits,
            hash,
        } => {
            out.push(SYNC);
            put_varint(&mut out, *seq);
            put_varint(&mut out, *m_ack);
            put_varint(&mut out, *n_first);
            put_edits(&mut out, edits);
            out.extend_from_slice(&hash.to_le_bytes());
        }
    }
    out
}

/// Decodes a client message with the default limits.
pub fn decode_client(bytes: &[u8]) -> Result<ClientMessage, Error> {
    decode_client_with(bytes, &Limits::default())
}

/// Decodes a client message.
pub fn decode_client_with(bytes: &[u8], limits: &Limits) -> Result<ClientMessage, Error> {
    check_size(bytes, limits)?;
    let mut reader = Reader::new(bytes);
    let message = match reader.byte()? {
        RESYNC_REQUEST => ClientMessage::ResyncRequest {
            seq: reader.varint()?,
        },
        SYNC => ClientMessage::Sync {
            seq: reader.varint()?,
            m_ack: reader.varint()?,
            n_first: reader.varint()?,
            edits: read_edits(&mut reader, limits)?,
            hash: reader.u64_le()?,
        },
        other => return Err(Error::UnknownMessage(other)),
    };
    reader.finish()?;
    Ok(message)
}

/// Encodes a server message.
pub fn encode_server(message: &ServerMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    match message {
        ServerMessage::Reply {
            seq,
            n_ack,
            m_first,
            edits,
            hash,
            failures,
        } => {
            out.push(REPLY);
            put_varint(&mut out, *seq);
            put_varint(&mut out, *n_ack);
            put_varint(&mut out, *m_first);
            put_edits(&mut out, edits);
            out.extend_from_slice(&hash.to_le_bytes());
            put_varint(&mut out, failures.len() as u64);
            for failure in failures {
                put_varint(&mut out, failure.n);
                put_string(&mut out, &failure.dropped);
            }
        }
        ServerMessage::Resync {
            seq,
            n,
            m,
            text,
            hash,
        } => {
            out.push(RESYNC);
            put_varint(&mut out, *seq);
            put_varint(&mut out, *n);
            put_varint(&mut out, *m);
            put_string(&mut out, text);
            out.extend_from_slice(&hash.to_le_bytes());
        }
        ServerMessage::Nudge => out.push(NUDGE),
        ServerMessage::Error { code, message } => {
            out.push(ERROR);
            put_varint(&mut out, *code);
            put_string(&mut out, message);
        }
    }
    out
}

/// Decodes a server message with the default limits.
pub fn decode_server(bytes: &[u8]) -> Result<ServerMessage, Error> {
    decode_server_with(bytes, &Limits::default())
}

/// Decodes a server message.
pub fn decode_server_with(bytes: &[u8], limits: &Limits) -> Result<ServerMessage, Error> {
    check_size(bytes, limits)?;
    let mut reader = Reader::new(bytes);
    let message = match reader.byte()? {
        REPLY => {
            let seq = reader.varint()?;
            let n_ack = reader.varint()?;
            let m_first = reader.varint()?;
            let edits = read_edits(&mut reader, limits)?;
            let hash = reader.u64_le()?;
            let count = reader.count()?;
            let mut failures = Vec::with_capacity(count);
            for _ in 0..count {
                let n = reader.varint()?;
                failures.push(Failure {
                    n,
                    dropped: reader.string(limits.max_document_bytes)?.to_owned(),
                });
            }
            ServerMessage::Reply {
                seq,
                n_ack,
                m_first,
                edits,
                hash,
                failures,
            }
        }
        RESYNC => ServerMessage::Resync {
            seq: reader.varint()?,
            n: reader.varint()?,
            m: reader.varint()?,
            text: reader.string(limits.max_document_bytes)?.to_owned(),
            hash: reader.u64_le()?,
        },
        NUDGE => ServerMessage::Nudge,
        ERROR => ServerMessage::Error {
            code: reader.varint()?,
            message: reader.string(limits.max_message_bytes)?.to_owned(),
        },
        other => return Err(Error::UnknownMessage(other)),
    };
    reader.finish()?;
    Ok(message)
}

fn check_size(bytes: &[u8], limits: &Limits) -> Result<(), Error> {
    if bytes.len() > limits.max_message_bytes {
        return Err(Error::MessageTooLarge {
            size: bytes.len() as u64,
            limit: limits.max_message_bytes as u64,
        });
    }
    Ok(())
}

/// Hashes as 16 lowercase hex digits in JSON.
mod hex64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{value:016x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = String::deserialize(deserializer)?;
        u64::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let delta = Delta::splice(5, 2, 0, "é").unwrap_or_default();
        let client = ClientMessage::Sync {
            seq: 3,
            m_ack: 2,
            n_first: 7,
            edits: vec![delta.clone()],
            hash: 0x0123_4567_89ab_cdef,
        };
        assert_eq!(decode_client(&encode_client(&client)), Ok(client));
        let server = ServerMessage::Reply {
            seq: 3,
            n_ack: 8,
            m_first: 2,
            edits: vec![delta],
            hash: 42,
            failures: vec![Failure {
                n: 7,
                dropped: "lost 🍊".into(),
            }],
        };
        assert_eq!(decode_server(&encode_server(&server)), Ok(server));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(decode_client(&[]), Err(Error::Truncated));
        assert_eq!(decode_client(&[0x7f]), Err(Error::UnknownMessage(0x7f)));
        assert_eq!(
            decode_client(&[0x01, 0x05, 0x00]),
            Err(Error::TrailingBytes(1))
        );
        assert_eq!(
            decode_server(&[0x81, 1, 1, 1, 0xff, 0xff, 0x03]),
            Err(Error::Truncated)
        );
    }
}
