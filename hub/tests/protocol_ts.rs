//! The TypeScript mirror of the browser protocol types, `web/src/protocol/hub.ts`, is generated from
//! `hub/src/browser.rs`; this test fails when the two drift apart.
//! `UPDATE_PROTOCOL_TS=1 cargo test -p orrery-hub --test protocol_ts` rewrites it.
#![allow(clippy::expect_used)]

#[test]
fn typescript_mirror_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/src/protocol/hub.ts");
    let generated = orrery_hub::browser::typescript();
    if std::env::var("UPDATE_PROTOCOL_TS").is_ok() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &generated).expect("write");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with hub/src/browser.rs: run UPDATE_PROTOCOL_TS=1 cargo test -p orrery-hub --test protocol_ts",
        path.display()
    );
}
