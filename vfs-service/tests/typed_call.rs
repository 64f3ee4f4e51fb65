//! `Client::call::<R>` is typed by the request table: its result is `R::Response`, which the
//! compiler checks here for every request and which a real server on the host backend answers
//! for several. Also: the client's SHA-256 agrees with the server's.

mod common;

use std::sync::{Mutex, mpsc};
use std::time::Duration;

use kernel_abi::{Kernel, LogLevel, ProcessClass};
use kernel_host::{HostKernel, TaskSpec};
use vfs_api::client::{Client, ClientError};
use vfs_api::protocol::limits::{MAX_IO, PROTOCOL_VERSION};
use vfs_api::protocol::messages::*;
use vfs_api::protocol::{Message, req};
use vfs_service::server::{KernelEnv, serve};
use vfs_service::{Limits, Vfs, VfsError};

/// `T: Is<U>` holds only for `T = U`.
trait Is<T> {}
impl<T> Is<T> for T {}

/// Compiles only if `R`'s response type is `T`.
fn response_is<R: Message, T>()
where
    R::Response: Is<T>,
{
}

/// Compiles only if `R`'s request type is `T`.
fn request_is<R: Message, T>()
where
    R::Request: Is<T>,
{
}

#[test]
fn the_table_gives_each_request_its_types() {
    response_is::<req::Hello, HelloResponse>();
    response_is::<req::Mkdir, ()>();
    response_is::<req::Readdir, ReaddirResponse>();
    response_is::<req::Read, ReadResponse>();
    response_is::<req::Readlink, String>();
    response_is::<req::ResolvePath, String>();
    response_is::<req::Stat, Stat>();
    response_is::<req::Exists, bool>();
    response_is::<req::GetUsage, Usage>();
    response_is::<req::GetQuota, Quota>();
    response_is::<req::AuditLog, AuditPage>();
    response_is::<req::Open, OpenResponse>();
    response_is::<req::HandleRead, HandleReadResponse>();
    response_is::<req::HandleWrite, u32>();
    response_is::<req::Seek, u64>();
    response_is::<req::HandleStat, Stat>();
    response_is::<req::Discard, ()>();
    request_is::<req::Unlink, PathRequest>();
    request_is::<req::Rename, FromToRequest>();
    request_is::<req::Close, HandleRequest>();
    request_is::<req::CreateHome, UserRequest>();
    assert_eq!(<req::Stat as Message>::TAG, vfs_api::protocol::tags::STAT);
    assert_eq!(<req::HandleStat as Message>::NAME, "HANDLE_STAT");
}

fn session(c: &mut Client<'_, kernel_host::TaskHandle>) -> Result<(), ClientError> {
    // Each binding's type is what the table says; a wrong annotation would not compile.
    let hello: HelloResponse = c.call::<req::Hello>(&HelloRequest {
        version: PROTOCOL_VERSION,
    })?;
    assert_eq!(hello.max_io as usize, MAX_IO);
    assert_eq!(hello.version, PROTOCOL_VERSION);
    assert_eq!(c.hello()?.version, PROTOCOL_VERSION);
    // A version-1 client (32-bit handle generations) is told at HELLO, with an error it knows.
    for old in [1, PROTOCOL_VERSION + 1] {
        let refused = c.call::<req::Hello>(&HelloRequest { version: old });
        assert!(
            matches!(refused, Err(ClientError::Vfs(VfsError::UnsupportedSchema))),
            "HELLO version {old}: {refused:?}"
        );
    }
    let (): () = c.call::<req::Mkdir>(&MkdirRequest {
        path: "/tmp/typed".into(),
        recursive: false,
        permissions: None,
    })?;
    let exists: bool = c.call::<req::Exists>(&PathRequest {
        path: "/tmp/typed".into(),
    })?;
    assert!(exists);
    let opened: OpenResponse = c.call::<req::Open>(&OpenRequest {
        path: "/tmp/typed/f".into(),
        flags: OpenFlags {
            read: true,
            write: true,
            create: true,
            ..OpenFlags::default()
        },
        key: None,
        permissions: None,
    })?;
    let handle = opened.handle;
    let written: u32 = c.call::<req::HandleWrite>(&HandleWriteRequest {
        handle,
        data: b"typed".to_vec(),
    })?;
    assert_eq!(written, 5);
    let pos: u64 = c.call::<req::Seek>(&SeekRequest {
        handle,
        from: SeekFrom::Start(1),
    })?;
    assert_eq!(pos, 1);
    let data: HandleReadResponse =
        c.call::<req::HandleRead>(&HandleReadRequest { handle, length: 16 })?;
    assert_eq!(data.0, b"yped");
    let (): () = c.call::<req::Close>(&HandleRequest { handle })?;
    let stat: Stat = c.call::<req::Stat>(&StatRequest {
        path: "/tmp/typed/f".into(),
        follow_symlinks: true,
    })?;
    assert_eq!(stat.size, 5);
    assert_eq!(stat.sha256, Some(vfs_api::sha256::digest(b"typed")));
    let read: ReadResponse = c.call::<req::Read>(&ReadRequest {
        path: "/tmp/typed/f".into(),
        offset: 0,
        length: None,
        key: None,
    })?;
    assert_eq!(read.data, b"typed");
    let canonical: String = c.call::<req::ResolvePath>(&PathRequest {
        path: "/tmp/typed/../typed/f".into(),
    })?;
    assert_eq!(canonical, "/tmp/typed/f");
    let usage: Usage = c.call::<req::GetUsage>(&PathRequest {
        path: "/tmp/typed".into(),
    })?;
    assert_eq!(usage.bytes, 5);
    // An error comes back typed too.
    let missing = c.call::<req::Unlink>(&PathRequest {
        path: "/tmp/typed/none".into(),
    });
    assert_eq!(missing, Err(ClientError::Vfs(VfsError::NotFound)));
    // A request too large for a message is refused before it is sent.
    let huge = c.call::<req::Write>(&WriteRequest {
        path: "/tmp/typed/huge".into(),
        data: vec![0; 5000],
        key: None,
        permissions: None,
    });
    assert_eq!(huge, Err(ClientError::Vfs(VfsError::InvalidArgument)));
    // The convenience methods are wrappers over the same calls.
    assert_eq!(c.read_file("/tmp/typed/f")?, b"typed");
    Ok(())
}

#[test]
fn call_returns_the_response_of_the_table_from_a_real_server() {
    let kernel = HostKernel::new();
    let ep = kernel.endpoint("vfs", 16);
    kernel.spawn(TaskSpec::new("vfs").serves(ep), move |h| {
        let mut fs = Vfs::new(common::ram_store(32), Limits::default());
        if fs.boot(&KernelEnv(&h)).is_ok() {
            h.log(LogLevel::Info, "vfs: ready");
            let _ = serve(&h, ep, &mut fs);
        }
    });
    assert!(kernel.wait_for_log("vfs: ready", Duration::from_secs(30)));
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    kernel.spawn(
        TaskSpec::new("client")
            .class(ProcessClass::System)
            .reaches(ep),
        move |h| {
            let mut c = Client::new(&h, ep);
            let result = session(&mut c);
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(result);
            }
        },
    );
    let result = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the client task finished");
    assert_eq!(result, Ok(()));
}

#[test]
fn the_client_hash_is_the_server_hash() {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 + 7) as u8).collect();
    for len in [0, 1, 55, 56, 64, 3968, 10_000] {
        let mut h = vfs_service::crypto::Hasher::default();
        storage_backend::Sha256Hasher::update(&mut h, &data[..len]);
        assert_eq!(
            storage_backend::Sha256Hasher::finalize(h),
            vfs_api::sha256::digest(&data[..len])
        );
    }
}
