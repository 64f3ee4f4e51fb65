//! The scheduling policy: strict priorities (0 is the most important), round-robin among the
//! ready tasks of one priority. Plain data, so it is tested on the host.
//!
//! The kernel asks [`Scheduler::pick`] for a task whenever the running one blocks, exits or is
//! preempted. Within a priority the choice starts at a cursor that moves only when a task's time
//! slice runs out ([`Scheduler::rotate`]), so a task that blocks briefly on IPC keeps its place,
//! while a task that spins for a whole slice lets its peers of equal priority run next.

/// The number of priority levels.
pub const PRIORITIES: usize = 8;

/// Round-robin cursors, one per priority.
#[derive(Debug, Default)]
pub struct Scheduler {
    cursor: [usize; PRIORITIES],
}

impl Scheduler {
    /// A scheduler whose cursors all start at task 0.
    pub const fn new() -> Self {
        Self {
            cursor: [0; PRIORITIES],
        }
    }

    /// The task to run: among the tasks whose `ready` entry is `Some(priority)`, the most
    /// important priority wins; among those, the first at or after that priority's cursor.
    pub fn pick(&self, ready: &[Option<u8>]) -> Option<usize> {
        let best = ready.iter().flatten().min().copied()?;
        let level = (best as usize).min(PRIORITIES - 1);
        let n = ready.len();
        let start = self.cursor[level] % n.max(1);
        (0..n)
            .map(|step| (start + step) % n)
            .find(|&i| ready[i] == Some(best))
    }

    /// The slice of `task` (of `priority`) ran out: its peers of equal priority go first next.
    pub fn rotate(&mut self, task: usize, priority: u8) {
        let level = (priority as usize).min(PRIORITIES - 1);
        self.cursor[level] = task + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_important_ready_task_runs() {
        let s = Scheduler::new();
        assert_eq!(s.pick(&[Some(3), Some(1), None, Some(2)]), Some(1));
        assert_eq!(s.pick(&[None, None]), None);
        assert_eq!(s.pick(&[]), None);
    }

    #[test]
    fn equal_priorities_share_by_slices() {
        let mut s = Scheduler::new();
        let ready = [Some(2), Some(2), Some(5), Some(2)];
        let mut order = Vec::new();
        for _ in 0..6 {
            let t = s.pick(&ready).unwrap();
            order.push(t);
            s.rotate(t, 2);
        }
        assert_eq!(order, vec![0, 1, 3, 0, 1, 3]);
    }

    #[test]
    fn a_spinner_of_lower_importance_never_runs_while_others_are_ready() {
        let mut s = Scheduler::new();
        // Task 0 spins at priority 6; task 1 is ready at priority 3.
        for _ in 0..10 {
            assert_eq!(s.pick(&[Some(6), Some(3)]), Some(1));
            s.rotate(1, 3);
        }
        // When task 1 blocks, the spinner runs.
        assert_eq!(s.pick(&[Some(6), None]), Some(0));
    }

    #[test]
    fn blocking_briefly_keeps_the_place_in_line() {
        let s = Scheduler::new();
        // Task 0 made a call (blocked), task 1 spins; when 0 is ready again it runs first,
        // because no slice ran out in between.
        assert_eq!(s.pick(&[None, Some(4)]), Some(1));
        assert_eq!(s.pick(&[Some(4), Some(4)]), Some(0));
    }
}
