//! Well-formed requests of most kinds, aimed at a filesystem with a home for `user`: the seeds
//! that the dispatch fuzzers (the libFuzzer target in `tests/fuzz` and the long-sequence test in
//! `vfs-service/tests/dispatch_fuzz.rs`) mutate so that mutations reach past the decoder into
//! the operations. Feature `samples`; not part of the client API.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use uuid::Uuid;

use crate::permissions::FilePermissions;
use crate::protocol::messages::*;
use crate::protocol::table::Request;

/// The sample requests. Handle requests name slot 0 of a later boot's generation, which the
/// fuzzers' first OPEN of a fresh service takes.
pub fn requests(user: Uuid) -> Vec<Request> {
    let h = Handle {
        slot: 0,
        generation: 1 << 48,
    };
    let home = format!("/home/{user}");
    let rw = OpenFlags {
        read: true,
        write: true,
        create: true,
        ..OpenFlags::default()
    };
    vec![
        Request::Write(WriteRequest {
            path: format!("{home}/f"),
            data: vec![1; 100],
            key: None,
            permissions: None,
        }),
        Request::Write(WriteRequest {
            path: "/tmp/e".into(),
            data: vec![2; 10],
            key: Some([3; 32]),
            permissions: None,
        }),
        Request::Read(ReadRequest {
            path: format!("{home}/f"),
            offset: 3,
            length: Some(50),
            key: None,
        }),
        Request::Mkdir(MkdirRequest {
            path: format!("{home}/d/e"),
            recursive: true,
            permissions: None,
        }),
        Request::Rename(FromToRequest {
            from: format!("{home}/f"),
            to: format!("{home}/g"),
        }),
        Request::Open(OpenRequest {
            path: "/tmp/o".into(),
            flags: rw,
            key: None,
            permissions: None,
        }),
        Request::HandleWrite(HandleWriteRequest {
            handle: h,
            data: vec![9; 300],
        }),
        Request::Seek(SeekRequest {
            handle: h,
            from: SeekFrom::End(-5),
        }),
        Request::Truncate(TruncateRequest {
            handle: h,
            size: 77,
        }),
        Request::Close(HandleRequest { handle: h }),
        Request::Symlink(SymlinkRequest {
            target: "../..".into(),
            link: "/tmp/l".into(),
        }),
        Request::Readdir(ReaddirRequest {
            path: "/".into(),
            cursor: Some("a".into()),
        }),
        Request::Chmod(ChmodRequest {
            path: "/tmp".into(),
            permissions: FilePermissions::ALL,
        }),
        Request::SetQuota(SetQuotaRequest { user, limit: 1000 }),
        Request::Exists(PathRequest {
            path: format!("{home}/d"),
        }),
        Request::Statfs(()),
        Request::Sync(()),
    ]
}
