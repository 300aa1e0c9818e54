//! Uploads and downloads: round trips, limits, abandoned uploads, one answer per request.

use super::*;

#[tokio::test]
async fn uploads_over_the_limit_leave_nothing() {
    let mut hub = harness_with(64, 1000);
    let before = hub.tree();
    hub.send(
        1,
        FileOp::Upload {
            path: "a.txt".into(),
        },
    )
    .await;
    hub.data(1, &[b'z'; 600]).await;
    hub.data(1, &[b'z'; 600]).await;
    let response = hub.response().await;
    assert_eq!(
        (response.id, error_code(&response.result)),
        (1, Some(ErrorCode::TooLarge))
    );
    // The rest of that upload is dropped without another answer.
    hub.data(1, &[b'z'; 10]).await;
    hub.send(1, FileOp::UploadEnd).await;
    assert!(hub.frames.try_recv().is_err());
    assert_eq!(hub.tree(), before);
    // Exactly at the limit is fine.
    let result = hub.upload(2, "a.txt", &[b'q'; 1000], 300).await;
    assert_eq!(result, FileResult::Transferred { bytes: 1000 });
    assert_eq!(
        std::fs::read(hub.root.join("a.txt")).expect("read"),
        vec![b'q'; 1000]
    );
}

fn sink_nowhere() -> ChannelSink {
    ChannelSink::new(0, 0, mpsc::channel(1).0)
}

#[tokio::test]
async fn a_large_file_round_trips_through_upload_and_download() {
    let mut hub = harness();
    let content = noise(20 << 20, 0x9e37_79b9_7f4a_7c15);
    // Chunks of an odd size, so they never line up with the download's.
    let result = hub.upload(1, "src/data.bin", &content, 100_003).await;
    assert_eq!(
        result,
        FileResult::Transferred {
            bytes: content.len() as u64
        }
    );
    assert!(
        std::fs::read(hub.root.join("src/data.bin")).expect("read") == content,
        "uploaded bytes differ"
    );
    let leftovers: Vec<String> = snapshot_names(&hub.root.join("src"))
        .into_iter()
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let (bytes, result) = hub.download(2, "src/data.bin").await;
    assert_eq!(
        result,
        FileResult::Transferred {
            bytes: content.len() as u64
        }
    );
    assert!(bytes == content, "downloaded bytes differ");

    // An upload replaces an existing file whole, keeping its mode.
    std::fs::set_permissions(
        hub.root.join("a.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    assert_eq!(
        hub.upload(3, "a.txt", b"replaced", 3).await,
        FileResult::Transferred { bytes: 8 }
    );
    assert_eq!(
        std::fs::read(hub.root.join("a.txt")).expect("read"),
        b"replaced"
    );
    assert_eq!(
        std::fs::metadata(hub.root.join("a.txt"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // An empty upload makes an empty file; an empty download sends no chunk.
    assert_eq!(
        hub.upload(4, "empty", b"", 1).await,
        FileResult::Transferred { bytes: 0 }
    );
    assert_eq!(
        hub.download(5, "empty").await,
        (Vec::new(), FileResult::Transferred { bytes: 0 })
    );
}

#[tokio::test]
async fn a_download_through_a_short_queue_waits_for_its_reader() {
    // A queue of four frames: every send of the download has to wait for the reader.
    let mut hub = harness_with(4, MAX_UPLOAD_BYTES);
    let content = noise(2 << 20, 11);
    std::fs::write(hub.root.join("data.bin"), &content).expect("write");
    hub.send(
        1,
        FileOp::Download {
            path: "data.bin".into(),
        },
    )
    .await;
    let mut bytes = Vec::new();
    loop {
        let frame = hub.frames.recv().await.expect("a frame");
        if frame.kind == kind::FILE_RESPONSE {
            let response: FileResponse = frame.parse().expect("response");
            assert_eq!(
                response.result,
                FileResult::Transferred {
                    bytes: content.len() as u64
                }
            );
            break;
        }
        bytes.extend_from_slice(read_varint(&frame.body).expect("id").1);
        tokio::task::yield_now().await;
    }
    assert!(bytes == content);
}

#[tokio::test]
async fn an_abandoned_upload_leaves_nothing() {
    let mut hub = harness();
    let before = hub.tree();
    hub.send(
        1,
        FileOp::Upload {
            path: "src/partial.bin".into(),
        },
    )
    .await;
    hub.data(1, &noise(200_000, 5)).await;
    hub.send(
        2,
        FileOp::Upload {
            path: "a.txt".into(),
        },
    )
    .await;
    hub.data(2, b"half of a new a.txt").await;
    assert_ne!(
        hub.tree(),
        before,
        "the uploads' temporary files exist while they run"
    );
    let files = std::mem::replace(
        &mut hub.files,
        FileChannel::new(PathBuf::new(), sink_nowhere()),
    );
    files.close().await;
    assert_eq!(hub.tree(), before);

    // A channel dropped without close (its connection task ended) leaves nothing either.
    let (tx, _frames) = mpsc::channel(8);
    let mut files = FileChannel::new(hub.root.clone(), ChannelSink::new(1, CHANNEL, tx));
    files
        .handle(&Frame::json(
            CHANNEL,
            kind::FILE_REQUEST,
            &FileRequest {
                id: 3,
                op: FileOp::Upload { path: "x".into() },
            },
        ))
        .await
        .expect("upload");
    drop(files);
    assert_eq!(hub.tree(), before);
}

#[tokio::test]
async fn upload_bookkeeping_answers_each_request_once() {
    let mut hub = harness();
    // Data for an upload that never started: one answer, then silence for the rest of it.
    hub.data(9, b"stray").await;
    let response = hub.response().await;
    assert_eq!(
        (response.id, error_code(&response.result)),
        (9, Some(ErrorCode::NotFound))
    );
    hub.data(9, b"more").await;
    hub.send(9, FileOp::UploadEnd).await;
    assert!(hub.frames.try_recv().is_err());
    // Starting an upload under an id already running drops the first: one error, no file.
    hub.send(
        1,
        FileOp::Upload {
            path: "twice.txt".into(),
        },
    )
    .await;
    hub.data(1, b"first").await;
    let result = hub
        .request(
            1,
            FileOp::Upload {
                path: "twice.txt".into(),
            },
        )
        .await;
    assert_eq!(error_code(&result), Some(ErrorCode::AlreadyExists));
    hub.data(1, b"ignored").await;
    hub.send(1, FileOp::UploadEnd).await;
    assert!(hub.frames.try_recv().is_err());
    assert!(!hub.root.join("twice.txt").exists());
    // The id can then be used again.
    assert_eq!(
        hub.upload(1, "twice.txt", b"second", 4).await,
        FileResult::Transferred { bytes: 6 }
    );
    assert_eq!(
        std::fs::read(hub.root.join("twice.txt")).expect("read"),
        b"second"
    );
}

#[test]
fn varints_round_trip() {
    for value in [0, 1, 127, 128, 300, 1 << 35, u64::MAX] {
        let mut bytes = Vec::new();
        write_varint(&mut bytes, value);
        bytes.push(0xaa);
        assert_eq!(read_varint(&bytes), Some((value, [0xaa].as_slice())));
    }
    assert_eq!(read_varint(&[]), None);
    assert_eq!(read_varint(&[0x80, 0x80]), None);
    assert_eq!(read_varint(&[0xff; 11]), None);
    assert_eq!(
        read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
        None
    );
}
