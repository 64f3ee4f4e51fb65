//! Scheduling glue: picking the next task with the policy of `qemu_kernel::sched`, idling (or
//! powering off when nothing can ever run again), sleepers and the timer.

use super::state::{Kernel, MAX_TASKS};
use super::task::{Block, Task};
use crate::arch::riscv64::{csr, sbi};
use crate::klog;

impl Kernel {
    /// Picks the task to run next; idles (or powers off) when there is none.
    pub fn schedule(&mut self) {
        // Keep the current task if it is ready and nobody more important is.
        loop {
            // The current task keeps the CPU if it is ready and nobody more important is: one
            // pass for the best ready priority, what a syscall that switches nothing pays.
            if self.tasks[self.current].is_ready() {
                let mut best = u8::MAX;
                for t in &self.tasks[..self.task_count] {
                    if t.is_ready() {
                        best = best.min(t.priority());
                    }
                }
                if self.tasks[self.current].priority() == best {
                    return;
                }
            }
            // Otherwise one pass builds the ready list the policy picks from. A task that
            // blocked in IPC skips the pass above (both passes cost an IPC switch about 45
            // instructions more: `ipc.rt64` 2,310 with them, 2,222 without).
            let mut ready = [None; MAX_TASKS];
            let mut any = false;
            for (slot, t) in ready.iter_mut().zip(&self.tasks[..self.task_count]) {
                if t.is_ready() {
                    *slot = Some(t.priority());
                    any = true;
                }
            }
            if !any {
                self.idle();
                continue;
            }
            if let Some(next) = self.sched.pick(&ready[..self.task_count]) {
                self.current = next;
                return;
            }
            self.idle();
        }
    }

    /// Nothing is ready: wait for the next sleeper, or power off when nothing can ever run
    /// again (every task stopped or blocked on IPC with no timer pending).
    fn idle(&mut self) {
        let wake = self.earliest_wake();
        if wake.is_none() && !self.anyone_awaits_interrupts() {
            self.power_off();
        }
        // No sleeper: park the timer so a stale pending tick does not keep `wfi` returning.
        self.arm_timer(wake.unwrap_or(u64::MAX));
        // Interrupts stay masked (sstatus.SIE = 0); `wfi` still returns when one is pending.
        loop {
            csr::wait_for_interrupt();
            if csr::external_pending() {
                self.external_interrupts();
                if self.tasks[..self.task_count].iter().any(Task::is_ready) {
                    break;
                }
            }
            if wake.is_some_and(|at| csr::time() >= at) {
                break;
            }
        }
        self.wake_sleepers();
        self.timer_dirty = true;
    }

    /// Whether a task waits in `WaitNotification` for a device whose interrupt is forwarded.
    fn anyone_awaits_interrupts(&self) -> bool {
        self.plic.is_some()
            && self.tasks[..self.task_count].iter().any(|t| {
                t.is_alive()
                    && matches!(
                        t.block,
                        Block::Notification { .. } | Block::ConsoleRead { .. }
                    )
            })
    }

    fn earliest_wake(&self) -> Option<u64> {
        self.tasks[..self.task_count]
            .iter()
            .filter_map(Task::wake_at)
            .min()
    }

    /// Makes every sleeper whose time has come ready.
    pub fn wake_sleepers(&mut self) {
        let now = csr::time();
        for t in self.tasks[..self.task_count].iter_mut() {
            if t.wake_at().is_some_and(|at| at <= now) {
                t.wake(0);
            }
        }
    }

    /// Programs the timer for the earlier of the tick and the next sleeper, if it changed.
    pub fn rearm(&mut self) {
        let mut deadline = self.next_tick;
        if let Some(wake) = self.earliest_wake() {
            deadline = deadline.min(wake);
        }
        if deadline != self.timer_armed {
            self.arm_timer(deadline);
        }
    }

    fn arm_timer(&mut self, deadline: u64) {
        self.timer_armed = deadline;
        sbi::set_timer(deadline);
    }

    fn power_off(&mut self) -> ! {
        let failed = self.failed;
        klog!(
            info,
            "no task can run any more; powering off ({})",
            if failed { "failure" } else { "success" }
        );
        sbi::shutdown(!failed)
    }

    /// The timer fired: wake sleepers, and end the running task's slice if the tick passed.
    pub(super) fn timer_interrupt(&mut self) {
        let now = csr::time();
        self.wake_sleepers();
        if now >= self.next_tick {
            let cur = self.current;
            if self.tasks[cur].is_ready() {
                let prio = self.tasks[cur].priority();
                self.sched.rotate(cur, prio);
                // Let the next task of this priority go first.
                if let Some(next) = self.sched.pick(&self.ready_list()[..self.task_count]) {
                    self.current = next;
                }
            }
            self.next_tick = now + self.tick_len();
        }
        self.timer_armed = u64::MAX;
        self.timer_dirty = true;
    }
}
