//! Reading the shell's console as a sequence of commands.
//!
//! The shell prints `zos> `, echoes the line it reads (the echo of the final `\n` comes before
//! the command runs), prints the command's output, then prints the next prompt. So on the
//! console a command has *started* once its line and `\n` are echoed, and is *acknowledged*
//! once the next prompt follows its output: for a command that changes files, the VFS
//! replied only after committing it, and the shell prints nothing more until that reply.

/// The shell's prompt (as `zos_shell::PROMPT` prints it).
pub const PROMPT: &str = "zos> ";
/// The line the shell prints once it has reached the VFS, before its first prompt.
pub const BANNER: &str = "Zero OS shell; `help` lists the commands\n";

/// One command as the console shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The echoed command line.
    pub line: String,
    /// What the command printed (so far, if it is not acknowledged).
    pub output: String,
    /// The next prompt followed: the command finished.
    pub acknowledged: bool,
}

/// Every command the shell started, in order, from a console captured since boot. Text
/// before the banner (firmware, kernel) is skipped; a line whose echo is incomplete (no `\n`
/// yet) was not started and is left out.
pub fn steps(console: &str) -> Vec<Step> {
    let Some(at) = console.find(BANNER) else {
        return Vec::new();
    };
    let mut pieces = console[at + BANNER.len()..]
        .split(PROMPT)
        .skip(1)
        .peekable();
    let mut out = Vec::new();
    while let Some(piece) = pieces.next() {
        let Some((line, output)) = piece.split_once('\n') else {
            break;
        };
        out.push(Step {
            line: line.to_string(),
            output: output.to_string(),
            acknowledged: pieces.peek().is_some(),
        });
    }
    out
}

/// Whether the shell's first prompt is on the console (it is reading commands).
pub fn ready(console: &str) -> bool {
    console
        .find(BANNER)
        .is_some_and(|at| console[at..].contains(PROMPT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_and_acknowledged_commands_are_told_apart() {
        let console =
            format!("kernel noise zos> \n{BANNER}{PROMPT}a\n{PROMPT}cat f\nhello\n{PROMPT}rm g\n");
        let s = steps(&console);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].line.as_str(), s[0].acknowledged), ("a", true));
        assert_eq!(
            (s[1].line.as_str(), s[1].output.as_str(), s[1].acknowledged),
            ("cat f", "hello\n", true)
        );
        assert_eq!((s[2].line.as_str(), s[2].acknowledged), ("rm g", false));
        assert!(ready(&console));
        assert!(!ready("zos> "));
    }

    #[test]
    fn a_line_echoed_in_part_was_not_started() {
        let console = format!("{BANNER}{PROMPT}rm g\n{PROMPT}echo hal");
        let s = steps(&console);
        assert_eq!(s.len(), 1);
        assert!(s[0].acknowledged);
    }

    #[test]
    fn output_without_a_final_newline_ends_at_the_prompt() {
        let console = format!("{BANNER}{PROMPT}cat e\nno newline{PROMPT}");
        let s = steps(&console);
        assert_eq!(s[0].output, "no newline");
        assert!(s[0].acknowledged);
    }
}
