//! Nothing outside the project is reached: `..`, absolute paths, symlinks that leave, the history folder, malformed
//! and oversized requests.

use super::*;

#[tokio::test]
async fn escapes_are_refused_and_change_nothing() {
    let mut hub = harness();
    let before = hub.tree();
    let etc_before = snapshot_names(Path::new("/etc"));
    let escapes = vec![
        FileOp::List { path: "..".into() },
        FileOp::List { path: "/".into() },
        FileOp::List { path: "etc".into() },
        FileOp::List { path: "out".into() },
        FileOp::Stat {
            path: "../outside/secret".into(),
        },
        FileOp::Stat {
            path: "/etc/passwd".into(),
        },
        FileOp::Stat {
            path: "out/secret".into(),
        },
        FileOp::Read {
            path: "../outside/secret".into(),
        },
        FileOp::Read {
            path: "src/../../outside/secret".into(),
        },
        FileOp::Read {
            path: "/etc/passwd".into(),
        },
        FileOp::Read {
            path: "etc/passwd".into(),
        },
        FileOp::Read {
            path: "out/secret".into(),
        },
        FileOp::Read {
            path: "a.txt\0/x".into(),
        },
        FileOp::Write {
            path: "../outside/new".into(),
            text: "x".into(),
        },
        FileOp::Write {
            path: "/tmp/orrery-escape".into(),
            text: "x".into(),
        },
        FileOp::Write {
            path: "out/secret".into(),
            text: "overwritten".into(),
        },
        FileOp::Write {
            path: "out/new".into(),
            text: "x".into(),
        },
        FileOp::Write {
            path: "etc/orrery-escape".into(),
            text: "x".into(),
        },
        FileOp::Mkdir {
            path: "../outside/made".into(),
        },
        FileOp::Mkdir {
            path: "out/made".into(),
        },
        FileOp::Mkdir {
            path: "etc/orrery-escape".into(),
        },
        FileOp::Rename {
            from: "a.txt".into(),
            to: "../outside/a.txt".into(),
        },
        FileOp::Rename {
            from: "a.txt".into(),
            to: "out/a.txt".into(),
        },
        FileOp::Rename {
            from: "out/secret".into(),
            to: "stolen".into(),
        },
        FileOp::Rename {
            from: "../outside/secret".into(),
            to: "stolen".into(),
        },
        FileOp::Delete {
            path: "../outside/secret".into(),
        },
        FileOp::Delete {
            path: "out/secret".into(),
        },
        FileOp::Delete { path: "..".into() },
        FileOp::Delete {
            path: "/tmp".into(),
        },
        FileOp::Delete {
            path: "etc/hostname".into(),
        },
        FileOp::Upload {
            path: "out/uploaded".into(),
        },
        FileOp::Upload {
            path: "../outside/uploaded".into(),
        },
    ];
    for (id, op) in (1..).zip(escapes) {
        let result = hub.request(id, op.clone()).await;
        assert_eq!(
            error_code(&result),
            Some(ErrorCode::OutsideProject),
            "{op:?} gave {result:?}"
        );
    }
    // Data sent to the refused uploads is dropped without another answer; their ends get none either.
    hub.data(31, b"payload").await;
    hub.send(31, FileOp::UploadEnd).await;
    for path in [
        "out/secret",
        "../outside/secret",
        "etc/passwd",
        "/etc/passwd",
    ] {
        let (bytes, result) = hub.download(200, path).await;
        assert_eq!(
            (bytes.len(), error_code(&result)),
            (0, Some(ErrorCode::OutsideProject)),
            "{path}"
        );
    }
    assert!(
        hub.frames.try_recv().is_err(),
        "no frame beyond the one answer per request"
    );
    assert_eq!(hub.tree(), before);
    assert_eq!(snapshot_names(Path::new("/etc")), etc_before);
}

#[tokio::test]
async fn the_history_folder_is_readable_but_not_changeable() {
    let mut hub = harness();
    std::fs::create_dir_all(hub.root.join(".orrery/history")).expect("mkdir");
    std::fs::write(hub.root.join(".orrery/history/a.txt.log"), "v1\n").expect("write");
    std::os::unix::fs::symlink(hub.root.join(".orrery"), hub.root.join("history-link"))
        .expect("symlink");
    let before = hub.tree();
    assert_eq!(
        names(
            hub.request(
                1,
                FileOp::List {
                    path: ".orrery".into()
                }
            )
            .await
        ),
        vec![("history".into(), EntryKind::Directory)]
    );
    assert_eq!(
        hub.request(
            2,
            FileOp::Read {
                path: ".orrery/history/a.txt.log".into()
            }
        )
        .await,
        FileResult::Text {
            text: "v1\n".into()
        }
    );
    let (bytes, result) = hub.download(3, ".orrery/history/a.txt.log").await;
    assert_eq!(
        (bytes.as_slice(), result),
        (b"v1\n".as_slice(), FileResult::Transferred { bytes: 3 })
    );
    let refused = vec![
        FileOp::Delete {
            path: ".orrery".into(),
        },
        FileOp::Delete {
            path: ".orrery/history/a.txt.log".into(),
        },
        FileOp::Delete {
            path: "history-link/history".into(),
        },
        FileOp::Rename {
            from: ".orrery".into(),
            to: "old-history".into(),
        },
        FileOp::Rename {
            from: ".orrery/history".into(),
            to: "h".into(),
        },
        FileOp::Rename {
            from: "a.txt".into(),
            to: ".orrery/a.txt".into(),
        },
        FileOp::Write {
            path: ".orrery/history/a.txt.log".into(),
            text: "forged\n".into(),
        },
        FileOp::Write {
            path: "history-link/new".into(),
            text: "forged\n".into(),
        },
        FileOp::Mkdir {
            path: ".orrery/more".into(),
        },
        FileOp::Upload {
            path: ".orrery/uploaded".into(),
        },
    ];
    for (id, op) in (10..).zip(refused) {
        let result = hub.request(id, op.clone()).await;
        assert_eq!(
            error_code(&result),
            Some(ErrorCode::Refused),
            "{op:?} gave {result:?}"
        );
    }
    assert_eq!(hub.tree(), before);
}

#[tokio::test]
async fn malformed_and_oversized_requests_change_nothing() {
    let mut hub = harness();
    let before = hub.tree();
    // Unparseable and without an id: the error goes on the channel (the connection sends it).
    let error = hub
        .files
        .handle(&Frame::new(
            CHANNEL,
            kind::FILE_REQUEST,
            b"{not json".to_vec(),
        ))
        .await;
    assert_eq!(error.map_err(|error| error.code), Err(ErrorCode::Malformed));
    // With an id: answered as that request's failure.
    for (id, body) in [
        (41, r#"{"id":41,"op":"explode","path":"a.txt"}"#),
        (42, r#"{"id":42,"op":"delete"}"#),
        (43, r#"{"id":43,"op":"write","path":"a.txt","text":17}"#),
    ] {
        hub.files
            .handle(&Frame::new(
                CHANNEL,
                kind::FILE_REQUEST,
                body.as_bytes().to_vec(),
            ))
            .await
            .expect("answered");
        let response = hub.response().await;
        assert_eq!(
            (response.id, error_code(&response.result)),
            (id, Some(ErrorCode::Malformed)),
            "{body}"
        );
    }
    let error = hub
        .files
        .handle(&Frame::new(CHANNEL, kind::FILE_DATA, vec![0x80]))
        .await;
    assert_eq!(error.map_err(|error| error.code), Err(ErrorCode::Malformed));
    let error = hub
        .files
        .handle(&Frame::new(CHANNEL, kind::INPUT, b"ls\r".to_vec()))
        .await;
    assert_eq!(
        error.map_err(|error| error.code),
        Err(ErrorCode::UnknownChannel)
    );

    let huge = "x".repeat(MAX_READ_BYTES as usize + 1);
    let result = hub
        .request(
            50,
            FileOp::Write {
                path: "a.txt".into(),
                text: huge,
            },
        )
        .await;
    assert_eq!(error_code(&result), Some(ErrorCode::TooLargeToEdit));
    assert_eq!(hub.tree(), before);

    std::fs::write(
        hub.root.join("big.bin"),
        vec![b'y'; MAX_READ_BYTES as usize + 1],
    )
    .expect("write");
    let result = hub
        .request(
            51,
            FileOp::Read {
                path: "big.bin".into(),
            },
        )
        .await;
    assert_eq!(error_code(&result), Some(ErrorCode::TooLargeToEdit));
    // A binary file that is under the read limit but whose base64 would not fit in a frame.
    std::fs::write(
        hub.root.join("big.bin"),
        noise(MAX_READ_BYTES as usize - 1, 3),
    )
    .expect("write");
    let result = hub
        .request(
            52,
            FileOp::Read {
                path: "big.bin".into(),
            },
        )
        .await;
    assert_eq!(error_code(&result), Some(ErrorCode::TooLargeToEdit));
}
