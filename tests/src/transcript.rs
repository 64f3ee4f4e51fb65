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

/// How a task's log line starts on the console under the text log channel (`[LEVEL task] `,
/// the level padded to five characters), as the kernel prints it.
const LOG_MARKERS: [&str; 5] = ["[ERROR ", "[WARN  ", "[INFO  ", "[DEBUG ", "[TRACE "];
/// How a kernel event line starts under the text log channel.
const KERNEL_MARKER: &str = "kernel: ";

/// The console without the log lines the kernel interleaves with the shell's output (the text
/// log channel shares the UART). The kernel prints each log line whole, ending in `\n`, but at
/// any point of the shell's output: after a prompt or in the middle of an echoed line, when the
/// shell runs while another task (the VFS booting, waiting for its disk) logs. So a log line is
/// cut from its marker to its `\n`, and whatever it interrupted is joined again. `kernel: `
/// lines are only recognised at the start of a line or after a prompt (file contents a command
/// prints could contain the words); the bracketed task markers anywhere.
pub fn without_logs(console: &str) -> String {
    let mut out = String::with_capacity(console.len());
    let mut rest = console;
    loop {
        let task = LOG_MARKERS.iter().filter_map(|m| rest.find(m)).min();
        let kernel = kernel_line_at(rest);
        let Some(at) = [task, kernel].into_iter().flatten().min() else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        match rest[at..].find('\n') {
            Some(end) => rest = &rest[at + end + 1..],
            // A log line still being printed: nothing after it yet.
            None => return out,
        }
    }
}

/// Where the first `kernel: ` line of `text` starts (at a line start or after a prompt).
fn kernel_line_at(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(KERNEL_MARKER) {
        let at = from + i;
        let before = &text[..at];
        if before.is_empty() || before.ends_with('\n') || before.ends_with(PROMPT) {
            return Some(at);
        }
        from = at + KERNEL_MARKER.len();
    }
    None
}

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
/// before the banner (firmware, kernel) is skipped, and log lines anywhere (see
/// [`without_logs`]); a line whose echo is incomplete (no `\n` yet) was not started and is left
/// out.
pub fn steps(console: &str) -> Vec<Step> {
    let console = without_logs(console);
    let console = console.as_str();
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
    fn interleaved_log_lines_are_not_command_output() {
        let console = format!(
            "{BANNER}{PROMPT}[INFO  vfs] vfs: boot count 2\necho a\n[INFO  init] registered vfs\n\
             {PROMPT}cat /da[WARN  vfs] late\nta/f\nhello\nkernel: event\n{PROMPT}"
        );
        let s = steps(&console);
        assert_eq!(s.len(), 2);
        assert!(s[1].acknowledged);
        assert_eq!((s[0].line.as_str(), s[0].output.as_str()), ("echo a", ""));
        assert_eq!(
            (s[1].line.as_str(), s[1].output.as_str()),
            ("cat /data/f", "hello\n")
        );
        assert_eq!(without_logs("x kernel: y\n"), "x kernel: y\n");
    }

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
