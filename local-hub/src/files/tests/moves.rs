//! Renames that move an entry into folders that do not exist yet: the folders are made, inside the project only,
//! never over an existing entry, and undone when the move does not happen.

use super::*;
use crate::files::operations::Folders;

#[tokio::test]
async fn a_rename_makes_the_folders_it_moves_into() {
    let mut hub = harness();
    assert_eq!(
        hub.request(
            1,
            FileOp::Rename {
                from: "a.txt".into(),
                to: "data/2024/notes.txt".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(!hub.root.join("a.txt").exists());
    assert_eq!(
        std::fs::read_to_string(hub.root.join("data/2024/notes.txt")).expect("read"),
        "alpha\n"
    );
    // A folder moves the same way, with what is in it; through a symlink that stays inside, into its target.
    assert_eq!(
        hub.request(
            2,
            FileOp::Rename {
                from: "data".into(),
                to: "code/archive/data".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert_eq!(
        std::fs::read_to_string(hub.root.join("src/archive/data/2024/notes.txt")).expect("read"),
        "alpha\n"
    );
    assert!(std::fs::symlink_metadata(hub.root.join("code")).is_ok_and(|meta| meta.is_symlink()));
}

#[tokio::test]
async fn a_refused_rename_makes_no_folder() {
    let mut hub = harness();
    std::fs::write(hub.root.join("hello.py"), "print('hi')\n").expect("write");
    let before = hub.tree();
    let cases = vec![
        // Never over an existing entry, wherever it is.
        ("a.txt", "hello.py", ErrorCode::AlreadyExists),
        ("a.txt", "src/main.rs", ErrorCode::AlreadyExists),
        // The source is checked before anything is made.
        ("missing.txt", "made/missing.txt", ErrorCode::NotFound),
        // A file is not a folder to move into.
        ("a.txt", "hello.py/inner/a.txt", ErrorCode::Refused),
        ("src", "src/deeper/src", ErrorCode::Refused),
        ("a.txt", ".orrery/made/a.txt", ErrorCode::Refused),
        // Out of the project, by `..`, an absolute path or a symlink that leaves it.
        ("a.txt", "../made/a.txt", ErrorCode::OutsideProject),
        ("a.txt", "made/../../a.txt", ErrorCode::OutsideProject),
        ("a.txt", "/tmp/orrery-made/a.txt", ErrorCode::OutsideProject),
        ("a.txt", "out/made/a.txt", ErrorCode::OutsideProject),
        ("a.txt", "etc/orrery-made/a.txt", ErrorCode::OutsideProject),
    ];
    for (id, (from, to, code)) in (1..).zip(cases) {
        let result = hub
            .request(
                id,
                FileOp::Rename {
                    from: from.into(),
                    to: to.into(),
                },
            )
            .await;
        assert_eq!(
            error_code(&result),
            Some(code),
            "{from} -> {to}: {result:?}"
        );
    }
    assert_eq!(hub.tree(), before);
    assert_eq!(snapshot_names(&hub.outside), vec!["secret".to_owned()]);
    assert!(!Path::new("/tmp/orrery-made").exists());
    assert!(!Path::new("/etc/orrery-made").exists());
    assert!(!hub.root.parent().expect("parent").join("made").exists());
}

#[tokio::test]
async fn the_message_quotes_the_name_exactly() {
    let mut hub = harness();
    std::fs::write(hub.root.join("hello.py"), "").expect("write");
    match hub
        .request(
            1,
            FileOp::Rename {
                from: "a.txt".into(),
                to: "hello.py".into(),
            },
        )
        .await
    {
        FileResult::Error { message, .. } => assert_eq!(message, "\"hello.py\" already exists"),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A symlink swapped in after the path was checked (the project's own programs can race the hub) does not lead the
/// walk out: the folders are opened one by one without following links.
#[test]
fn the_walk_never_follows_a_symlink() {
    let hub = harness();
    // As if `resolve` had seen `swapped/` as a folder and it became a link to the outside just after.
    std::os::unix::fs::symlink(&hub.outside, hub.root.join("swapped")).expect("symlink");
    let walked = Folders::make(&hub.root, &hub.root.join("swapped/made"), "swapped/made/x");
    assert_eq!(
        walked.err().map(|error| error.code),
        Some(ErrorCode::Refused)
    );
    assert_eq!(snapshot_names(&hub.outside), vec!["secret".to_owned()]);
    // The same with a link to a folder inside: still refused, since the path was meant to be free of links.
    let walked = Folders::make(&hub.root, &hub.root.join("code/made"), "code/made/x");
    assert_eq!(
        walked.err().map(|error| error.code),
        Some(ErrorCode::Refused)
    );
    assert!(!hub.root.join("src/made").exists());
    // A path that is not under the root at all is refused before anything is opened.
    let walked = Folders::make(&hub.root, &hub.outside.join("made"), "made");
    assert_eq!(
        walked.err().map(|error| error.code),
        Some(ErrorCode::OutsideProject)
    );
    assert_eq!(snapshot_names(&hub.outside), vec!["secret".to_owned()]);
}

#[test]
fn folders_made_for_a_move_that_did_not_happen_are_removed() {
    let hub = harness();
    std::fs::create_dir(hub.root.join("kept")).expect("mkdir");
    let walked =
        Folders::make(&hub.root, &hub.root.join("kept/one/two"), "kept/one/two/x").expect("walk");
    assert!(hub.root.join("kept/one/two").is_dir());
    drop(walked);
    assert!(!hub.root.join("kept/one").exists());
    assert!(
        hub.root.join("kept").is_dir(),
        "a folder that was there stays"
    );
    let walked =
        Folders::make(&hub.root, &hub.root.join("made/here"), "made/here/x").expect("walk");
    walked.keep();
    assert!(hub.root.join("made/here").is_dir());
}
