//! Embeds the web app's built files (`web/dist`, made by `npm run build` in `web/`) into the hub, so one binary serves
//! everything. Without a build the hub still compiles and serves a page saying how to make one.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = manifest.join("../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    } else {
        println!("cargo:warning=web/dist has no index.html: the hub will serve no web app (run `npm ci && npm run build` in web/ first)");
    }
    files.sort();
    let mut code = String::from("/// The web app's files: path relative to `web/dist`, and content.\npub(crate) static FILES: &[(&str, &[u8])] = &[\n");
    for (relative, absolute) in &files {
        let _ = writeln!(code, "    ({relative:?}, include_bytes!({absolute:?})),");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("web_assets.rs");
    if let Err(error) = std::fs::write(&out, code) {
        panic!("cannot write {}: {error}", out.display());
    }
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let absolute = path.canonicalize().unwrap_or(path.clone());
            files.push((
                relative.to_string_lossy().replace('\\', "/"),
                absolute.to_string_lossy().into_owned(),
            ));
        }
    }
}
