//! Splits a command line into words: blanks separate words, `'…'` is literal, `"…"` keeps
//! blanks and understands `\"` and `\\`, a backslash outside quotes escapes the next
//! character, an unquoted `#` at the start of a word begins a comment. An unquoted `>` or `>>`
//! (alone or glued to the file name) redirects the command's output to a file.

use alloc::string::String;
use alloc::vec::Vec;

/// Where a command's output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// Replace the file with the output (`> file`).
    Truncate(String),
    /// Append the output to the file (`>> file`).
    Append(String),
}

/// One parsed command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// The command and its arguments (empty for a blank or comment line).
    pub words: Vec<String>,
    /// The output redirection, if any.
    pub redirect: Option<Redirect>,
}

/// Why a line does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A quote was opened and never closed.
    UnterminatedQuote,
    /// The line ends in a backslash.
    TrailingBackslash,
    /// `>` or `>>` without a file name, or given twice.
    BadRedirect,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnterminatedQuote => "unterminated quote",
            Self::TrailingBackslash => "line ends in a backslash",
            Self::BadRedirect => "'>' or '>>' needs exactly one file name",
        })
    }
}

/// A word as it is being read: its text and whether any of it was quoted.
#[derive(Default)]
struct Word {
    text: String,
    quoted: bool,
    started: bool,
}

/// Parses one line.
pub fn parse_line(line: &str) -> Result<Line, ParseError> {
    let mut words: Vec<(String, bool)> = Vec::new();
    let mut w = Word::default();
    let mut chars = line.chars().peekable();
    let finish = |w: &mut Word, words: &mut Vec<(String, bool)>| {
        if w.started {
            words.push((core::mem::take(&mut w.text), w.quoted));
        }
        *w = Word::default();
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => finish(&mut w, &mut words),
            '#' if !w.started => break,
            '\'' => {
                w.started = true;
                w.quoted = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.text.push(c),
                        None => return Err(ParseError::UnterminatedQuote),
                    }
                }
            }
            '"' => {
                w.started = true;
                w.quoted = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => w.text.push(e),
                            Some(other) => {
                                w.text.push('\\');
                                w.text.push(other);
                            }
                            None => return Err(ParseError::UnterminatedQuote),
                        },
                        Some(c) => w.text.push(c),
                        None => return Err(ParseError::UnterminatedQuote),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(e) => {
                    w.started = true;
                    w.quoted = true;
                    w.text.push(e);
                }
                None => return Err(ParseError::TrailingBackslash),
            },
            '>' => {
                finish(&mut w, &mut words);
                let op = if chars.peek() == Some(&'>') {
                    chars.next();
                    ">>"
                } else {
                    ">"
                };
                // Marks the operator as an unquoted word of its own.
                words.push((String::from(op), false));
            }
            c => {
                w.started = true;
                w.text.push(c);
            }
        }
    }
    finish(&mut w, &mut words);
    let mut out = Line::default();
    let mut iter = words.into_iter();
    while let Some((text, quoted)) = iter.next() {
        if !quoted && (text == ">" || text == ">>") {
            let Some((file, _)) = iter.next() else {
                return Err(ParseError::BadRedirect);
            };
            if out.redirect.is_some() || file == ">" || file == ">>" {
                return Err(ParseError::BadRedirect);
            }
            out.redirect = Some(if text == ">" {
                Redirect::Truncate(file)
            } else {
                Redirect::Append(file)
            });
        } else {
            out.words.push(text);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(l: &str) -> Vec<String> {
        parse_line(l).expect("parses").words
    }

    #[test]
    fn splits_and_quotes() {
        assert_eq!(words("  ls   -l  /tmp "), ["ls", "-l", "/tmp"]);
        assert_eq!(
            words("echo 'a  b' \"c \\\" d\" e\\ f"),
            ["echo", "a  b", "c \" d", "e f"]
        );
        assert_eq!(words("echo ''"), ["echo", ""]);
        assert_eq!(words("# comment"), Vec::<String>::new());
        assert_eq!(words("echo a#b # c"), ["echo", "a#b"]);
        assert_eq!(parse_line("echo 'x"), Err(ParseError::UnterminatedQuote));
        assert_eq!(parse_line("echo x\\"), Err(ParseError::TrailingBackslash));
    }

    #[test]
    fn redirections() {
        let l = parse_line("echo hi > f").expect("parses");
        assert_eq!(l.words, ["echo", "hi"]);
        assert_eq!(l.redirect, Some(Redirect::Truncate("f".into())));
        let l = parse_line("echo hi>>f").expect("parses");
        assert_eq!(l.words, ["echo", "hi"]);
        assert_eq!(l.redirect, Some(Redirect::Append("f".into())));
        let l = parse_line("echo 'a > b'").expect("parses");
        assert_eq!(l.words, ["echo", "a > b"]);
        assert_eq!(l.redirect, None);
        assert_eq!(parse_line("echo >"), Err(ParseError::BadRedirect));
        assert_eq!(parse_line("echo > a > b"), Err(ParseError::BadRedirect));
    }
}
