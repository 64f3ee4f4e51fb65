//! The suite's clock, entropy and callers.

use std::cell::Cell;

use kernel_abi::{Credentials, ProcessClass, TaskId};
use uuid::Uuid;
use vfs_service::{Ctx, Env, VfsError};

/// A clock that moves 1 µs per look (and can jump) and a deterministic entropy source.
pub struct TestEnv {
    pub now: Cell<u64>,
    rng: Cell<u64>,
}

impl TestEnv {
    pub fn new() -> Self {
        Self {
            now: Cell::new(1_700_000_000_000_000_000),
            rng: Cell::new(0x1234_5678_9abc_def1),
        }
    }

    /// Moves the clock forward by `days` days.
    pub fn skip_days(&self, days: u64) {
        self.now.set(self.now.get() + days * 86_400_000_000_000);
    }
}

impl Env for TestEnv {
    fn now_ns(&self) -> u64 {
        self.now.set(self.now.get() + 1000);
        self.now.get()
    }
    fn random(&self, out: &mut [u8]) -> Result<(), VfsError> {
        for b in out {
            let mut s = self.rng.get();
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            self.rng.set(s);
            *b = s as u8;
        }
        Ok(())
    }
}

pub const ALICE: Uuid = Uuid::from_u128(0xa11ce);
pub const BOB: Uuid = Uuid::from_u128(0xb0b);

/// Credentials of task slot `index`, incarnation 0.
pub fn creds(index: u16, class: ProcessClass, user: Option<Uuid>) -> Credentials {
    Credentials {
        task: TaskId {
            index,
            generation: 0,
        },
        user,
        class,
    }
}

/// A System task's context.
pub fn system(env: &TestEnv) -> Ctx<'_> {
    Ctx {
        caller: creds(1, ProcessClass::System, None),
        env,
    }
}

/// An application of `user`, in task slot `index`.
pub fn app(env: &TestEnv, index: u16, user: Uuid) -> Ctx<'_> {
    Ctx {
        caller: creds(index, ProcessClass::Application, Some(user)),
        env,
    }
}
