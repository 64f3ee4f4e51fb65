//! Shared pieces of the VFS's own integration tests.

use vfs_service::protocol::messages::{FileKey, Handle, OpenFlags};
use vfs_service::store::Storage;
use vfs_service::{Ctx, Vfs};

/// Opens `path` for reading (under `key` when given) and reads it to the end in message-sized
/// pieces; returns the bytes and the handle, still open, for the checks that follow.
pub fn open_and_read_all<S: Storage>(
    vfs: &mut Vfs<S>,
    ctx: &Ctx<'_>,
    path: &str,
    key: Option<FileKey>,
) -> (Vec<u8>, Handle) {
    let flags = OpenFlags {
        read: true,
        ..Default::default()
    };
    let h = vfs.open(ctx, path, flags, key, None).unwrap().handle;
    let mut back = Vec::new();
    loop {
        let piece = vfs.handle_read(ctx, h, 3968).unwrap();
        if piece.is_empty() {
            return (back, h);
        }
        back.extend_from_slice(&piece);
    }
}
