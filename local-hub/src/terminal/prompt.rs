//! The prompt a project's terminals show: `name@project` (the short name of whoever started the shell and a slug of the
//! project's title, e.g. `alice@physics-101:~$`), never the project's Unix user (`orrery-4e6e61e7…`) or the machine.
//!
//! Both parts come from people (a display name, a project title), so they are reduced to letters, digits and dashes
//! here, and the shell only ever reads them from the `ORRERY_PROMPT` variable: bash expands `${ORRERY_PROMPT}` in PS1
//! without expanding what the value holds, so even an unreduced title could not run a command.
//! Bash reads the distribution's `/etc/bash.bashrc` (whose PS1 shows `\u@\h`) and then our rc file instead of
//! `~/.bashrc`; ours runs `~/.bashrc` and then sets the prompt, unless `~/.bashrc` chose a prompt of its own.
//! Other shells get `PS1` in their environment.

use std::path::{Path, PathBuf};

/// The longest part of a prompt, in characters.
const MAX_PART: usize = 24;

/// What a bash in a project terminal runs before its first prompt. It holds nothing from users.
const BASHRC: &str = r#"# Written by Orrery's local hub: the project's terminals read this instead of ~/.bashrc.
if [ -f ~/.bashrc ]; then . ~/.bashrc; fi
# The distribution's prompt shows the project's Unix user and the machine; show who and which project instead, unless
# ~/.bashrc set a prompt of its own.
case "$PS1" in
  '' | *'\u@\h'*) PS1='\[\e[1;32m\]${ORRERY_PROMPT}\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ ' ;;
esac
"#;

/// `text` as a prompt part: lower-case letters and digits, other runs of characters as one dash, at most
/// [`MAX_PART`] characters; `fallback` when nothing is left.
pub(crate) fn slug(text: &str, fallback: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for character in text.chars() {
        if character.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.extend(
                character
                    .to_lowercase()
                    .filter(|lower| lower.is_alphanumeric()),
            );
        } else {
            dash = true;
        }
        if out.chars().count() >= MAX_PART {
            break;
        }
    }
    let out: String = out.chars().take(MAX_PART).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        fallback.to_string()
    } else {
        out
    }
}

/// The prompt's `name@project` for a person's display name and a project's title: the first word of the name.
pub(crate) fn prompt(name: &str, project_title: &str) -> String {
    let first = name.split_whitespace().next().unwrap_or_default();
    format!(
        "{}@{}",
        slug(first, "student"),
        slug(project_title, "project")
    )
}

/// Whether `shell` is bash, which needs the rc file (other shells take PS1 from the environment).
pub(crate) fn is_bash(shell: &Path) -> bool {
    shell
        .file_name()
        .is_some_and(|name| name.to_string_lossy().ends_with("bash"))
}

/// Writes the rc file into `folder` (the project's `.orrery/`), whole or not at all, and returns its path; `None` (and
/// a warning) when it cannot be written: terminals then start without it and show the distribution's prompt.
pub(crate) fn write_bashrc(folder: &Path) -> Option<PathBuf> {
    let path = folder.join("terminal.bashrc");
    let written = std::fs::create_dir_all(folder)
        .and_then(|()| crate::atomic::write(&path, BASHRC.as_bytes()));
    match written {
        Ok(()) => Some(path),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot write the terminals' rc file");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_a_short_name_and_a_project_slug() {
        assert_eq!(prompt("Alice Smith", "Physics 101"), "alice@physics-101");
        assert_eq!(prompt("B E2E", "Presence lx3k9"), "b@presence-lx3k9");
        assert_eq!(prompt("", ""), "student@project");
        assert_eq!(prompt("   ", "!!!"), "student@project");
        assert_eq!(
            prompt("José", "Thèse — chapitre 2"),
            "josé@thèse-chapitre-2"
        );
    }

    #[test]
    fn nothing_a_shell_would_expand_survives() {
        for hostile in [
            "$(touch /tmp/pwned)",
            "`id`",
            "\\u@\\h ${HOME} $((1+1))",
            "a'b\"c;d|e&f<g>h",
            "\u{202e}evil\u{200b}",
            "line\nbreak\r\x1b[31m",
        ] {
            let slugged = slug(hostile, "x");
            assert!(
                slugged
                    .chars()
                    .all(|character| character.is_alphanumeric() || character == '-'),
                "{hostile:?} became {slugged:?}"
            );
        }
    }

    #[test]
    fn parts_are_short() {
        let long = "word ".repeat(100);
        assert!(slug(&long, "x").chars().count() <= MAX_PART);
        assert!(!slug(&long, "x").ends_with('-'));
        assert_eq!(slug("ǅemal", "x"), "ǆemal");
    }
}
