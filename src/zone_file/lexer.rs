//! The lexical layer of RFC 1035 §5.1 master files: comments, quoted
//! strings, escapes and parentheses, split into logical entries that keep the
//! line they start on. It knows nothing of record types or names.

use std::path::Path;

use super::{Location, ZoneFileError, invalid};

/// One logical entry of a master file, after comments and parentheses.
pub(super) struct Entry {
    pub(super) line: usize,
    /// The entry began with white space: the owner is the previous one.
    pub(super) blank_owner: bool,
    pub(super) tokens: Vec<String>,
}

/// Splits master-file text into entries (RFC 1035 §5.1).
pub(super) fn split_entries(text: &str, file: &Path) -> Result<Vec<Entry>, ZoneFileError> {
    let mut entries = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut token = String::new();
    let mut in_token = false;
    let mut in_quotes = false;
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut entry_line = 1usize;
    let mut blank_owner = false;
    let mut at_line_start = true;
    let mut chars = text.chars().peekable();

    macro_rules! end_token {
        () => {
            if in_token {
                tokens.push(std::mem::take(&mut token));
                in_token = false;
            }
        };
    }

    // A line ends: outside parentheses, it also ends the entry (RFC 1035 §5.1).
    macro_rules! end_line {
        () => {
            line += 1;
            if depth == 0 {
                if !tokens.is_empty() {
                    entries.push(Entry {
                        line: entry_line,
                        blank_owner,
                        tokens: std::mem::take(&mut tokens),
                    });
                }
                at_line_start = true;
            }
        };
    }

    while let Some(c) = chars.next() {
        if at_line_start && depth == 0 && !in_quotes {
            at_line_start = false;
            if tokens.is_empty() && !in_token {
                entry_line = line;
                blank_owner = c == ' ' || c == '\t';
            }
        }
        if in_quotes {
            token.push(c);
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        if next == '\n' {
                            line += 1;
                        }
                        token.push(next);
                    }
                }
                '"' => in_quotes = false,
                '\n' => line += 1,
                _ => {}
            }
            continue;
        }
        match c {
            '\\' => {
                in_token = true;
                token.push(c);
                if let Some(next) = chars.next() {
                    token.push(next);
                }
            }
            '"' => {
                in_token = true;
                in_quotes = true;
                token.push(c);
            }
            ';' => {
                end_token!();
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        break;
                    }
                }
                end_line!();
            }
            '(' => {
                end_token!();
                depth += 1;
            }
            ')' => {
                end_token!();
                if depth == 0 {
                    return Err(invalid(
                        &Location {
                            file: file.to_path_buf(),
                            line,
                        },
                        "')' without a matching '('",
                    ));
                }
                depth -= 1;
            }
            '\n' => {
                end_token!();
                end_line!();
            }
            ' ' | '\t' | '\r' => end_token!(),
            other => {
                in_token = true;
                token.push(other);
            }
        }
    }
    let location = Location {
        file: file.to_path_buf(),
        line: entry_line,
    };
    if in_quotes {
        return Err(invalid(&location, "quoted string is not closed"));
    }
    if depth > 0 {
        return Err(invalid(&location, "'(' is not closed"));
    }
    if in_token {
        tokens.push(token);
    }
    if !tokens.is_empty() {
        entries.push(Entry {
            line: entry_line,
            blank_owner,
            tokens,
        });
    }
    Ok(entries)
}
