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
    /// Files of the cold-read figure: 96 × 4 KiB = 384 KiB of content, twice the VFS store's
    /// value cache (192 KiB, `storage_backend::DEFAULT_USERSPACE_CACHE_BYTES`). Read in a cycle,
    /// a least-recently-used cache holds none of the next file's records when it is read.
    const COLD_FILES: usize = 96;

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

    /// Opens profile region `region` (1..=15), or closes the open one (0), for the QEMU
    /// profiling plugin of `cargo xtask bench qemu --profile` (`qemu/profile-plugin`): the
    /// marker is `slti x0, x0, 0x7a0 + region`, a HINT that retires as one no-op without the
    /// plugin. Called outside the counted windows, so no figure includes it.
    fn mark(region: u32) {
        match region {
            0 => hint::<0x7a0>(),
            1 => hint::<0x7a1>(),
            2 => hint::<0x7a2>(),
            3 => hint::<0x7a3>(),
            4 => hint::<0x7a4>(),
            5 => hint::<0x7a5>(),
            6 => hint::<0x7a6>(),
            7 => hint::<0x7a7>(),
            8 => hint::<0x7a8>(),
            9 => hint::<0x7a9>(),
            _ => {}
        }
    }

    /// `slti x0, x0, IMM`.
    fn hint<const IMM: u32>() {
        // SAFETY: a write to x0, which the architecture discards; no memory, register or flag
        // changes.
        unsafe { core::arch::asm!("slti x0, x0, {imm}", imm = const IMM) };
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
        /// The profile region of this figure (see [`mark`]).
        region: u32,
        samples: Vec<u64>,
    }

    impl Figure {
        fn new(name: &'static str, bytes: usize, region: u32) -> Self {
            Self {
                name,
                bytes,
                region,
                samples: Vec::new(),
            }
        }

        /// Prints the figure as `vfs-bench figure <name> bytes=.. mean=.. median=.. p99=..
        /// min=.. max=.. samples=.. region=..` (instructions per operation; xtask divides by
        /// `bytes`). The 99th percentile is the sample below which 99 % of them lie (nearest
        /// rank).
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
            let rank = (self.samples.len() * 99).div_ceil(100).max(1) - 1;
            let p99 = self.samples.get(rank).copied().unwrap_or(0);
            let min = self.samples.first().copied().unwrap_or(0);
            let max = self.samples.last().copied().unwrap_or(0);
            klog!(
                k,
                Info,
                "vfs-bench figure {} bytes={} mean={} median={} p99={} min={} max={} samples={} region={}",
                self.name,
                self.bytes,
                mean,
                median,
                p99,
                min,
                max,
                n,
                self.region
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

    /// Runs `op` `WARM_UP + samples` times (the argument is the iteration), records the
    /// instructions of the last `samples` calls, and hands each result to `check` outside the
    /// counted window (a read's comparison with what was written is not part of its figure).
    fn measure<T>(
        fig: &mut Figure,
        samples: usize,
        step: &'static str,
        mut op: impl FnMut(usize) -> Result<T, ClientError>,
        mut check: impl FnMut(usize, T) -> bool,
    ) -> Result<(), BenchError> {
        for i in 0..WARM_UP + samples {
            let measured = i >= WARM_UP;
            if measured {
                mark(fig.region);
            }
            let (r, n) = count(|| op(i));
            mark(0);
            if !check(i, r.at(step)?) {
                return Err(BenchError::Mismatch(step));
            }
            if measured {
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
        region: u32,
    ) -> Result<u64, BenchError> {
        let flags = OpenFlags {
            write: true,
            create: true,
            truncate: true,
            ..OpenFlags::default()
        };
        mark(region);
        let (opened, mut total) = count(|| c.open(path, flags));
        let h = opened.at("stream write: open")?.handle;
        for chunk in data.chunks(MAX_IO) {
            let (r, n) = count(|| c.write(h, chunk));
            total += n;
            r.at("stream write: write")?;
        }
        let (r, n) = count(|| c.close(h));
        mark(0);
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
        region: u32,
    ) -> Result<u64, BenchError> {
        let flags = OpenFlags {
            read: true,
            ..OpenFlags::default()
        };
        let (opened, mut total) = count(|| c.open(path, flags));
        let h = opened.at("stream read: open")?.handle;
        let mut at = 0usize;
        loop {
            mark(region);
            let (r, n) = count(|| c.read(h, MAX_IO as u32));
            mark(0);
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
        let mut fig = Figure::new("stat", 0, 1);
        measure(
            &mut fig,
            STAT_SAMPLES,
            "stat",
            |_| c.stat("/bench/f4k").map(drop),
            |_, ()| true,
        )?;
        fig.print(k);

        // 4 KiB read: what the client library does for a 4,096-byte file (it does not fit one
        // 3,968-byte read message: two ranged reads and a Stat to check the content hash).
        let mut fig = Figure::new("read4k", SMALL, 2);
        measure(
            &mut fig,
            SAMPLES,
            "read 4 KiB",
            |_| c.read_file("/bench/f4k"),
            |_, data| data == small,
        )?;
        fig.print(k);

        // 4 KiB write: the client library's whole-file write of 4,096 bytes (Open, two
        // HandleWrites, Close: one more than a message holds).
        let mut fig = Figure::new("write4k", SMALL, 4);
        measure(
            &mut fig,
            SAMPLES,
            "write 4 KiB",
            |_| c.write_file("/bench/w4k", &small),
            |_, ()| true,
        )?;
        fig.print(k);

        // For comparison, the largest file that fits one message: one Read, one Write.
        let mut fig = Figure::new("read_msg", MAX_IO, 8);
        measure(
            &mut fig,
            SAMPLES,
            "read one message",
            |_| c.read_at("/bench/fmsg", 0, None, None),
            |_, r| r.data == msg,
        )?;
        fig.print(k);
        let mut fig = Figure::new("write_msg", MAX_IO, 9);
        measure(
            &mut fig,
            SAMPLES,
            "write one message",
            |_| c.write_file("/bench/wmsg", &msg),
            |_, ()| true,
        )?;
        fig.print(k);

        // mkdir: a new directory each time, all in one parent (names made outside the count).
        let names: Vec<String> = (0..WARM_UP + SAMPLES)
            .map(|i| format!("/bench/dirs/d{i}"))
            .collect();
        let mut fig = Figure::new("mkdir", 0, 5);
        measure(
            &mut fig,
            SAMPLES,
            "mkdir",
            |i| c.mkdir(names.get(i).map(String::as_str).unwrap_or("/bench/dirs/x")),
            |_, ()| true,
        )?;
        fig.print(k);

        // 1 MiB streamed through a handle, written then read back, each pass with new content.
        let mut write = Figure::new("stream_write", STREAM, 6);
        let mut read = Figure::new("stream_read", STREAM, 7);
        for i in 0..=STREAM_SAMPLES {
            let data = pattern(STREAM, 0x5eed_1000 + i as u64);
            let w = stream_write(&mut c, "/bench/stream", &data, if i > 0 { 6 } else { 0 })?;
            let r = stream_read(&mut c, "/bench/stream", &data, if i > 0 { 7 } else { 0 })?;
            if i > 0 {
                write.samples.push(w);
                read.samples.push(r);
            }
        }
        write.print(k);
        read.print(k);

        c.mkdir_all("/bench/cold").at("set-up: mkdir /bench/cold")?;
        let cold: Vec<String> = (0..COLD_FILES)
            .map(|i| format!("/bench/cold/f{i}"))
            .collect();
        for (i, path) in cold.iter().enumerate() {
            c.write_file(path, &pattern(SMALL, 0x5eed_2000 + i as u64))
                .at("set-up: write /bench/cold")?;
        }
        // 4 KiB read, cold: the same client call over a cycle of files twice the size of the
        // store's value cache, so each read finds none of its file's records cached: they come
        // from virtio-blk and are decrypted and authenticated (the directory and inode records
        // of the path may still be cached; they are shared by every file of the cycle). Last,
        // so that its 96 files do not change the store state the other figures run in.
        let mut fig = Figure::new("read4k_cold", SMALL, 3);
        measure(
            &mut fig,
            SAMPLES,
            "read 4 KiB cold",
            |i| {
                let path = cold.get(i % COLD_FILES).map(String::as_str);
                c.read_file(path.unwrap_or("/bench/f4k"))
            },
            |i, data| data == pattern(SMALL, 0x5eed_2000 + (i % COLD_FILES) as u64),
        )?;
        fig.print(k);
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
