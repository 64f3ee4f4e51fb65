//! The system file (`qemu/system.toml`): which tasks the QEMU image holds, their priorities,
//! memory, identities, device grants and the endpoints they serve and reach. Parsed with
//! unknown fields rejected, then validated as a whole, so a typo is a clear error at build time
//! rather than a surprise at boot. [`generate`] turns a validated system into the Rust source
//! the kernel embeds.
//!
//! ```toml
//! [kernel]
//! tick-us = 10000            # scheduler time slice
//!
//! [[task]]                    # task 0 must be init
//! name = "init"
//! package = "init"            # cargo package; `bin` defaults to the package name
//! priority = 0                # 0 (most important) ..= 7
//! stack = 16384               # bytes
//! heap = 0                    # bytes, mapped zeroed at the kernel's heap base
//! dma = 0                     # DMA budget in bytes
//! class = "system"            # system | runtime | application
//! user = "…uuid…"             # optional: the user the task runs for
//! devices = []                # virtio-blk, virtio-crypto, rtc, fw-cfg, flash1 (virtio-rng is
//!                             # the kernel's own entropy source and cannot be granted)
//! reaches = []                # endpoint names it may send to (init's is implied)
//! start-at-boot = true
//!
//! [[endpoint]]                # endpoint 0 must be init's
//! name = "init"
//! server = "init"
//! depth = 8                   # queue bound, 1 ..= 16
//! ```

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The most tasks the kernel holds.
pub const MAX_TASKS: usize = 16;
/// The most endpoints the kernel holds.
pub const MAX_ENDPOINTS: usize = 64;
/// The deepest endpoint queue.
pub const MAX_DEPTH: u8 = 16;
/// Priority levels (0 ..= 7).
pub const PRIORITIES: u8 = 8;
/// Devices that can be granted, by their system-file names (kernel-abi's `Device` names).
pub const DEVICES: &[&str] = &[
    "virtio-blk",
    "virtio-rng",
    "virtio-crypto",
    "rtc",
    "fw-cfg",
    "flash1",
];

/// The device the kernel drives itself (its `RandomBytes` entropy source): never granted.
pub const KERNEL_DEVICE: &str = "virtio-rng";

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemFile {
    /// Kernel settings.
    #[serde(default)]
    pub kernel: KernelSection,
    /// The tasks, in index order.
    #[serde(rename = "task", default)]
    pub tasks: Vec<TaskEntry>,
    /// The endpoints, in number order.
    #[serde(rename = "endpoint", default)]
    pub endpoints: Vec<EndpointEntry>,
}

/// `[kernel]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KernelSection {
    /// Time slice in microseconds.
    #[serde(default = "default_tick")]
    pub tick_us: u32,
}

impl Default for KernelSection {
    fn default() -> Self {
        Self {
            tick_us: default_tick(),
        }
    }
}

fn default_tick() -> u32 {
    10_000
}

/// `[[task]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TaskEntry {
    /// Unique name.
    pub name: String,
    /// The cargo package that builds it.
    pub package: String,
    /// The binary in that package (default: the package name).
    pub bin: Option<String>,
    /// 0 (most important) ..= 7.
    pub priority: u8,
    /// Stack bytes.
    pub stack: usize,
    /// Heap bytes.
    #[serde(default)]
    pub heap: usize,
    /// DMA budget in bytes.
    #[serde(default)]
    pub dma: usize,
    /// `system`, `runtime` or `application`.
    pub class: String,
    /// The user it runs for (a UUID), if any.
    pub user: Option<String>,
    /// Granted devices.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Endpoints it may send to, by name.
    #[serde(default)]
    pub reaches: Vec<String>,
    /// Whether init starts it at boot.
    #[serde(default)]
    pub start_at_boot: bool,
}

/// `[[endpoint]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointEntry {
    /// Unique name.
    pub name: String,
    /// The task that receives on it.
    pub server: String,
    /// Queue bound.
    pub depth: u8,
}

/// A validated task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Name.
    pub name: String,
    /// Cargo package.
    pub package: String,
    /// Binary name.
    pub bin: String,
    /// Priority.
    pub priority: u8,
    /// Stack bytes.
    pub stack: usize,
    /// Heap bytes.
    pub heap: usize,
    /// DMA budget.
    pub dma: usize,
    /// kernel-abi `ProcessClass` number.
    pub class: u8,
    /// User UUID bytes.
    pub user: Option<[u8; 16]>,
    /// Device names (validated).
    pub devices: Vec<String>,
    /// Endpoint numbers it reaches.
    pub reaches: Vec<u16>,
    /// Started by init at boot.
    pub start_at_boot: bool,
}

/// A validated endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Name.
    pub name: String,
    /// Server task index.
    pub owner: u16,
    /// Queue bound.
    pub depth: u8,
}

/// A validated system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    /// Time slice.
    pub tick_us: u32,
    /// Tasks, index order.
    pub tasks: Vec<Task>,
    /// Endpoints, number order.
    pub endpoints: Vec<Endpoint>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || text.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl System {
    /// Parses and validates the text of a system file; the error names the offending entry.
    pub fn parse(text: &str) -> Result<System, String> {
        let file: SystemFile = toml::from_str(text).map_err(|e| e.to_string())?;
        Self::validate(file)
    }

    /// Reads, parses and validates a system file.
    pub fn load(path: &Path) -> Result<System, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn validate(file: SystemFile) -> Result<System, String> {
        if file.tasks.is_empty() {
            return Err("the system has no tasks (task 0 must be init)".into());
        }
        if file.tasks.len() > MAX_TASKS {
            return Err(format!(
                "{} tasks; the kernel holds at most {MAX_TASKS}",
                file.tasks.len()
            ));
        }
        if file.endpoints.len() > MAX_ENDPOINTS {
            return Err(format!(
                "{} endpoints; the kernel holds at most {MAX_ENDPOINTS}",
                file.endpoints.len()
            ));
        }
        if !(100..=1_000_000).contains(&file.kernel.tick_us) {
            return Err("kernel.tick-us must lie in 100..=1000000".into());
        }
        let mut names = BTreeSet::new();
        for t in &file.tasks {
            if !valid_name(&t.name) {
                return Err(format!(
                    "task name `{}`: 1 to 32 bytes of a-z 0-9 . _ -",
                    t.name
                ));
            }
            if !names.insert(t.name.as_str()) {
                return Err(format!("task `{}` is listed twice", t.name));
            }
        }
        let mut endpoint_names = BTreeSet::new();
        let mut endpoints = Vec::new();
        for (n, e) in file.endpoints.iter().enumerate() {
            if !valid_name(&e.name) {
                return Err(format!(
                    "endpoint name `{}`: 1 to 32 bytes of a-z 0-9 . _ -",
                    e.name
                ));
            }
            if !endpoint_names.insert(e.name.as_str()) {
                return Err(format!("endpoint `{}` is listed twice", e.name));
            }
            let owner = file
                .tasks
                .iter()
                .position(|t| t.name == e.server)
                .ok_or_else(|| {
                    format!("endpoint `{}`: no task `{}` serves it", e.name, e.server)
                })?;
            if !(1..=MAX_DEPTH).contains(&e.depth) {
                return Err(format!(
                    "endpoint `{}`: depth must lie in 1..={MAX_DEPTH}",
                    e.name
                ));
            }
            if n == 0 && owner != 0 {
                return Err("endpoint 0 must be served by init (task 0)".into());
            }
            endpoints.push(Endpoint {
                name: e.name.clone(),
                owner: owner as u16,
                depth: e.depth,
            });
        }
        if endpoints.is_empty() {
            return Err("endpoint 0 (init's) is missing".into());
        }
        let mut tasks = Vec::new();
        for t in file.tasks {
            let what = |m: &str| format!("task `{}`: {m}", t.name);
            if t.priority >= PRIORITIES {
                return Err(what(&format!(
                    "priority must lie in 0..={}",
                    PRIORITIES - 1
                )));
            }
            if !(4096..=1 << 20).contains(&t.stack) {
                return Err(what("stack must lie in 4096..=1048576 bytes"));
            }
            if t.heap > 16 << 20 {
                return Err(what("heap must be at most 16 MiB"));
            }
            if t.dma > 16 << 20 {
                return Err(what("dma must be at most 16 MiB"));
            }
            let class = match t.class.as_str() {
                "system" => 0,
                "runtime" => 1,
                "application" => 2,
                other => {
                    return Err(what(&format!(
                        "class `{other}`: one of system, runtime, application"
                    )));
                }
            };
            let user = match &t.user {
                Some(text) => Some(
                    parse_uuid(text)
                        .ok_or_else(|| what(&format!("user `{text}` is not a UUID")))?,
                ),
                None => None,
            };
            for d in &t.devices {
                if d == KERNEL_DEVICE {
                    return Err(what(&format!(
                        "device `{d}` is the kernel's entropy source (RandomBytes) and cannot be granted to a task"
                    )));
                }
                if !DEVICES.contains(&d.as_str()) {
                    return Err(what(&format!(
                        "unknown device `{d}` (devices: {})",
                        DEVICES.join(", ")
                    )));
                }
            }
            let mut reaches = Vec::new();
            for r in &t.reaches {
                let n = endpoints
                    .iter()
                    .position(|e| &e.name == r)
                    .ok_or_else(|| what(&format!("reaches unknown endpoint `{r}`")))?;
                reaches.push(n as u16);
            }
            tasks.push(Task {
                bin: t.bin.clone().unwrap_or_else(|| t.package.clone()),
                name: t.name,
                package: t.package,
                priority: t.priority,
                stack: t.stack,
                heap: t.heap,
                dma: t.dma,
                class,
                user,
                devices: t.devices,
                reaches,
                start_at_boot: t.start_at_boot,
            });
        }
        if tasks[0].name != "init" {
            return Err("task 0 must be `init`".into());
        }
        Ok(System {
            tick_us: file.kernel.tick_us,
            tasks,
            endpoints,
        })
    }

    /// The cargo (package, binary) pairs to build.
    pub fn binaries(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for t in &self.tasks {
            let pair = (t.package.clone(), t.bin.clone());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
        out
    }
}

fn device_variant(name: &str) -> &'static str {
    match name {
        "virtio-blk" => "VirtioBlock",
        "virtio-rng" => "VirtioRng",
        "virtio-crypto" => "VirtioCrypto",
        "rtc" => "Rtc",
        "fw-cfg" => "FwCfg",
        _ => "Flash1",
    }
}

/// The Rust source the kernel includes: a `static SYSTEM: System` with each task's ELF (found by
/// `elf_of(bin)`) embedded with `include_bytes!`.
pub fn generate(system: &System, elf_of: impl Fn(&str) -> PathBuf) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// Generated by `cargo xtask` from the system file. Do not edit."
    );
    let _ = writeln!(s, "/// The system the kernel boots.");
    let _ = writeln!(s, "pub static SYSTEM: System = System {{");
    let _ = writeln!(s, "    tick_us: {},", system.tick_us);
    let _ = writeln!(s, "    tasks: &[");
    for t in &system.tasks {
        let devices: Vec<String> = t
            .devices
            .iter()
            .map(|d| format!("Device::{}", device_variant(d)))
            .collect();
        let user = match t.user {
            Some(bytes) => format!("Some({bytes:?})"),
            None => "None".into(),
        };
        let _ = writeln!(
            s,
            "        TaskDesc {{ name: {:?}, image: include_bytes!({:?}), priority: {}, \
             stack_size: {}, heap_size: {}, dma_size: {}, user: {user}, class: {}, \
             devices: &[{}], reaches: &{:?}, start_at_boot: {} }},",
            t.name,
            elf_of(&t.bin).display().to_string(),
            t.priority,
            t.stack,
            t.heap,
            t.dma,
            t.class,
            devices.join(", "),
            t.reaches,
            t.start_at_boot,
        );
    }
    let _ = writeln!(s, "    ],");
    let _ = writeln!(s, "    endpoints: &[");
    for e in &system.endpoints {
        let _ = writeln!(
            s,
            "        EndpointDesc {{ name: {:?}, owner: {}, depth: {} }},",
            e.name, e.owner, e.depth
        );
    }
    let _ = writeln!(s, "    ],");
    let _ = writeln!(s, "}};");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [kernel]
        tick-us = 5000

        [[task]]
        name = "init"
        package = "init"
        priority = 0
        stack = 16384
        class = "system"
        start-at-boot = true

        [[task]]
        name = "pong"
        package = "zos-demo"
        bin = "pong"
        priority = 2
        stack = 8192
        heap = 4096
        class = "runtime"
        user = "01234567-89ab-cdef-0123-456789abcdef"
        devices = ["rtc"]
        reaches = ["pong"]

        [[endpoint]]
        name = "init"
        server = "init"
        depth = 8

        [[endpoint]]
        name = "pong"
        server = "pong"
        depth = 4
    "#;

    #[test]
    fn a_good_file_validates_and_generates() {
        let system = System::parse(GOOD).unwrap();
        assert_eq!(system.tick_us, 5000);
        assert_eq!(system.tasks[1].reaches, vec![1]);
        assert_eq!(system.tasks[1].class, 1);
        assert_eq!(system.tasks[1].user.unwrap()[0], 0x01);
        assert_eq!(system.endpoints[1].owner, 1);
        assert_eq!(
            system.binaries(),
            vec![
                ("init".to_string(), "init".to_string()),
                ("zos-demo".to_string(), "pong".to_string())
            ]
        );
        let code = generate(&system, |bin| PathBuf::from(format!("/elf/{bin}")));
        assert!(code.contains("include_bytes!(\"/elf/pong\")"));
        assert!(code.contains("devices: &[Device::Rtc]"));
        assert!(code.contains("EndpointDesc { name: \"pong\", owner: 1, depth: 4 }"));
    }

    fn err(text: &str) -> String {
        System::parse(text).unwrap_err()
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = err(&GOOD.replace("stack = 8192", "stack = 8192\nstak = 1"));
        assert!(e.contains("unknown field `stak`"), "{e}");
        let e = err(&format!("{GOOD}\n[extra]\nx = 1\n"));
        assert!(e.contains("unknown field `extra`"), "{e}");
    }

    #[test]
    fn bad_values_name_the_entry() {
        let cases = [
            (
                GOOD.replace("priority = 2", "priority = 9"),
                "task `pong`: priority",
            ),
            (GOOD.replace("\"runtime\"", "\"root\""), "class `root`"),
            (
                GOOD.replace("[\"rtc\"]", "[\"uart\"]"),
                "unknown device `uart`",
            ),
            (
                GOOD.replace("[\"rtc\"]", "[\"virtio-rng\"]"),
                "kernel's entropy source",
            ),
            (
                GOOD.replace("reaches = [\"pong\"]", "reaches = [\"vfs\"]"),
                "unknown endpoint `vfs`",
            ),
            (GOOD.replace("depth = 4", "depth = 0"), "depth must lie"),
            (
                GOOD.replace("server = \"pong\"", "server = \"nobody\""),
                "no task `nobody`",
            ),
            (
                GOOD.replace("01234567-89ab", "not-a-uuid-89ab"),
                "is not a UUID",
            ),
            (
                GOOD.replace(
                    "name = \"pong\"\n        package",
                    "name = \"init\"\n        package",
                ),
                "listed twice",
            ),
            (
                GOOD.replace("stack = 8192", "stack = 100"),
                "stack must lie",
            ),
            (
                GOOD.replace("name = \"Pong\"", "").replace(
                    "name = \"pong\"\n        package",
                    "name = \"Pong\"\n        package",
                ),
                "task name `Pong`",
            ),
        ];
        for (text, want) in cases {
            let e = err(&text);
            assert!(e.contains(want), "wanted `{want}` in `{e}`");
        }
    }

    #[test]
    fn init_comes_first() {
        let swapped = GOOD.replace("server = \"init\"", "server = \"pong\"");
        assert!(err(&swapped).contains("endpoint 0 must be served by init"));
    }

    #[test]
    fn the_shipped_system_file_is_valid() {
        for file in [
            "qemu/system.toml",
            "qemu/kernel-tests.toml",
            "qemu/bench.toml",
        ] {
            let path = crate::paths::workspace_root().join(file);
            System::load(&path).unwrap();
        }
    }
}
