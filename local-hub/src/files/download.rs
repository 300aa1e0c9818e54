//! One download: the file streamed as FILE_DATA chunks from its own task, then one response with its size.
//! `ChannelSink::send` waits for room in the connection's bounded queue, so a slow reader slows the download down
//! and memory stays at a few chunks.

use std::path::PathBuf;

use tokio::io::AsyncReadExt;

use super::operations::{regular_file, shown};
use super::{answer, blocking, write_varint, CHUNK_BYTES};
use crate::paths::resolve;
use crate::protocol::{kind, FileResult};
use crate::{ChannelSink, Error};

/// Streams `relative` to the client under request `id`, then answers `Transferred` (or the error that stopped it:
/// the client then discards the chunks it got).
pub async fn run(root: PathBuf, id: u64, relative: String, sink: ChannelSink) {
    let result = stream(root, id, &relative, &sink).await;
    if sink.is_closed() {
        return;
    }
    answer(
        &sink,
        id,
        result.map(|bytes| FileResult::Transferred { bytes }),
    )
    .await;
}

async fn stream(root: PathBuf, id: u64, relative: &str, sink: &ChannelSink) -> Result<u64, Error> {
    let opened = relative.to_owned();
    let file = blocking(move || {
        let path = resolve(&root, &opened)?;
        let metadata =
            std::fs::metadata(&path).map_err(|error| Error::io(&shown(&opened), &error))?;
        // Checked before opening: opening a FIFO would block.
        regular_file(&opened, &metadata)?;
        std::fs::File::open(&path).map_err(|error| Error::io(&shown(&opened), &error))
    })
    .await?;
    let mut file = tokio::fs::File::from_std(file);
    let mut header = Vec::with_capacity(10);
    write_varint(&mut header, id);
    let mut sent: u64 = 0;
    loop {
        let mut body = vec![0u8; header.len() + CHUNK_BYTES];
        body[..header.len()].copy_from_slice(&header);
        let mut filled = 0;
        while filled < CHUNK_BYTES {
            let read = file
                .read(&mut body[header.len() + filled..])
                .await
                .map_err(|error| Error::io(&shown(relative), &error))?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        if filled == 0 {
            break;
        }
        body.truncate(header.len() + filled);
        if !sink.send(kind::FILE_DATA, body).await {
            return Err(Error::internal("the connection closed during the download"));
        }
        sent += filled as u64;
        if filled < CHUNK_BYTES {
            break;
        }
    }
    Ok(sent)
}
