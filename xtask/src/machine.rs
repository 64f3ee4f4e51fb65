//! The QEMU machine of Zero OS: `virt` with OpenSBI, the kernel, and the virtio devices named in
//! docs/ARCHITECTURE.md (a virtio-blk disk, a virtio-crypto engine on the builtin backend, a
//! virtio-rng entropy source) plus the second CFI flash bank.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Size of a new disk image.
pub const DISK_BYTES: u64 = 64 << 20;
/// The fw_cfg file name of the device master key (what the VFS task reads).
pub const MASTER_KEY_FW_CFG: &str = "opt/org.zeroos/master-key";
/// Bytes of a device master key.
pub const MASTER_KEY_LEN: usize = 32;

/// QEMU's virt machine requires each pflash bank to be exactly this size.
pub const FLASH_BYTES: u64 = 32 << 20;

/// One bootable machine configuration.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// The raw disk image behind virtio-blk.
    pub disk: PathBuf,
    /// The disk's device master key (32 raw bytes, mode 0600), next to the image and never in
    /// it: `<disk>.key`, the name `zvfs` uses. QEMU hands it to the guest through fw_cfg as
    /// [`MASTER_KEY_FW_CFG`] (standing in for OTP).
    pub key: PathBuf,
    /// The raw image of the second flash bank.
    pub flash: PathBuf,
    /// Attach the virtio-crypto device (the hardware crypto engine).
    pub crypto_device: bool,
    /// Attach the virtio-rng device (the kernel's entropy source; without it `RandomBytes`
    /// answers `NotSupported`).
    pub rng_device: bool,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Run under `-icount` so guest time is instruction count (for measurements).
    pub icount: bool,
    /// Wait for a debugger on TCP port 1234 before running.
    pub gdb: bool,
    /// Ask the kernel for defmt log records (boot argument `zos.log=defmt`) and write them, as
    /// the raw frame stream, to this file through QEMU's semihosting console. `None`: the
    /// kernel logs plain text on the UART.
    pub defmt_log: Option<PathBuf>,
}

impl Machine {
    /// The default machine, with its images in `state_dir` (created if missing).
    pub fn new(kernel: PathBuf, state_dir: &Path) -> io::Result<Self> {
        let machine = Self::at(kernel, state_dir)?;
        machine.create_images()?;
        Ok(machine)
    }

    /// The default machine with its images in `state_dir`, which is created; the images are
    /// not (see [`Machine::create_images`] and [`crate::bake::bake_disk`]).
    pub fn at(kernel: PathBuf, state_dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(state_dir)?;
        Ok(Self {
            kernel,
            disk: state_dir.join("disk.img"),
            key: state_dir.join("disk.img.key"),
            flash: state_dir.join("flash1.img"),
            crypto_device: true,
            rng_device: true,
            memory_mib: 256,
            icount: false,
            gdb: false,
            defmt_log: None,
        })
    }

    /// Creates the disk and flash images if they do not exist yet. A new disk reads as zeros
    /// (sparse); a new flash bank reads as erased NOR (all ones). A disk without a key file
    /// gets a new random master key (the VFS formats a blank disk under it).
    pub fn create_images(&self) -> io::Result<()> {
        if !self.key.exists() {
            write_new_key(&self.key)?;
        }
        if !self.disk.exists() {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&self.disk)?;
            file.set_len(DISK_BYTES)?;
        }
        if !self.flash.exists() {
            fs::write(&self.flash, vec![0xff; FLASH_BYTES as usize])?;
        }
        Ok(())
    }

    /// The virtio devices this machine attaches, by the names the kernel's banner prints.
    pub fn attached_virtio_devices(&self) -> Vec<&'static str> {
        let mut devices = vec!["block"];
        if self.crypto_device {
            devices.push("crypto");
        }
        if self.rng_device {
            devices.push("entropy");
        }
        devices
    }

    /// The QEMU command line for this machine, console on stdio.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("qemu-system-riscv64");
        cmd.args([
            "-machine",
            "virt",
            "-bios",
            "default",
            "-nographic",
            "-no-reboot",
        ]);
        cmd.args(["-m", &format!("{}M", self.memory_mib), "-smp", "1"]);
        cmd.arg("-kernel").arg(&self.kernel);
        // Modern (virtio 1.x) register layout rather than the legacy one.
        cmd.args(["-global", "virtio-mmio.force-legacy=false"]);
        cmd.arg("-drive").arg(format!(
            "if=none,id=disk0,format=raw,file={}",
            self.disk.display()
        ));
        cmd.args(["-device", "virtio-blk-device,drive=disk0"]);
        cmd.arg("-fw_cfg").arg(format!(
            "name={MASTER_KEY_FW_CFG},file={}",
            self.key.display()
        ));
        if self.crypto_device {
            cmd.args(["-object", "cryptodev-backend-builtin,id=crypto0"]);
            cmd.args(["-device", "virtio-crypto-device,cryptodev=crypto0"]);
        }
        if self.rng_device {
            cmd.args(["-object", "rng-random,id=rng0,filename=/dev/urandom"]);
            cmd.args(["-device", "virtio-rng-device,rng=rng0"]);
        }
        cmd.arg("-drive").arg(format!(
            "if=pflash,unit=1,format=raw,file={}",
            self.flash.display()
        ));
        if self.icount {
            // One guest instruction per virtual nanosecond: guest time counts instructions.
            cmd.args(["-icount", "shift=0"]);
        }
        if let Some(log) = &self.defmt_log {
            cmd.arg("-chardev")
                .arg(format!("file,id=zosdefmt,path={}", log.display()));
            cmd.args([
                "-semihosting-config",
                "enable=on,target=native,chardev=zosdefmt",
                "-append",
                "zos.log=defmt",
            ]);
        }
        if self.gdb {
            cmd.args(["-s", "-S"]);
        }
        cmd
    }
}

/// Writes a new random master key to `path` (created, mode 0600).
pub fn write_new_key(path: &Path) -> io::Result<()> {
    use std::io::{Read, Write};
    let mut key = [0u8; MASTER_KEY_LEN];
    fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(&key)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(machine: &Machine) -> Vec<String> {
        machine
            .command()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_entropy_device_is_attached_unless_left_out() {
        let dir = std::env::temp_dir().join(format!("zos-machine-test-{}", std::process::id()));
        let mut machine = Machine::at(PathBuf::from("kernel"), &dir).expect("state dir");
        assert!(args(&machine).contains(&"virtio-rng-device,rng=rng0".to_owned()));
        assert!(machine.attached_virtio_devices().contains(&"entropy"));
        machine.rng_device = false;
        assert!(!args(&machine).iter().any(|a| a.contains("rng")));
        assert!(!machine.attached_virtio_devices().contains(&"entropy"));
        let _ = fs::remove_dir_all(&dir);
    }
}
