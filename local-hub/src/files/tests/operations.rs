//! Each operation doing what it says, and failing clearly without changing anything.

use super::*;

#[tokio::test]
async fn every_operation_works() {
    let mut hub = harness();
    assert_eq!(
        names(hub.request(1, FileOp::List { path: "".into() }).await),
        vec![
            ("a.txt".to_owned(), EntryKind::File),
            ("code".to_owned(), EntryKind::Symlink),
            ("etc".to_owned(), EntryKind::Symlink),
            ("out".to_owned(), EntryKind::Symlink),
            ("src".to_owned(), EntryKind::Directory),
        ]
    );
    // A symlink that stays inside the project can be listed through.
    assert_eq!(
        names(
            hub.request(
                2,
                FileOp::List {
                    path: "code".into()
                }
            )
            .await
        ),
        vec![("main.rs".into(), EntryKind::File)]
    );

    assert_eq!(
        hub.request(
            3,
            FileOp::Mkdir {
                path: "docs/notes/2024".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(hub.root.join("docs/notes/2024").is_dir());
    assert_eq!(
        hub.request(
            4,
            FileOp::Write {
                path: "docs/notes/2024/plan.md".into(),
                text: "# Plan\n".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert_eq!(
        std::fs::read_to_string(hub.root.join("docs/notes/2024/plan.md")).expect("read"),
        "# Plan\n"
    );
    assert_eq!(
        hub.request(
            5,
            FileOp::Read {
                path: "docs/notes/2024/plan.md".into()
            }
        )
        .await,
        FileResult::Text {
            text: "# Plan\n".into()
        }
    );
    match hub
        .request(
            6,
            FileOp::Stat {
                path: "docs/notes/2024/plan.md".into(),
            },
        )
        .await
    {
        FileResult::Stat {
            entry:
                Entry {
                    name,
                    kind: EntryKind::File,
                    size: 7,
                    modified_ms,
                },
        } => {
            assert_eq!(name, "plan.md");
            assert!(modified_ms > 1_600_000_000_000, "modified_ms {modified_ms}");
        }
        other => panic!("unexpected stat {other:?}"),
    }
    match hub.request(7, FileOp::Stat { path: "".into() }).await {
        FileResult::Stat { entry } => assert_eq!(
            (entry.name.as_str(), entry.kind),
            ("", EntryKind::Directory)
        ),
        other => panic!("unexpected stat {other:?}"),
    }
    // Overwriting keeps the file's mode.
    std::fs::set_permissions(
        hub.root.join("a.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    assert_eq!(
        hub.request(
            8,
            FileOp::Write {
                path: "a.txt".into(),
                text: "beta\n".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert_eq!(
        std::fs::read_to_string(hub.root.join("a.txt")).expect("read"),
        "beta\n"
    );
    assert_eq!(
        std::fs::metadata(hub.root.join("a.txt"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777,
        0o640
    );

    std::fs::write(hub.root.join("image.bin"), [0xff, 0x00, 0xfe, 0x01]).expect("write");
    match hub
        .request(
            9,
            FileOp::Read {
                path: "image.bin".into(),
            },
        )
        .await
    {
        FileResult::Base64 { data } => {
            assert_eq!(
                base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .expect("base64"),
                [0xff, 0x00, 0xfe, 0x01]
            );
        }
        other => panic!("expected base64, got {other:?}"),
    }

    assert_eq!(
        hub.request(
            10,
            FileOp::Rename {
                from: "docs/notes/2024/plan.md".into(),
                to: "plan.md".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(!hub.root.join("docs/notes/2024/plan.md").exists());
    assert_eq!(
        std::fs::read_to_string(hub.root.join("plan.md")).expect("read"),
        "# Plan\n"
    );
    assert_eq!(
        hub.request(
            11,
            FileOp::Rename {
                from: "docs".into(),
                to: "src/docs".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(hub.root.join("src/docs/notes/2024").is_dir());

    assert_eq!(
        hub.request(
            12,
            FileOp::Delete {
                path: "src/docs".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(!hub.root.join("src/docs").exists());
    assert_eq!(
        hub.request(
            13,
            FileOp::Delete {
                path: "plan.md".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(!hub.root.join("plan.md").exists());

    // Deleting a symlink deletes the link, never what it points to.
    assert_eq!(
        hub.request(
            14,
            FileOp::Delete {
                path: "code".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(std::fs::symlink_metadata(hub.root.join("code")).is_err());
    assert!(hub.root.join("src/main.rs").is_file());
    assert_eq!(
        hub.request(15, FileOp::Delete { path: "out".into() }).await,
        FileResult::Done
    );
    assert!(hub.outside.join("secret").is_file());
    assert_eq!(
        hub.request(16, FileOp::Delete { path: "etc".into() }).await,
        FileResult::Done
    );
    assert!(Path::new("/etc").is_dir());
    // Renaming a symlink renames the link.
    std::os::unix::fs::symlink("/etc", hub.root.join("etc")).expect("symlink");
    assert_eq!(
        hub.request(
            17,
            FileOp::Rename {
                from: "etc".into(),
                to: "system".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert_eq!(
        std::fs::read_link(hub.root.join("system")).expect("link"),
        Path::new("/etc")
    );
    // A symlink is stat'ed as itself.
    match hub
        .request(
            18,
            FileOp::Stat {
                path: "system".into(),
            },
        )
        .await
    {
        FileResult::Stat { entry } => assert_eq!(entry.kind, EntryKind::Symlink),
        other => panic!("unexpected stat {other:?}"),
    }
}

#[tokio::test]
async fn failures_are_clear_and_change_nothing() {
    let mut hub = harness();
    std::fs::write(hub.root.join("b.txt"), "bee\n").expect("write");
    let before = hub.tree();
    let cases: Vec<(FileOp, ErrorCode)> = vec![
        (
            FileOp::Read {
                path: "missing.txt".into(),
            },
            ErrorCode::NotFound,
        ),
        (FileOp::Read { path: "src".into() }, ErrorCode::Refused),
        (
            FileOp::Stat {
                path: "missing.txt".into(),
            },
            ErrorCode::NotFound,
        ),
        (
            FileOp::List {
                path: "a.txt".into(),
            },
            ErrorCode::Refused,
        ),
        (
            FileOp::List {
                path: "missing".into(),
            },
            ErrorCode::NotFound,
        ),
        (
            FileOp::Write {
                path: "src".into(),
                text: "x".into(),
            },
            ErrorCode::Refused,
        ),
        (
            FileOp::Write {
                path: "nofolder/x.txt".into(),
                text: "x".into(),
            },
            ErrorCode::NotFound,
        ),
        (
            FileOp::Mkdir { path: "src".into() },
            ErrorCode::AlreadyExists,
        ),
        (
            FileOp::Mkdir {
                path: "a.txt".into(),
            },
            ErrorCode::AlreadyExists,
        ),
        (
            FileOp::Mkdir {
                path: "a.txt/sub".into(),
            },
            ErrorCode::Refused,
        ),
        (
            FileOp::Rename {
                from: "a.txt".into(),
                to: "b.txt".into(),
            },
            ErrorCode::AlreadyExists,
        ),
        (
            FileOp::Rename {
                from: "a.txt".into(),
                to: "src".into(),
            },
            ErrorCode::AlreadyExists,
        ),
        (
            FileOp::Rename {
                from: "missing".into(),
                to: "c.txt".into(),
            },
            ErrorCode::NotFound,
        ),
        (
            FileOp::Rename {
                from: "missing".into(),
                to: "nofolder/c.txt".into(),
            },
            ErrorCode::NotFound,
        ),
        (
            FileOp::Rename {
                from: "src".into(),
                to: "src/inner".into(),
            },
            ErrorCode::Refused,
        ),
        (
            FileOp::Delete {
                path: "missing".into(),
            },
            ErrorCode::NotFound,
        ),
        (FileOp::Delete { path: "".into() }, ErrorCode::Refused),
        (FileOp::Delete { path: ".".into() }, ErrorCode::Refused),
        (
            FileOp::Rename {
                from: "".into(),
                to: "elsewhere".into(),
            },
            ErrorCode::Refused,
        ),
        (
            FileOp::Read {
                path: "x".repeat(5000),
            },
            ErrorCode::Malformed,
        ),
        (FileOp::Upload { path: "src".into() }, ErrorCode::Refused),
        (
            FileOp::Upload {
                path: "nofolder/x".into(),
            },
            ErrorCode::NotFound,
        ),
        (FileOp::UploadEnd, ErrorCode::NotFound),
    ];
    for (id, (op, code)) in (1..).zip(cases) {
        let result = hub.request(id, op.clone()).await;
        match &result {
            FileResult::Error { code: got, message } => {
                assert_eq!(*got, code, "{op:?}: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("{op:?} should fail with {code:?}, got {other:?}"),
        }
    }
    let (bytes, result) = hub.download(100, "missing").await;
    assert_eq!(
        (bytes.len(), error_code(&result)),
        (0, Some(ErrorCode::NotFound))
    );
    let (bytes, result) = hub.download(101, "src").await;
    assert_eq!(
        (bytes.len(), error_code(&result)),
        (0, Some(ErrorCode::Refused))
    );
    assert_eq!(hub.tree(), before);
}

#[tokio::test]
async fn special_files_are_refused_without_blocking() {
    let mut hub = harness();
    nix::unistd::mkfifo(
        &hub.root.join("pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .expect("mkfifo");
    let result = hub
        .request(
            1,
            FileOp::Read {
                path: "pipe".into(),
            },
        )
        .await;
    assert_eq!(error_code(&result), Some(ErrorCode::Refused));
    let (bytes, result) = hub.download(2, "pipe").await;
    assert_eq!(
        (bytes.len(), error_code(&result)),
        (0, Some(ErrorCode::Refused))
    );
    match hub
        .request(
            3,
            FileOp::Stat {
                path: "pipe".into(),
            },
        )
        .await
    {
        FileResult::Stat { entry } => assert_eq!(entry.kind, EntryKind::Other),
        other => panic!("unexpected stat {other:?}"),
    }
}
