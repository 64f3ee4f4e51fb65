//! Making sure the tools a command needs are on the machine: the pinned Rust targets and
//! `qemu-system-riscv64`. What can be installed is installed; otherwise the error says what to
//! install.

use std::fmt;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::paths::workspace_root;

/// A tool that is missing and could not be installed.
#[derive(Debug)]
pub struct MissingTool {
    /// What is missing.
    pub tool: &'static str,
    /// What the user should do about it.
    pub advice: String,
}

impl fmt::Display for MissingTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is missing: {}", self.tool, self.advice)
    }
}

impl std::error::Error for MissingTool {}

/// The targets that `rust-toolchain.toml` pins (the file is the one place they are listed).
pub fn pinned_targets() -> Vec<String> {
    let text = fs::read_to_string(workspace_root().join("rust-toolchain.toml")).unwrap_or_default();
    let mut targets = Vec::new();
    let mut in_list = false;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(rest) = line.strip_prefix("targets") {
            in_list = rest.trim_start().starts_with('=');
        }
        if !in_list {
            continue;
        }
        // Quoted items on this line, whatever the wrapping of the array.
        targets.extend(line.split('"').skip(1).step_by(2).map(str::to_string));
        if line.contains(']') {
            break;
        }
    }
    targets
}

/// Adds any pinned target that the active toolchain lacks. rustup installs the toolchain itself
/// on first use, but an already-installed toolchain does not always get new targets that way.
pub fn ensure_rust_targets() -> Result<(), MissingTool> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(workspace_root())
        .output();
    let Ok(installed) = installed else {
        // Without rustup the toolchain was set up by other means; cargo will say what is missing.
        return Ok(());
    };
    let installed = String::from_utf8_lossy(&installed.stdout).to_string();
    let missing: Vec<String> = pinned_targets()
        .into_iter()
        .filter(|t| !installed.lines().any(|l| l.trim() == t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: adding Rust targets {}", missing.join(" "));
    let status = Command::new("rustup")
        .args(["target", "add"])
        .args(&missing)
        .current_dir(workspace_root())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(MissingTool {
            tool: "Rust targets",
            advice: format!("run `rustup target add {}`", missing.join(" ")),
        }),
    }
}

fn have_qemu() -> bool {
    Command::new("qemu-system-riscv64")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure `qemu-system-riscv64` is on the PATH, installing Debian's `qemu-system-misc` when
/// we are root on a Debian-family system.
pub fn ensure_qemu() -> Result<(), MissingTool> {
    if have_qemu() {
        return Ok(());
    }
    let advice = "install QEMU's RISC-V system emulator (Debian/Ubuntu: `apt-get install \
                  qemu-system-misc`; Fedora: `dnf install qemu-system-riscv`; macOS: `brew \
                  install qemu`)";
    let missing = || MissingTool {
        tool: "qemu-system-riscv64",
        advice: advice.to_string(),
    };
    if !is_root() || !Path::new("/usr/bin/apt-get").exists() {
        return Err(missing());
    }
    let codename = os_release_field("VERSION_CODENAME").unwrap_or_default();
    // On a Debian release whose qemu-utils came from backports, the emulator must come from the
    // same place, or its dependencies on the shared QEMU packages cannot be met.
    let from_backports = !codename.is_empty() && qemu_utils_from_backports(&codename);
    if from_backports {
        add_backports_source(&codename).map_err(|e| MissingTool {
            tool: "qemu-system-riscv64",
            advice: format!("could not add the {codename}-backports apt source ({e}); {advice}"),
        })?;
    }
    eprintln!("xtask: installing qemu-system-misc from Debian's packages");
    let updated = Command::new("apt-get")
        .arg("update")
        .status()
        .is_ok_and(|s| s.success());
    let mut install = Command::new("apt-get");
    install
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y"]);
    if from_backports {
        install.args(["-t", &format!("{codename}-backports")]);
    }
    let installed = updated
        && install
            .arg("qemu-system-misc")
            .status()
            .is_ok_and(|s| s.success())
        && have_qemu();
    if installed { Ok(()) } else { Err(missing()) }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn os_release_field(key: &str) -> Option<String> {
    let text = fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim_matches('"').to_string())
}

fn qemu_utils_from_backports(codename: &str) -> bool {
    let Ok(out) = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "qemu-utils"])
        .output()
    else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    // Debian marks backported versions "~bpoNN"; bookworm is release 12.
    let release = match codename {
        "bookworm" => "12",
        "bullseye" => "11",
        "trixie" => "13",
        _ => return false,
    };
    version.contains(&format!("~bpo{release}"))
}

/// Adds `{codename}-backports` as an apt source, using the same archive and signing key as the
/// machine's existing source for `{codename}`, so no mirror is hard-coded here.
fn add_backports_source(codename: &str) -> Result<(), String> {
    let target = format!("/etc/apt/sources.list.d/zos-{codename}-backports.sources");
    if Path::new(&target).exists() || Path::new(&target.replace(".sources", ".list")).exists() {
        return Ok(());
    }
    let backports = format!("{codename}-backports");
    let mut sources = String::new();
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        for entry in dir.flatten() {
            if entry.path().extension().is_some_and(|e| e == "sources") {
                sources.push_str(&fs::read_to_string(entry.path()).unwrap_or_default());
                sources.push_str("\n\n");
            }
        }
    }
    // deb822 stanzas: find one whose Suites name the release itself.
    for stanza in sources.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let suites = field("Suites:").unwrap_or_default();
        if suites.contains(&backports) {
            return Ok(());
        }
        if !suites.split_whitespace().any(|s| s == codename) {
            continue;
        }
        let Some(uris) = field("URIs:") else { continue };
        let mut text = format!(
            "Types: deb\nURIs: {uris}\nSuites: {backports}\nComponents: {}\n",
            field("Components:").unwrap_or_else(|| "main".into())
        );
        if let Some(key) = field("Signed-By:") {
            text.push_str(&format!("Signed-By: {key}\n"));
        }
        return fs::write(&target, text).map_err(|e| e.to_string());
    }
    // One-line format in sources.list.
    let list = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    for line in list.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"deb") && words.contains(&codename) {
            let Some(pos) = words.iter().position(|w| *w == codename) else {
                continue;
            };
            let mut words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            words[pos] = backports.clone();
            return fs::write(target.replace(".sources", ".list"), words.join(" ") + "\n")
                .map_err(|e| e.to_string());
        }
    }
    Err(format!(
        "no apt source for {codename} to base {backports} on"
    ))
}
