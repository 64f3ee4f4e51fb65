//! The operations of the service, grouped by kind. Each takes the caller's [`crate::vfs::Ctx`],
//! resolves and checks, builds one transaction and commits it.

pub mod dir;
pub mod file;
pub mod gc;
pub mod meta;
pub mod remove;
pub mod statfs;
pub mod stream;
pub mod system;

pub use stream::Deferred;
