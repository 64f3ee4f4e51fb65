//! `bench`: the IPC benchmark client (`cargo xtask bench ipc`, system `qemu/bench.toml`).
//!
//! Counts guest instructions with the `instret` counter, which under QEMU's `-icount` is the
//! exact number of instructions retired (in every mode: this task, the kernel, and OpenSBI when
//! a timer tick passes through it). Prints one `ipc.<figure>: <value> <unit>` line per figure.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::{EndpointId, Kernel, Tag, TaskId, klog};
    use zos_demo::{ECHO, endpoints};
    use zos_runtime::Syscalls;

    /// Calls measured per figure.
    const ROUNDS: u64 = 10_000;
    /// The yielder's endpoint in `qemu/bench.toml`.
    const YIELDER: EndpointId = EndpointId(2);

    fn instret() -> u64 {
        let n: u64;
        // SAFETY: reading the instructions-retired counter (which the kernel lets U-mode
        // read) has no side effects.
        unsafe { core::arch::asm!("rdinstret {0}", out(reg) n) };
        n
    }

    #[derive(Default)]
    struct Stats {
        n: u64,
        sum: u64,
        sum_sq: u128,
        min: u64,
        max: u64,
    }

    impl Stats {
        fn add(&mut self, x: u64) {
            if self.n == 0 || x < self.min {
                self.min = x;
            }
            self.max = self.max.max(x);
            self.n += 1;
            self.sum += x;
            self.sum_sq += u128::from(x) * u128::from(x);
        }

        fn mean(&self) -> u64 {
            self.sum / self.n.max(1)
        }

        fn stddev(&self) -> u64 {
            let n = u128::from(self.n.max(1));
            let mean = u128::from(self.sum) / n;
            let var = (self.sum_sq / n).saturating_sub(mean * mean);
            isqrt(var) as u64
        }

        fn print(&self, k: &Syscalls, figure: &str) {
            klog!(k, Info, "ipc.{figure}.mean: {} instructions", self.mean());
            klog!(
                k,
                Info,
                "ipc.{figure}.stddev: {} instructions",
                self.stddev()
            );
            klog!(k, Info, "ipc.{figure}.min: {} instructions", self.min);
            klog!(k, Info, "ipc.{figure}.max: {} instructions", self.max);
            klog!(k, Info, "ipc.{figure}.samples: {} calls", self.n);
        }
    }

    fn isqrt(v: u128) -> u128 {
        if v < 2 {
            return v;
        }
        let mut x = v;
        let mut y = x.div_ceil(2);
        while y < x {
            x = y;
            y = (x + v / x) / 2;
        }
        x
    }

    fn round_trips(k: &Syscalls, size: usize) -> Stats {
        let request = [0x5au8; kernel_abi::MAX_PAYLOAD];
        let mut reply = [0u8; kernel_abi::MAX_PAYLOAD];
        let mut stats = Stats::default();
        for i in 0..ROUNDS + 100 {
            let t0 = instret();
            let r = k.call(endpoints::PONG, ECHO, &request[..size], &mut reply[..size]);
            let t1 = instret();
            if r.is_err() {
                klog!(k, Error, "call failed");
            }
            // The first calls warm up caches of QEMU's translator, not the guest; skip them.
            if i >= 100 {
                stats.add(t1 - t0);
            }
        }
        stats
    }

    fn main(_me: TaskId) -> u32 {
        let k = Syscalls;
        // A syscall that does nothing but enter and leave the kernel.
        let mut null = Stats::default();
        for _ in 0..ROUNDS {
            let t0 = instret();
            let _ = k.monotonic_ns();
            null.add(instret() - t0);
        }
        null.print(&k, "null_syscall");
        round_trips(&k, 64).print(&k, "rt64");
        round_trips(&k, 4096).print(&k, "rt4096");
        // Context switches: this task and the yielder (same priority) hand the CPU back and
        // forth with Yield; each iteration is two yields and two switches.
        if k.send(YIELDER, Tag(0x2020), &ROUNDS.to_le_bytes()).is_err() {
            klog!(&k, Error, "yielder not reachable");
            return 1;
        }
        k.yield_now();
        let mut switch = Stats::default();
        for _ in 0..ROUNDS {
            let t0 = instret();
            k.yield_now();
            switch.add((instret() - t0) / 2);
        }
        switch.print(&k, "yield_switch");
        klog!(&k, Info, "bench done");
        0
    }
    zos_demo::task_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    zos_demo::host_main();
}
