//! Supervision: what init does when the kernel reports that a task stopped.
//!
//! Each task has a [`RestartPolicy`] (default [`RestartPolicy::OnFailure`]). A restart is
//! immediate the first time; repeated failures back off exponentially (`base_delay_ns`,
//! doubling, capped at `max_delay_ns`), and a task that fails more than `max_restarts` times
//! within `window_ns` is given up on (left stopped, logged as an error), so a crash loop cannot
//! eat the machine. Reports about an older incarnation than the one init knows are stale and
//! ignored.

use heapless::Vec;
use kernel_abi::{
    ExitStatus, FaultKind, TaskId,
    init_proto::{FaultReport, RestartPolicy},
};

/// How many tasks init supervises at most.
pub const MAX_TASKS: usize = 64;

/// Tunables of the restart policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most restarts allowed within `window_ns` before init gives up on a task.
    pub max_restarts: u32,
    /// The window in which restarts are counted.
    pub window_ns: u64,
    /// Delay before the second restart within a window (the first is immediate).
    pub base_delay_ns: u64,
    /// The longest delay.
    pub max_delay_ns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            window_ns: 10_000_000_000,
            base_delay_ns: 10_000_000,
            max_delay_ns: 1_000_000_000,
        }
    }
}

/// What to do about a stopped task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Restart it at this monotonic time.
    Restart {
        /// When (monotonic nanoseconds).
        at_ns: u64,
    },
    /// Leave it stopped: its policy says so.
    Leave,
    /// Leave it stopped: it failed too often.
    GiveUp,
    /// The report is about an incarnation that is already gone, or an unknown task.
    Stale,
}

/// Init's record of one task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    id: TaskId,
    policy: RestartPolicy,
    window_start_ns: u64,
    restarts_in_window: u32,
    restart_at_ns: Option<u64>,
}

/// The supervision table.
#[derive(Debug, Default)]
pub struct Supervision {
    config: Config,
    tasks: Vec<Record, MAX_TASKS>,
}

impl Supervision {
    /// An empty table.
    pub const fn new(config: Config) -> Self {
        Self {
            config,
            tasks: Vec::new(),
        }
    }

    /// Adds (or updates) the record of a task slot with its current incarnation.
    pub fn track(&mut self, id: TaskId) -> bool {
        if let Some(r) = self.record_mut(id.index) {
            r.id = id;
            return true;
        }
        self.tasks
            .push(Record {
                id,
                policy: RestartPolicy::OnFailure,
                window_start_ns: 0,
                restarts_in_window: 0,
                restart_at_ns: None,
            })
            .is_ok()
    }

    fn record_mut(&mut self, index: u16) -> Option<&mut Record> {
        self.tasks.iter_mut().find(|r| r.id.index == index)
    }

    /// Sets the restart policy of task slot `index`; false if the task is unknown.
    pub fn set_policy(&mut self, index: u16, policy: RestartPolicy) -> bool {
        match self.record_mut(index) {
            Some(r) => {
                r.policy = policy;
                true
            }
            None => false,
        }
    }

    /// The policy of task slot `index`.
    pub fn policy(&self, index: u16) -> Option<RestartPolicy> {
        self.tasks
            .iter()
            .find(|r| r.id.index == index)
            .map(|r| r.policy)
    }

    /// Decides about a stopped task at monotonic time `now_ns`, and schedules the restart.
    pub fn on_stop(&mut self, report: &FaultReport, now_ns: u64) -> Decision {
        let config = self.config;
        let Some(r) = self.record_mut(report.task.index) else {
            return Decision::Stale;
        };
        if r.id != report.task {
            return Decision::Stale;
        }
        let clean_exit =
            report.kind == FaultKind::Exited && report.detail == u64::from(ExitStatus::SUCCESS.0);
        match r.policy {
            RestartPolicy::Never => return Decision::Leave,
            RestartPolicy::OnFailure if clean_exit => return Decision::Leave,
            RestartPolicy::OnFailure | RestartPolicy::Always => {}
        }
        if r.restarts_in_window == 0 || now_ns.saturating_sub(r.window_start_ns) > config.window_ns
        {
            r.window_start_ns = now_ns;
            r.restarts_in_window = 0;
        }
        if r.restarts_in_window >= config.max_restarts {
            r.restart_at_ns = None;
            return Decision::GiveUp;
        }
        let delay = match r.restarts_in_window {
            0 => 0,
            n => config
                .base_delay_ns
                .saturating_mul(1u64 << (n - 1).min(32))
                .min(config.max_delay_ns),
        };
        r.restarts_in_window += 1;
        let at_ns = now_ns.saturating_add(delay);
        r.restart_at_ns = Some(at_ns);
        Decision::Restart { at_ns }
    }

    /// Takes one task whose restart is due at `now_ns`.
    pub fn take_due(&mut self, now_ns: u64) -> Option<u16> {
        let r = self
            .tasks
            .iter_mut()
            .find(|r| r.restart_at_ns.is_some_and(|at| at <= now_ns))?;
        r.restart_at_ns = None;
        Some(r.id.index)
    }

    /// The earliest scheduled restart, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.tasks.iter().filter_map(|r| r.restart_at_ns).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: TaskId, kind: FaultKind, detail: u64) -> FaultReport {
        FaultReport {
            task: id,
            kind,
            detail,
        }
    }

    const T: TaskId = TaskId {
        index: 3,
        generation: 0,
    };

    #[test]
    fn a_fault_restarts_at_once_then_backs_off_then_gives_up() {
        let config = Config::default();
        let mut s = Supervision::new(config);
        assert!(s.track(T));
        let mut id = T;
        let mut now = 1_000;
        let mut delays = std::vec::Vec::new();
        loop {
            match s.on_stop(&report(id, FaultKind::MemoryAccess, 0), now) {
                Decision::Restart { at_ns } => {
                    delays.push(at_ns - now);
                    assert_eq!(s.next_deadline(), Some(at_ns));
                    if at_ns > now {
                        assert_eq!(s.take_due(at_ns - 1), None);
                    }
                    assert_eq!(s.take_due(at_ns), Some(3));
                    id = id.next_generation();
                    s.track(id);
                    now = at_ns + 1;
                }
                Decision::GiveUp => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(delays, [0, 10_000_000, 20_000_000, 40_000_000, 80_000_000]);
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn the_window_forgives_old_failures() {
        let mut s = Supervision::new(Config::default());
        s.track(T);
        assert_eq!(
            s.on_stop(&report(T, FaultKind::BadSyscall, 0), 0),
            Decision::Restart { at_ns: 0 }
        );
        s.take_due(0);
        let t1 = T.next_generation();
        s.track(t1);
        let later = Config::default().window_ns + 1;
        assert_eq!(
            s.on_stop(&report(t1, FaultKind::BadSyscall, 0), later),
            Decision::Restart { at_ns: later }
        );
    }

    #[test]
    fn policies_decide() {
        let mut s = Supervision::new(Config::default());
        s.track(T);
        // OnFailure: a clean exit stays down, a panic exit restarts.
        assert_eq!(
            s.on_stop(&report(T, FaultKind::Exited, 0), 5),
            Decision::Leave
        );
        assert_eq!(
            s.on_stop(
                &report(T, FaultKind::Exited, u64::from(ExitStatus::PANIC.0)),
                5
            ),
            Decision::Restart { at_ns: 5 }
        );
        assert!(s.set_policy(3, RestartPolicy::Never));
        assert_eq!(
            s.on_stop(&report(T, FaultKind::MemoryAccess, 0), 5),
            Decision::Leave
        );
        assert!(s.set_policy(3, RestartPolicy::Always));
        assert_eq!(s.policy(3), Some(RestartPolicy::Always));
        assert!(matches!(
            s.on_stop(&report(T, FaultKind::Exited, 0), 5),
            Decision::Restart { .. }
        ));
        assert!(!s.set_policy(9, RestartPolicy::Never));
    }

    #[test]
    fn stale_reports_are_ignored() {
        let mut s = Supervision::new(Config::default());
        s.track(T.next_generation());
        assert_eq!(
            s.on_stop(&report(T, FaultKind::MemoryAccess, 0), 0),
            Decision::Stale
        );
        let unknown = TaskId {
            index: 40,
            generation: 0,
        };
        assert_eq!(
            s.on_stop(&report(unknown, FaultKind::MemoryAccess, 0), 0),
            Decision::Stale
        );
    }
}
