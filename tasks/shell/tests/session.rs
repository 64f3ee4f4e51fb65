//! Script sessions against a real VFS server on the host backend (kernel-host), over
//! `storage-backend` on a RAM block device: the exact text a user types, and the exact text
//! the shell prints.

use std::collections::VecDeque;
use std::time::Duration;

use kernel_abi::{ExitStatus, Kernel, LogLevel, ProcessClass};
use kernel_host::{HostKernel, TaskHandle, TaskSpec};
use uuid::Uuid;
use vfs_api::client::Client;
use vfs_service::host::{READY, spawn_vfs};
use zos_shell::console::ConsoleError;
use zos_shell::{Console, KernelConsole, Outcome, Shell};

const ALICE: Uuid = Uuid::from_u128(0x0a11ce00_0000_4000_8000_000000000001);

/// A console that types `lines` and records everything, echoing each line after the prompt
/// as a terminal would.
struct Script {
    lines: VecDeque<String>,
    out: String,
}

impl Console for Script {
    fn read_line(&mut self, line: &mut String) -> Result<bool, ConsoleError> {
        line.clear();
        match self.lines.pop_front() {
            Some(l) => {
                self.out.push_str(&l);
                self.out.push('\n');
                line.push_str(&l);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn write_str(&mut self, text: &str) {
        self.out.push_str(text);
    }
}

/// Runs `script` in a shell of class `class` (user `user`); returns the outcome and the
/// transcript.
fn session(class: ProcessClass, user: Option<Uuid>, script: &str) -> (Outcome, String) {
    let kernel = HostKernel::new();
    let ep = kernel.endpoint("vfs", 16);
    spawn_vfs(&kernel, ep, 16, false);
    assert!(
        kernel.wait_for_log(READY, Duration::from_secs(20)),
        "{:?}",
        kernel.log_lines()
    );
    let mut spec = TaskSpec::new("shell").class(class).reaches(ep);
    if let Some(u) = user {
        spec = spec.user(u);
    }
    let h = kernel.attach(spec);
    let mut shell = Shell::new(Client::new(&h, ep));
    let mut console = Script {
        lines: script.lines().map(String::from).collect(),
        out: String::new(),
    };
    let outcome = shell.run(&mut console);
    (outcome, console.out)
}

fn system_session(script: &str) -> (Outcome, String) {
    session(ProcessClass::System, None, script)
}

/// The lines the shell printed for command number `n` (0-based) of the transcript.
fn output_of(transcript: &str, n: usize) -> String {
    transcript
        .split("zos> ")
        .nth(n + 1)
        .map(|s| s.split_once('\n').map_or("", |(_, rest)| rest).to_string())
        .unwrap_or_default()
}

#[test]
fn the_issue_example() {
    let (outcome, out) = system_session("mkdir /tmp/a\nls /tmp\nshutdown\n");
    assert_eq!(outcome, Outcome::Shutdown);
    assert_eq!(
        out,
        "zos> mkdir /tmp/a\nzos> ls /tmp\na\nzos> shutdown\nshutting down\n"
    );
}

#[test]
fn end_of_input_ends_cleanly() {
    let (outcome, out) = system_session("pwd\n");
    assert_eq!(outcome, Outcome::EndOfInput);
    assert_eq!(out, "zos> pwd\n/\nzos> \n");
}

#[test]
fn relative_paths_cd_and_redirections() {
    let (outcome, out) = system_session(
        "cd /tmp\n\
         pwd\n\
         mkdir -p x/y/z\n\
         cd x/y\n\
         pwd\n\
         echo hi > f\n\
         echo 'there  you' >> f\n\
         cat f\n\
         cat /tmp/x/y/f\n\
         cd f\n\
         pwd\n\
         cd ../..\n\
         pwd\n\
         ls x/y\n\
         cd\n\
         pwd\n",
    );
    assert_eq!(outcome, Outcome::EndOfInput);
    assert_eq!(output_of(&out, 1), "/tmp\n");
    assert_eq!(output_of(&out, 4), "/tmp/x/y\n");
    assert_eq!(output_of(&out, 7), "hi\nthere  you\n");
    assert_eq!(output_of(&out, 8), "hi\nthere  you\n");
    assert_eq!(output_of(&out, 9), "cd: /tmp/x/y/f: not a directory\n");
    assert_eq!(output_of(&out, 10), "/tmp/x/y\n");
    assert_eq!(output_of(&out, 12), "/tmp\n");
    assert_eq!(output_of(&out, 13), "f\nz\n");
    assert_eq!(output_of(&out, 15), "/\n");
}

#[test]
fn errors_are_one_line_and_the_session_goes_on() {
    let (outcome, out) = session(
        ProcessClass::Application,
        Some(ALICE),
        "rm /system/config/machine.json\n\
         echo x > /system/x\n\
         cat /tmp/nothing\n\
         frobnicate\n\
         mkdir\n\
         echo 'open\n\
         rmdir /tmp\n\
         echo still here\n",
    );
    assert_eq!(outcome, Outcome::EndOfInput);
    assert_eq!(
        output_of(&out, 0),
        "rm: /system/config/machine.json: permission denied\n"
    );
    assert_eq!(output_of(&out, 1), "zos: /system/x: permission denied\n");
    assert_eq!(
        output_of(&out, 2),
        "cat: /tmp/nothing: no such file or directory\n"
    );
    assert_eq!(
        output_of(&out, 3),
        "zos: frobnicate: command not found (try `help`)\n"
    );
    assert_eq!(output_of(&out, 4), "mkdir: usage: mkdir [-p] DIR...\n");
    assert_eq!(
        output_of(&out, 5),
        "zos: syntax error: unterminated quote\n"
    );
    assert_eq!(output_of(&out, 6), "rmdir: /tmp: permission denied\n");
    assert_eq!(output_of(&out, 7), "still here\n");
}

#[test]
fn files_links_and_metadata() {
    let (outcome, out) = system_session(
        "cd /tmp\n\
         echo data > a\n\
         cp a b\n\
         mv b c\n\
         mkdir d\n\
         mv c d\n\
         ls\n\
         ls d\n\
         ln -s /tmp/a l\n\
         readlink l\n\
         cat l\n\
         chmod rw-r-r- a\n\
         ls -l a\n\
         chown 0a11ce00-0000-4000-8000-000000000001 a\n\
         ls -l a\n\
         chmod nonsense a\n\
         rm d\n\
         rm -r d\n\
         rm a l\n\
         ls\n\
         stat /tmp\n",
    );
    assert_eq!(outcome, Outcome::EndOfInput);
    assert_eq!(output_of(&out, 6), "a\nd\n");
    assert_eq!(output_of(&out, 7), "c\n");
    assert_eq!(output_of(&out, 9), "/tmp/a\n");
    assert_eq!(output_of(&out, 10), "data\n");
    let long = output_of(&out, 12);
    assert!(long.starts_with("-rw-r-r- system            5 "), "{long}");
    assert!(
        long.ends_with(" /tmp/a\n") || long.ends_with(" a\n"),
        "{long}"
    );
    let long = output_of(&out, 14);
    assert!(long.starts_with("-rw-r-r- 0a11ce00          5 "), "{long}");
    assert!(output_of(&out, 15).starts_with("chmod: nonsense: not a permission set"));
    assert_eq!(
        output_of(&out, 16),
        "rm: /tmp/d: is a directory (use rm -r or rmdir)\n"
    );
    assert_eq!(output_of(&out, 19), "");
    let stat = output_of(&out, 20);
    assert!(stat.contains("    path: /tmp\n"), "{stat}");
    assert!(stat.contains("    kind: directory\n"), "{stat}");
    assert!(stat.contains("   perms: drwxrwrw (0x7f;"), "{stat}");
}

#[test]
fn tree_df_usage_quota_sync_help() {
    let (outcome, out) = system_session(
        "mkdir -p /tmp/t/a/b\n\
         echo 12345 > /tmp/t/a/f\n\
         ln -s a /tmp/t/l\n\
         tree /tmp/t\n\
         usage /tmp/t\n\
         df\n\
         quota\n\
         quota 0a11ce00-0000-4000-8000-000000000001\n\
         sync\n\
         help\n\
         shutdown\n\
         pwd\n",
    );
    assert_eq!(outcome, Outcome::Shutdown);
    assert_eq!(
        output_of(&out, 3),
        "/tmp/t\n├── a\n│   ├── b\n│   └── f\n└── l -> a\n\n2 directories, 2 files\n"
    );
    assert_eq!(output_of(&out, 4), "/tmp/t: 6 B (6 bytes) in 4 entries\n");
    let df = output_of(&out, 5);
    let lines: Vec<&str> = df.lines().collect();
    assert_eq!(lines.len(), 7, "{df}");
    // Content bytes, files and directories of the whole filesystem, against its limits.
    assert!(lines[0].starts_with("files:   "), "{df}");
    assert!(
        lines[0].contains(" files, ") && lines[0].ends_with(" directories"),
        "{df}"
    );
    assert!(
        lines[1].starts_with("limits:  largest file 4.0 GiB, "),
        "{df}"
    );
    assert!(
        lines[2].starts_with("database          size        live        dead        free"),
        "{df}"
    );
    // A System caller sees both databases; each has a medium and live records.
    for (line, name) in [(lines[3], "userspace "), (lines[4], "kernel    ")] {
        assert!(line.starts_with(name), "{df}");
        let records: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(records > 0, "{df}");
    }
    assert_eq!(
        lines[5],
        "security: AES-256-GCM (software engine), integrity: SHA-256 hash chain"
    );
    assert_eq!(lines[6], "engine:   software");
    assert_eq!(output_of(&out, 6), "no user homes\n");
    let q = output_of(&out, 7);
    assert!(
        q.contains("0a11ce00-0000-4000-8000-000000000001") && q.contains("100.0 MiB"),
        "{q}"
    );
    assert_eq!(output_of(&out, 8), "");
    assert!(output_of(&out, 9).contains("ln -s TARGET LINK"));
    // Nothing runs after shutdown.
    assert!(out.ends_with("zos> shutdown\nshutting down\n"), "{out}");
}

#[test]
fn cat_streams_files_larger_than_a_message() {
    // Three bytes per unit, so message boundaries cut characters.
    let text = "aé".repeat(3000);
    let (outcome, out) = system_session(&format!("echo {text} > /tmp/big\ncat /tmp/big\n"));
    assert_eq!(outcome, Outcome::EndOfInput);
    assert_eq!(output_of(&out, 1), format!("{text}\n"));
}

/// The whole task as it runs in QEMU: init, the VFS registering with it, and the shell task
/// finding the VFS through init and reading the kernel's raw console (echo and line editing
/// are the shell's).
#[test]
fn the_shell_task_on_the_host_console() {
    let kernel = HostKernel::new();
    let init = init::host::spawn_init(&kernel);
    let ep = kernel.endpoint("vfs", 16);
    spawn_vfs(&kernel, ep, 16, true);
    kernel.spawn(
        TaskSpec::new("shell")
            .class(ProcessClass::System)
            .start_now(false),
        |h: TaskHandle| {
            let mut client = None;
            for _ in 0..500 {
                if let Ok(c) = Client::connect(&h) {
                    client = Some(c);
                    break;
                }
                h.sleep_ns(20_000_000);
            }
            let Some(client) = client else {
                h.log(LogLevel::Error, "shell: no VFS");
                return;
            };
            let mut console = KernelConsole::new(&h);
            if Shell::new(client).run(&mut console) == Outcome::Shutdown {
                let _ = h.shutdown(ExitStatus::SUCCESS);
            }
        },
    );
    kernel.restart(init.index).expect("start init");
    // A terminal sends \r for Enter and 0x7f for backspace; arrow keys are escape sequences.
    kernel.console_feed(b"mkdir /tmp/ab\x7fa\r\nls /tmp\x1b[A\rshutdown\n");
    let status = kernel.wait_for_shutdown(Duration::from_secs(30));
    let out = kernel.console_output();
    assert_eq!(
        status,
        Some(ExitStatus::SUCCESS),
        "{out}\n{:#?}",
        kernel.log_lines()
    );
    assert_eq!(
        out,
        "zos> mkdir /tmp/ab\x08 \x08a\nzos> ls /tmp\naa\nzos> shutdown\nshutting down\n"
    );
}

/// The line discipline of [`KernelConsole`] over the host kernel's raw console.
#[test]
fn kernel_console_line_discipline() {
    let kernel = HostKernel::new();
    let h = kernel.attach(TaskSpec::new("shell").class(ProcessClass::System));
    let mut console = KernelConsole::new(&h);
    let mut line = String::new();
    // \r\n is one line end; Ctrl-C abandons a line; escape sequences and other control bytes
    // vanish; backspace at the start of a line does nothing; a UTF-8 character is erased whole.
    kernel.console_feed(b"one\r\ntwo\x03\x7fthr\x1b[Cee\x01\nh\xc3\xa9\x7fi\n");
    assert_eq!(console.read_line(&mut line), Ok(true));
    assert_eq!(line, "one");
    assert_eq!(console.read_line(&mut line), Ok(true));
    assert_eq!(line, "");
    assert_eq!(console.read_line(&mut line), Ok(true));
    assert_eq!(line, "three");
    assert_eq!(console.read_line(&mut line), Ok(true));
    assert_eq!(line, "hi");
    assert_eq!(
        kernel.console_output(),
        "one\ntwo^C\nthree\nh\u{e9}\x08 \x08i\n"
    );
    // Ctrl-D on an empty line ends the input.
    kernel.console_feed(b"\x04");
    assert_eq!(console.read_line(&mut line), Ok(false));
    // The end of a host console's input returns a line in progress first.
    let mut console = KernelConsole::new(&h).with_echo(false);
    kernel.console_feed(b"last");
    kernel.console_close();
    assert_eq!(console.read_line(&mut line), Ok(true));
    assert_eq!(line, "last");
    assert_eq!(console.read_line(&mut line), Ok(false));
    // An application task has no console: the error reaches the shell, which ends.
    let app = kernel.attach(TaskSpec::new("app").class(ProcessClass::Application));
    let mut console = KernelConsole::new(&app);
    assert_eq!(
        console.read_line(&mut line),
        Err(ConsoleError::Kernel(kernel_abi::Errno::Denied))
    );
}

/// `as NAME COMMAND`: the command runs through identity task NAME (found in init's registry),
/// so the VFS judges that task's user; the shell's own identity is back afterwards.
#[test]
fn as_runs_a_command_under_an_identity_task() {
    let kernel = HostKernel::new();
    let init = init::host::spawn_init(&kernel);
    let vfs = kernel.endpoint("vfs", 16);
    spawn_vfs(&kernel, vfs, 16, true);
    for (name, user) in [("alice", Some(ALICE)), ("guest", None)] {
        let own = kernel.endpoint(name, 4);
        let mut spec = TaskSpec::new(name)
            .class(ProcessClass::Application)
            .serves(own)
            .reaches(vfs)
            .start_now(false);
        if let Some(u) = user {
            spec = spec.user(u);
        }
        kernel.spawn(spec, move |h: TaskHandle| {
            let mut relay = zos_identity::Relay::new(&h, own, vfs);
            while relay.step().is_ok() {}
        });
    }
    kernel.restart(init.index).expect("start init");
    assert!(kernel.wait_for_log(READY, Duration::from_secs(20)));
    let h = kernel.attach(TaskSpec::new("shell").class(ProcessClass::System));
    let client = Client::connect(&h).expect("the VFS through init");
    let mut shell = Shell::new(client);
    let home = format!("/home/{ALICE}");
    let script = format!(
        "mkhome {ALICE}\n\
         as alice echo dear diary > {home}/diary\n\
         as alice ls -l {home}/diary\n\
         as guest cat {home}/diary\n\
         as guest echo x > /tmp/g\n\
         as alice echo x > /system/config/x\n\
         cat {home}/diary\n\
         as nobody ls\n\
         as alice\n\
         as alice shutdown\n"
    );
    let mut console = Script {
        lines: script.lines().map(String::from).collect(),
        out: String::new(),
    };
    assert_eq!(shell.run(&mut console), Outcome::EndOfInput);
    let out = console.out;
    assert_eq!(output_of(&out, 0), "", "{out}");
    assert_eq!(output_of(&out, 1), "", "{out}");
    // The file is Alice's (owner column: the user id's first group) with a user file's
    // permissions: her task wrote it, not the System shell.
    let listing = output_of(&out, 2);
    assert!(listing.starts_with("-rw-r--- 0a11ce00 "), "{out}");
    assert_eq!(
        output_of(&out, 3),
        format!("cat: {home}/diary: permission denied\n")
    );
    assert_eq!(output_of(&out, 4), "");
    assert_eq!(
        output_of(&out, 5),
        "zos: /system/config/x: permission denied\n"
    );
    // The shell itself (System) reads it: system r.
    assert_eq!(output_of(&out, 6), "dear diary\n");
    assert!(output_of(&out, 7).starts_with("as: no identity task `nobody`"));
    assert_eq!(output_of(&out, 8), "usage: as NAME COMMAND...\n");
    assert_eq!(output_of(&out, 9), "as: `shutdown` is not a file command\n");
}
