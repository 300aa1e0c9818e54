//! Input checks shared by every backend, so both refuse the same input with the same words.

use crate::{Error, Result};

/// `text` trimmed, if it has between 1 and `max_chars` characters and no control characters; `what` names it in the error.
pub(crate) fn single_line(what: &str, text: &str, max_chars: usize) -> Result<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Error::Invalid(format!("{what} must not be empty")));
    }
    let length = trimmed.chars().count();
    if length > max_chars {
        return Err(Error::Invalid(format!(
            "{what} has {length} characters; at most {max_chars} are allowed"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{what} must not contain control characters such as line breaks or tabs"
        )));
    }
    Ok(trimmed.to_string())
}
