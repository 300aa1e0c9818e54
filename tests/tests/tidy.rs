//! Tidy: the repository's shape, checked under `cargo test` so CI and a developer see the same thing.
//! Every crate root opens with a `//!` paragraph, ARCHITECTURE.md has a section per top-level folder, the README opens with its two commands, source files stay small, and no test is switched off.
//! Each check lists every offender with its path, so one run is enough to fix them all.

use std::fs;
use std::path::{Path, PathBuf};

/// Source files may grow to this many lines; past it, split the file by the nouns it owns (STYLE.md).
const MAX_SOURCE_LINES: usize = 800;

/// Generated files are exempt from the size limit, by path from the repository root; none exist yet.
const GENERATED: &[&str] = &[];

/// Folders that are build output or installed packages, never ours to check.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", "dist"];

fn repo_root() -> PathBuf {
    let tests_crate = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests_crate
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent folder", tests_crate.display()))
        .to_path_buf()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

fn relative(path: &Path) -> String {
    let root = repo_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Panics with every problem found, one per line, under a heading that says which rule they break.
fn report(rule: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{rule}:\n  {}\n",
        problems.join("\n  ")
    );
}

/// The `members` of the root Cargo.toml's `[workspace]`, as written there (folder paths).
fn workspace_members() -> Vec<String> {
    let manifest = read(&repo_root().join("Cargo.toml"));
    let start = manifest
        .find("\nmembers")
        .unwrap_or_else(|| panic!("Cargo.toml: no `members = [...]` in [workspace]"));
    let list = &manifest[start..];
    let open = list
        .find('[')
        .unwrap_or_else(|| panic!("Cargo.toml: `members` is not followed by `[`"));
    let close = list
        .find(']')
        .unwrap_or_else(|| panic!("Cargo.toml: `members = [` is never closed"));
    let members: Vec<String> = list[open + 1..close]
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.split(','))
        .map(|item| item.trim().trim_matches('"').to_string())
        .filter(|item| !item.is_empty())
        .collect();
    for member in &members {
        assert!(
            !member.contains('*'),
            "Cargo.toml: member `{member}` is a glob; tidy reads members as plain folder paths, list them one by one"
        );
    }
    assert!(!members.is_empty(), "Cargo.toml: `members` is empty");
    members
}

/// Top-level folders of the repository that hold our code: everything but hidden folders and build output.
fn top_level_folders() -> Vec<String> {
    let root = repo_root();
    let mut folders: Vec<String> = fs::read_dir(&root)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", root.display()))
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_str()))
        .collect();
    folders.sort();
    folders
}

/// Every file under `dir` (recursively, skipping build output), sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_ref()) {
                    pending.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| extensions.contains(&extension))
}

/// Crate roots of a member: `src/lib.rs`, `src/main.rs`, and each binary under `src/bin/`.
fn crate_roots(member: &Path) -> Vec<PathBuf> {
    let src = member.join("src");
    let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|name| src.join(name))
        .filter(|path| path.is_file())
        .collect();
    if let Ok(entries) = fs::read_dir(src.join("bin")) {
        let mut bins: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter_map(|path| {
                if path.is_dir() {
                    Some(path.join("main.rs")).filter(|main| main.is_file())
                } else {
                    Some(path).filter(|file| has_extension(file, &["rs"]))
                }
            })
            .collect();
        bins.sort();
        roots.extend(bins);
    }
    roots
}

#[test]
fn every_crate_root_opens_with_a_doc_paragraph() {
    let root = repo_root();
    let mut problems = Vec::new();
    for member in workspace_members() {
        let roots = crate_roots(&root.join(&member));
        if roots.is_empty() {
            problems.push(format!("{member}: no src/lib.rs or src/main.rs"));
        }
        for path in roots {
            let text = read(&path);
            let first = text.lines().next().unwrap_or("");
            let doc = first.strip_prefix("//!").map(str::trim).unwrap_or("");
            if doc.is_empty() {
                problems.push(format!(
                    "{}: the first line must be a `//!` sentence saying what the crate owns and what it must not depend on; it is {first:?}",
                    relative(&path)
                ));
            }
        }
    }
    report("crate roots without a `//!` doc paragraph", &problems);
}

#[test]
fn architecture_has_a_section_per_top_level_folder() {
    let path = repo_root().join("ARCHITECTURE.md");
    let text = read(&path);
    let headings: Vec<&str> = text.lines().filter(|line| line.starts_with('#')).collect();
    let problems: Vec<String> = top_level_folders()
        .into_iter()
        .filter(|folder| {
            let name = format!("`{folder}/`");
            !headings.iter().any(|heading| heading.contains(&name))
        })
        .map(|folder| {
            format!("ARCHITECTURE.md: no heading naming `{folder}/` (e.g. \"## `{folder}/`: ...\")")
        })
        .collect();
    report("top-level folders missing from ARCHITECTURE.md", &problems);
}

#[test]
fn readme_opens_with_the_run_and_test_commands() {
    let text = read(&repo_root().join("README.md"));
    // Only the part before the first `##` section counts as the opening.
    let opening: Vec<&str> = text
        .lines()
        .take_while(|line| !line.starts_with("## "))
        .collect();
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in &opening {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Vec::new()),
            }
        } else if let Some(block) = current.as_mut() {
            if !line.trim().is_empty() {
                block.push(line);
            }
        }
    }
    let mut problems = Vec::new();
    if current.is_some() {
        problems.push("README.md: a code block in the opening is never closed".to_string());
    }
    if blocks.len() < 2 {
        problems.push(format!(
            "README.md: before the first `##` section there must be two code blocks (set up and run Orrery; run the tests), found {}",
            blocks.len()
        ));
    }
    for (index, block) in blocks.iter().enumerate().take(2) {
        if block.is_empty() {
            problems.push(format!(
                "README.md: opening code block {} is empty",
                index + 1
            ));
        }
    }
    if let Some(test_block) = blocks.get(1) {
        if !test_block.iter().any(|line| line.contains("tests/run")) {
            problems.push(format!(
                "README.md: the second opening code block must run the test suite (`tests/run`), it is {test_block:?}"
            ));
        }
    }
    report("README.md does not open with its two commands", &problems);
}

/// Source folders: `src/` of every top-level folder (the crates and `web/`).
fn source_files() -> Vec<PathBuf> {
    let root = repo_root();
    top_level_folders()
        .into_iter()
        .flat_map(|folder| files_under(&root.join(folder).join("src")))
        .filter(|path| has_extension(path, &["rs", "ts", "tsx", "js", "mjs"]))
        .collect()
}

#[test]
fn source_files_stay_under_the_size_limit() {
    let problems: Vec<String> = source_files()
        .into_iter()
        .filter(|path| !GENERATED.contains(&relative(path).as_str()))
        .filter_map(|path| {
            let lines = read(&path).lines().count();
            (lines > MAX_SOURCE_LINES).then(|| {
                format!(
                    "{}: {lines} lines; split it by the nouns it owns (or, if it is generated, add it to GENERATED in tests/tests/tidy.rs)",
                    relative(&path)
                )
            })
        })
        .collect();
    report(
        &format!("source files over {MAX_SOURCE_LINES} lines"),
        &problems,
    );
}

#[test]
fn no_test_is_switched_off() {
    // Built from pieces so that this file does not match its own patterns.
    let rust_patterns = [concat!("#[", "ignore")];
    let script_patterns = [
        concat!("it", ".skip("),
        concat!("test", ".skip("),
        concat!("describe", ".skip("),
        concat!("it", ".only("),
        concat!("test", ".only("),
        concat!("describe", ".only("),
    ];
    let root = repo_root();
    let mut problems = Vec::new();
    for folder in top_level_folders() {
        for path in files_under(&root.join(folder)) {
            let patterns: &[&str] = if has_extension(&path, &["rs"]) {
                &rust_patterns
            } else if has_extension(&path, &["ts", "tsx", "js", "mjs"]) {
                &script_patterns
            } else {
                continue;
            };
            for (number, line) in read(&path).lines().enumerate() {
                if let Some(pattern) = patterns.iter().find(|pattern| line.contains(**pattern)) {
                    problems.push(format!(
                        "{}:{}: `{pattern}`; a test that does not run cannot fail (STYLE.md)",
                        relative(&path),
                        number + 1
                    ));
                }
            }
        }
    }
    report("switched-off tests", &problems);
}
