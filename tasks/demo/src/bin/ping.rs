//! `ping`: the client side of the kernel's acceptance tests. Each test logs
//! `test <name> ... ok` or `... FAILED: why`; any failure makes the task exit with status 1,
//! which the kernel turns into a failing power-off status.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::{Device, Errno, Kernel, ProcessClass, TaskId, klog};
    use zos_demo::{CRASH, ECHO, PING, WHOAMI, decode_credentials, endpoints};
    use zos_runtime::Syscalls;

    /// The user this task runs for (its `user` in the system file).
    const MY_USER: u128 = 0x6a1c_5a3e_0d0c_4f6e_9b7a_2f41_c0de_0001;

    type Outcome = Result<(), &'static str>;
    type Test = fn(&Syscalls, TaskId) -> Outcome;

    fn ping_pong(k: &Syscalls) -> Outcome {
        let mut request = [0u8; 64];
        let mut reply = [0u8; 64];
        for round in 0..100u32 {
            for (i, b) in request.iter_mut().enumerate() {
                *b = (round as u8).wrapping_mul(31).wrapping_add(i as u8);
            }
            let (tag, n) = k
                .call(endpoints::PONG, ECHO, &request, &mut reply)
                .map_err(|_| "call failed")?;
            if tag != ECHO.response() || n != 64 || reply != request {
                return Err("wrong echo");
            }
        }
        Ok(())
    }

    fn credentials(k: &Syscalls, me: TaskId) -> Outcome {
        // The payload claims to be someone else; the kernel's stamp must win.
        let forged = zos_demo::encode_credentials(&kernel_abi::Credentials::KERNEL);
        let mut reply = [0u8; 64];
        let (_, n) = k
            .call(endpoints::PONG, WHOAMI, &forged, &mut reply)
            .map_err(|_| "call failed")?;
        let seen = decode_credentials(&reply[..n]).ok_or("bad answer")?;
        if seen.task != me {
            return Err("server saw another task id");
        }
        if seen.class != ProcessClass::Application {
            return Err("server saw another class");
        }
        if seen.user.map(|u| u.as_u128()) != Some(MY_USER) {
            return Err("server saw another user");
        }
        Ok(())
    }

    fn full_queue(k: &Syscalls) -> Outcome {
        // `sink` has depth 2 and its server never receives.
        for _ in 0..2 {
            k.send(endpoints::SINK, PING, b"x")
                .map_err(|_| "send failed")?;
        }
        match k.send(endpoints::SINK, PING, b"x") {
            Err(Errno::QueueFull) => Ok(()),
            Ok(()) => Err("third send was queued"),
            Err(_) => Err("wrong error"),
        }
    }

    fn priority(k: &Syscalls) -> Outcome {
        // The spinner (less important) spins without syscalls; this sleep must still end on
        // time, because the timer preempts it.
        let start = k.monotonic_ns();
        k.sleep_ns(20_000_000);
        let late = k.monotonic_ns() - start;
        klog!(k, Info, "slept 20 ms, woke after {} us", late / 1000);
        if late > 100_000_000 {
            return Err("woke far too late");
        }
        Ok(())
    }

    fn restart(k: &Syscalls) -> Outcome {
        let mut reply = [0u8; 8];
        k.call(endpoints::CRASHER, PING, &[], &mut reply)
            .map_err(|_| "first ping failed")?;
        match k.call(endpoints::CRASHER, CRASH, &[], &mut reply) {
            Err(Errno::PeerDied) => {}
            Ok(_) => return Err("crash request was answered"),
            Err(_) => return Err("crash request: wrong error"),
        }
        klog!(
            k,
            Info,
            "server died, the call failed with PeerDied; retrying"
        );
        for attempt in 0..200 {
            match k.call(endpoints::CRASHER, PING, &[], &mut reply) {
                Ok((_, 2)) => {
                    let generation = u16::from_le_bytes([reply[0], reply[1]]);
                    klog!(
                        k,
                        Info,
                        "restarted server (generation {generation}) answered after {attempt} retries"
                    );
                    return if generation >= 1 {
                        Ok(())
                    } else {
                        Err("same generation")
                    };
                }
                Ok(_) => return Err("bad answer"),
                Err(_) => k.sleep_ns(5_000_000),
            }
        }
        Err("server never came back")
    }

    /// Random bytes: two draws differ and are not all zero, and a whole payload (the most one
    /// syscall returns) can be drawn; the first draw is logged as `random bytes: <hex>` so that
    /// the QEMU tests can compare boots. Without an entropy source the kernel answers
    /// `NotSupported` (logged as `random bytes: not supported`), which the contract allows.
    fn random_bytes(k: &Syscalls) -> Outcome {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        match k.random_bytes(&mut a) {
            Ok(()) => {}
            Err(Errno::NotSupported) => {
                klog!(k, Info, "random bytes: not supported");
                return Ok(());
            }
            Err(_) => return Err("random bytes failed"),
        }
        k.random_bytes(&mut b).map_err(|_| "random bytes failed")?;
        if a == b || a == [0; 32] {
            return Err("random bytes repeat");
        }
        let mut page = [0u8; kernel_abi::MAX_PAYLOAD];
        k.random_bytes(&mut page)
            .map_err(|_| "a payload of random bytes failed")?;
        if page[..32] == a || page[page.len() - 32..] == [0; 32] {
            return Err("payload of random bytes repeats");
        }
        let mut hex = [0u8; 64];
        for (i, byte) in a.iter().enumerate() {
            hex[2 * i] = b"0123456789abcdef"[(byte >> 4) as usize];
            hex[2 * i + 1] = b"0123456789abcdef"[(byte & 15) as usize];
        }
        let hex = core::str::from_utf8(&hex).map_err(|_| "hex")?;
        // Enough requests to cross the kernel's reseed interval (1024): the reseed from the
        // device, with paging on and tasks running, must not disturb anything.
        let mut last = [0u8; 16];
        for _ in 0..1100 {
            let mut next = [0u8; 16];
            k.random_bytes(&mut next)
                .map_err(|_| "random bytes failed across a reseed")?;
            if next == last {
                return Err("random bytes repeat across a reseed");
            }
            last = next;
        }
        klog!(k, Info, "random bytes: {hex}");
        Ok(())
    }

    fn services(k: &Syscalls) -> Outcome {
        // Clocks: the RTC says we are past 2020; monotonic time moves forward.
        let wall = k.wall_clock_ns();
        if wall < 1_577_836_800_000_000_000 {
            return Err("wall clock before 2020");
        }
        let t0 = k.monotonic_ns();
        let t1 = k.monotonic_ns();
        if t1 < t0 {
            return Err("monotonic time went back");
        }
        random_bytes(k)?;
        // DMA memory: zeroed, writable, page-aligned, with a physical address in RAM.
        let (virt, phys) = Syscalls::dma_alloc(8192).map_err(|_| "dma_alloc failed")?;
        if virt % 4096 != 0 || phys % 4096 != 0 || phys < 0x8000_0000 {
            return Err("dma addresses");
        }
        // SAFETY: the kernel just mapped these 8192 bytes read-write for this task only.
        let dma = unsafe { core::slice::from_raw_parts_mut(virt as *mut u8, 8192) };
        if dma.iter().any(|&b| b != 0) {
            return Err("dma memory not zeroed");
        }
        dma[8191] = 0xa5;
        if Syscalls::dma_alloc(64 << 10) != Err(Errno::OutOfResources) {
            return Err("dma budget not enforced");
        }
        // A granted device: the RTC's window, read directly, agrees with the wall clock.
        let rtc = Syscalls::map_mmio(Device::Rtc).map_err(|_| "map_mmio(rtc) failed")?;
        // SAFETY: the kernel mapped the goldfish RTC's registers here; TIME_LOW (offset 0)
        // latches TIME_HIGH (offset 4); reading them has no other effect.
        let rtc_ns = unsafe {
            let low = core::ptr::read_volatile(rtc.virt as *const u32);
            let high = core::ptr::read_volatile((rtc.virt + 4) as *const u32);
            (u64::from(high) << 32) | u64::from(low)
        };
        if rtc_ns.abs_diff(wall) > 10_000_000_000 {
            return Err("rtc window disagrees with the wall clock");
        }
        // A device not granted to this task.
        if Syscalls::map_mmio(Device::VirtioBlock).map(|_| ()) != Err(Errno::NotGranted) {
            return Err("ungranted device was mapped");
        }
        klog!(
            k,
            Info,
            "dma at {virt:#x} (phys {phys:#x}), rtc at {:#x} (phys {:#x})",
            rtc.virt,
            rtc.phys
        );
        Ok(())
    }

    /// goldfish RTC registers (QEMU hw/rtc/goldfish_rtc.c).
    const RTC_TIME_LOW: usize = 0x00;
    const RTC_TIME_HIGH: usize = 0x04;
    const RTC_ALARM_LOW: usize = 0x08;
    const RTC_ALARM_HIGH: usize = 0x0c;
    const RTC_IRQ_ENABLED: usize = 0x10;
    const RTC_CLEAR_INTERRUPT: usize = 0x1c;

    fn interrupt(k: &Syscalls) -> Outcome {
        let rtc = Syscalls::map_mmio(Device::Rtc).map_err(|_| "map_mmio(rtc) failed")?;
        if rtc.irq == 0 {
            return Err("the RTC has no interrupt");
        }
        let reg = |off: usize| (rtc.virt + off) as *mut u32;
        let bit = Device::Rtc.notification_bit();
        if Syscalls::wait_notification(bit, false) != Err(Errno::WouldBlock) {
            return Err("a notification before the alarm");
        }
        // A timed wait with nothing to deliver returns no bits once the timeout passed.
        let before = k.monotonic_ns();
        if Syscalls::wait_notification_timeout(bit, 2_000_000) != Ok(0) {
            return Err("a timed wait before the alarm did not time out");
        }
        if k.monotonic_ns() - before < 2_000_000 {
            return Err("a timed wait returned before its timeout");
        }
        // SAFETY: the kernel mapped the RTC's registers for this task; reading the time
        // latches the high half, writing the alarm (high half first) arms it, and enabling
        // the interrupt only makes the RTC raise its line.
        let armed_at = unsafe {
            let low = core::ptr::read_volatile(reg(RTC_TIME_LOW));
            let high = core::ptr::read_volatile(reg(RTC_TIME_HIGH));
            let now = (u64::from(high) << 32) | u64::from(low);
            let alarm = now + 5_000_000;
            core::ptr::write_volatile(reg(RTC_IRQ_ENABLED), 1);
            core::ptr::write_volatile(reg(RTC_ALARM_HIGH), (alarm >> 32) as u32);
            core::ptr::write_volatile(reg(RTC_ALARM_LOW), alarm as u32);
            k.monotonic_ns()
        };
        let bits = Syscalls::wait_notification(bit, true).map_err(|_| "wait failed")?;
        let waited = k.monotonic_ns() - armed_at;
        // SAFETY: as above; clearing the RTC's interrupt and disabling it have no other effect.
        unsafe {
            core::ptr::write_volatile(reg(RTC_CLEAR_INTERRUPT), 1);
            core::ptr::write_volatile(reg(RTC_IRQ_ENABLED), 0);
        }
        Syscalls::irq_ack(Device::Rtc).map_err(|_| "irq_ack failed")?;
        klog!(
            k,
            Info,
            "rtc alarm (irq {}) notified after {} us",
            rtc.irq,
            waited / 1000
        );
        if bits != bit || waited < 4_000_000 {
            return Err("woken without the alarm");
        }
        Ok(())
    }

    fn main(me: TaskId) -> u32 {
        let k = Syscalls;
        let tests: [(&str, Test); 7] = [
            ("ping-pong", |k, _| ping_pong(k)),
            ("credentials", credentials),
            ("full-queue", |k, _| full_queue(k)),
            ("priority", |k, _| priority(k)),
            ("restart", |k, _| restart(k)),
            ("services", |k, _| services(k)),
            ("interrupt", |k, _| interrupt(k)),
        ];
        let mut failed = 0;
        for (name, test) in tests {
            match test(&k, me) {
                Ok(()) => klog!(&k, Info, "test {name} ... ok"),
                Err(why) => {
                    failed += 1;
                    klog!(&k, Error, "test {name} ... FAILED: {why}");
                }
            }
        }
        if failed == 0 { 0 } else { 1 }
    }
    zos_demo::task_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    zos_demo::host_main();
}
