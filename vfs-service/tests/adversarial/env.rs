//! The suite's clock, entropy and callers.

use kernel_abi::ProcessClass;
use uuid::Uuid;
use vfs_service::Ctx;

pub use crate::common::{TestEnv, creds};

pub const ALICE: Uuid = Uuid::from_u128(0xa11ce);
pub const BOB: Uuid = Uuid::from_u128(0xb0b);

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
