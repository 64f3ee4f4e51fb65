//! `vfs-bench`: the client of the QEMU VFS benchmark (`cargo xtask bench qemu`, system
//! `qemu/bench-vfs.toml`).
//!
//! Finds the VFS through init like any client, then counts guest instructions with the
//! `instret` counter around each client call: under QEMU's `-icount` that is the exact number
//! of instructions retired in every mode, so one sample covers the whole path — this task's
//! client library (encoding, decoding), the kernel's IPC both ways, the VFS task (dispatch,
//! store, crypto engine, virtio drivers, including their busy-wait for device completions) and
//! OpenSBI when a timer tick passes. Prints one `vfs-bench figure ...` line per figure, which
//! xtask parses, and `vfs-bench done` at the end (`vfs-bench failed: ...` on an error).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod task {
    use alloc::format;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

    use kernel_abi::init_proto::InitCallError;
    use kernel_abi::{ExitStatus, Kernel, TaskId, klog};
    use vfs_api::client::{Client, ClientError};
    use vfs_api::protocol::limits::MAX_IO;
    use vfs_api::protocol::messages::OpenFlags;
    use zos_runtime::Syscalls;

    /// How long to wait for the VFS to register with init (it formats the new disk first,
    /// which takes long under `-icount`).
    const CONNECT_TIMEOUT_NS: u64 = 120_000_000_000;
    /// Samples per small-operation figure, after [`WARM_UP`] unmeasured calls.
    const SAMPLES: usize = 200;
    /// Samples of `stat`, which is cheap enough for more.
    const STAT_SAMPLES: usize = 1000;
    /// Unmeasured calls first: QEMU translates the code paths on first use (host time, not
    /// guest instructions, but the first calls also fill the VFS's caches).
    const WARM_UP: usize = 10;
    /// Bytes of the small-file figures.
    const SMALL: usize = 4096;
    /// Bytes of one streamed file.
    const STREAM: usize = 1 << 20;
    /// Streams measured per direction, after one unmeasured stream.
    const STREAM_SAMPLES: usize = 8;

    /// Why the benchmark stopped.
    enum BenchError {
        /// The VFS never registered with init.
        Connect(InitCallError),
        /// A client call failed: the step, the error.
        Client(&'static str, ClientError),
        /// A read returned other bytes than were written.
        Mismatch(&'static str),
    }

    impl core::fmt::Display for BenchError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                Self::Connect(e) => write!(f, "no VFS registered with init: {e:?}"),
                Self::Client(step, e) => write!(f, "{step}: {e:?}"),
                Self::Mismatch(step) => {
                    write!(f, "{step}: the bytes read differ from those written")
                }
            }
        }
    }

    /// Tags a client error with the step it happened in.
    trait Step<T> {
        fn at(self, step: &'static str) -> Result<T, BenchError>;
    }

    impl<T> Step<T> for Result<T, ClientError> {
        fn at(self, step: &'static str) -> Result<T, BenchError> {
            self.map_err(|e| BenchError::Client(step, e))
        }
    }

    fn instret() -> u64 {
        let n: u64;
        // SAFETY: reading the instructions-retired counter (which the kernel lets U-mode
        // read) has no side effects.
        unsafe { core::arch::asm!("rdinstret {0}", out(reg) n) };
        n
    }

    /// Runs `f` and returns its result with the instructions it retired.
    fn count<T>(f: impl FnOnce() -> T) -> (T, u64) {
        let t0 = instret();
        let r = f();
        let t1 = instret();
        (r, t1.wrapping_sub(t0))
    }

    /// Samples of one figure, in instructions per operation.
    struct Figure {
        name: &'static str,
        /// Bytes moved per operation (for the per-byte figures), 0 for the others.
        bytes: usize,
        samples: Vec<u64>,
    }

    impl Figure {
        fn new(name: &'static str, bytes: usize) -> Self {
            Self {
                name,
                bytes,
                samples: Vec::new(),
            }
        }

        /// Prints the figure as `vfs-bench figure <name> bytes=.. mean=.. median=.. min=..
        /// max=.. samples=..` (instructions per operation; xtask divides by `bytes`).
        fn print(&mut self, k: &Syscalls) {
            self.samples.sort_unstable();
            let n = self.samples.len() as u64;
            let sum: u64 = self.samples.iter().sum();
            let mean = sum / n.max(1);
            let median = self
                .samples
                .get(self.samples.len() / 2)
                .copied()
                .unwrap_or(0);
            let min = self.samples.first().copied().unwrap_or(0);
            let max = self.samples.last().copied().unwrap_or(0);
            klog!(
                k,
                Info,
                "vfs-bench figure {} bytes={} mean={} median={} min={} max={} samples={}",
                self.name,
                self.bytes,
                mean,
                median,
                min,
                max,
                n
            );
        }
    }

    /// `len` pseudo-random bytes (xorshift64 from `seed`): content the store cannot shortcut.
    fn pattern(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        let mut out = vec![0u8; len];
        for chunk in out.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            chunk.copy_from_slice(bytes.get(..chunk.len()).unwrap_or(&[]));
        }
        out
    }

    /// Connects to the VFS, waiting while it mounts (or formats) the disk.
    fn connect(k: &Syscalls) -> Result<Client<'_, Syscalls>, BenchError> {
        let start = k.monotonic_ns();
        loop {
            match Client::connect(k) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    if k.monotonic_ns().saturating_sub(start) > CONNECT_TIMEOUT_NS {
                        return Err(BenchError::Connect(e));
                    }
                    k.sleep_ns(20_000_000);
                }
            }
        }
    }

    /// Runs `op` `WARM_UP + samples` times (the argument is the iteration) and records the
    /// instructions of the last `samples` calls.
    fn measure(
        fig: &mut Figure,
        samples: usize,
        step: &'static str,
        mut op: impl FnMut(usize) -> Result<(), ClientError>,
    ) -> Result<(), BenchError> {
        for i in 0..WARM_UP + samples {
            let (r, n) = count(|| op(i));
            r.at(step)?;
            if i >= WARM_UP {
                fig.samples.push(n);
            }
        }
        Ok(())
    }

    /// Writes `data` as one streamed file through a handle in `MAX_IO`-byte messages
    /// (open, writes, close); returns the instructions of the client calls alone.
    fn stream_write(
        c: &mut Client<'_, Syscalls>,
        path: &str,
        data: &[u8],
    ) -> Result<u64, BenchError> {
        let flags = OpenFlags {
            write: true,
            create: true,
            truncate: true,
            ..OpenFlags::default()
        };
        let (opened, mut total) = count(|| c.open(path, flags));
        let h = opened.at("stream write: open")?.handle;
        for chunk in data.chunks(MAX_IO) {
            let (r, n) = count(|| c.write(h, chunk));
            total += n;
            r.at("stream write: write")?;
        }
        let (r, n) = count(|| c.close(h));
        r.at("stream write: close")?;
        Ok(total + n)
    }

    /// Reads a streamed file back through a handle in `MAX_IO`-byte messages and checks it
    /// against `expect`; returns the instructions of the client calls alone (the check is
    /// outside the counted regions).
    fn stream_read(
        c: &mut Client<'_, Syscalls>,
        path: &str,
        expect: &[u8],
    ) -> Result<u64, BenchError> {
        let flags = OpenFlags {
            read: true,
            ..OpenFlags::default()
        };
        let (opened, mut total) = count(|| c.open(path, flags));
        let h = opened.at("stream read: open")?.handle;
        let mut at = 0usize;
        loop {
            let (r, n) = count(|| c.read(h, MAX_IO as u32));
            total += n;
            let piece = r.at("stream read: read")?;
            if piece.is_empty() {
                break;
            }
            let end = at + piece.len();
            if expect.get(at..end) != Some(piece.as_slice()) {
                return Err(BenchError::Mismatch("stream read"));
            }
            at = end;
        }
        let (r, n) = count(|| c.close(h));
        r.at("stream read: close")?;
        if at != expect.len() {
            return Err(BenchError::Mismatch("stream read: length"));
        }
        Ok(total + n)
    }

    fn run(k: &Syscalls) -> Result<(), BenchError> {
        let mut c = connect(k)?;
        c.mkdir_all("/bench/dirs").at("set-up: mkdir /bench/dirs")?;
        let small = pattern(SMALL, 0x5eed_0001);
        let msg = pattern(MAX_IO, 0x5eed_0002);
        c.write_file("/bench/f4k", &small)
            .at("set-up: write /bench/f4k")?;
        c.write_file("/bench/fmsg", &msg)
            .at("set-up: write /bench/fmsg")?;

        // stat: one Stat message.
        let mut fig = Figure::new("stat", 0);
        measure(&mut fig, STAT_SAMPLES, "stat", |_| {
            c.stat("/bench/f4k").map(drop)
        })?;
        fig.print(k);

        // 4 KiB read: what the client library does for a 4,096-byte file (it does not fit one
        // 3,968-byte read message: two ranged reads and a Stat to check the content hash).
        let mut fig = Figure::new("read4k", SMALL);
        let mut same = true;
        measure(&mut fig, SAMPLES, "read 4 KiB", |_| {
            let data = c.read_file("/bench/f4k")?;
            same &= data == small;
            Ok(())
        })?;
        if !same {
            return Err(BenchError::Mismatch("read 4 KiB"));
        }
        fig.print(k);

        // 4 KiB write: the client library's whole-file write of 4,096 bytes (Open, two
        // HandleWrites, Close: one more than a message holds).
        let mut fig = Figure::new("write4k", SMALL);
        measure(&mut fig, SAMPLES, "write 4 KiB", |_| {
            c.write_file("/bench/w4k", &small)
        })?;
        fig.print(k);

        // For comparison, the largest file that fits one message: one Read, one Write.
        let mut fig = Figure::new("read_msg", MAX_IO);
        let mut same = true;
        measure(&mut fig, SAMPLES, "read one message", |_| {
            let r = c.read_at("/bench/fmsg", 0, None, None)?;
            same &= r.data == msg;
            Ok(())
        })?;
        if !same {
            return Err(BenchError::Mismatch("read one message"));
        }
        fig.print(k);
        let mut fig = Figure::new("write_msg", MAX_IO);
        measure(&mut fig, SAMPLES, "write one message", |_| {
            c.write_file("/bench/wmsg", &msg)
        })?;
        fig.print(k);

        // mkdir: a new directory each time, all in one parent (names made outside the count).
        let names: Vec<String> = (0..WARM_UP + SAMPLES)
            .map(|i| format!("/bench/dirs/d{i}"))
            .collect();
        let mut fig = Figure::new("mkdir", 0);
        measure(&mut fig, SAMPLES, "mkdir", |i| {
            c.mkdir(names.get(i).map(String::as_str).unwrap_or("/bench/dirs/x"))
        })?;
        fig.print(k);

        // 1 MiB streamed through a handle, written then read back, each pass with new content.
        let mut write = Figure::new("stream_write", STREAM);
        let mut read = Figure::new("stream_read", STREAM);
        for i in 0..=STREAM_SAMPLES {
            let data = pattern(STREAM, 0x5eed_1000 + i as u64);
            let w = stream_write(&mut c, "/bench/stream", &data)?;
            let r = stream_read(&mut c, "/bench/stream", &data)?;
            if i > 0 {
                write.samples.push(w);
                read.samples.push(r);
            }
        }
        write.print(k);
        read.print(k);
        Ok(())
    }

    fn main(_me: TaskId) -> ExitStatus {
        let k = Syscalls;
        match run(&k) {
            Ok(()) => {
                klog!(&k, Info, "vfs-bench done");
                ExitStatus::SUCCESS
            }
            Err(e) => {
                klog!(&k, Error, "vfs-bench failed: {}", e);
                ExitStatus(1)
            }
        }
    }

    zos_runtime::task_entry!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("vfs-bench is a Zero OS task; `cargo xtask bench qemu` boots it");
}
