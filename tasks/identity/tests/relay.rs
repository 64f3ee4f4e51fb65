//! The identity relay against a real VFS on the host backend (kernel-host): requests from a System
//! task reach the VFS under the identity task's own credentials; anyone else is refused before
//! the VFS sees anything.

use std::time::Duration;

use kernel_abi::{EndpointId, ProcessClass, TaskState};
use kernel_host::{HostKernel, TaskHandle, TaskSpec};
use uuid::Uuid;
use vfs_api::client::{Client, ClientError};
use vfs_api::error::{ProtocolError, VfsError};
use vfs_api::protocol::tags;
use vfs_service::host::{READY, spawn_vfs};
use zos_identity::{Relay, Relayed};

const ALICE: Uuid = Uuid::from_u128(0x0a11ce00_0000_4000_8000_000000000001);

/// Spawns an identity task for `user` (an application) that serves `own` and forwards to `vfs`.
fn spawn_identity(kernel: &HostKernel, own: EndpointId, vfs: EndpointId, user: Option<Uuid>) {
    let mut spec = TaskSpec::new("identity")
        .class(ProcessClass::Application)
        .serves(own)
        .reaches(vfs);
    if let Some(u) = user {
        spec = spec.user(u);
    }
    kernel.spawn(spec, move |h: TaskHandle| {
        let mut relay = Relay::new(&h, own, vfs);
        while relay.step().is_ok() {}
    });
}

/// A VFS, Alice's identity task, and a System caller that has made Alice's home.
fn system() -> (HostKernel, EndpointId, EndpointId) {
    let kernel = HostKernel::new();
    let vfs = kernel.endpoint("vfs", 8);
    let alice = kernel.endpoint("alice", 4);
    spawn_vfs(&kernel, vfs, 16, false);
    assert!(kernel.wait_for_log(READY, Duration::from_secs(20)));
    spawn_identity(&kernel, alice, vfs, Some(ALICE));
    (kernel, vfs, alice)
}

fn system_caller(kernel: &HostKernel, vfs: EndpointId, alice: EndpointId) -> TaskHandle {
    kernel.attach(
        TaskSpec::new("admin")
            .class(ProcessClass::System)
            .reaches(vfs)
            .reaches(alice),
    )
}

#[test]
fn a_system_task_acts_as_the_identity_task_user() {
    let (kernel, vfs, alice) = system();
    let admin = system_caller(&kernel, vfs, alice);
    let mut direct = Client::new(&admin, vfs);
    direct.create_home(ALICE).expect("home");
    let home = format!("/home/{ALICE}");
    let mut as_alice = Client::new(&admin, alice);
    as_alice
        .write_file(&format!("{home}/note"), b"mine")
        .expect("alice writes in her home");
    // The VFS saw Alice: the new file is hers, with a user file's default permissions.
    let stat = direct.stat(&format!("{home}/note")).expect("stat");
    assert_eq!(stat.owner, Some(ALICE));
    // And judged Alice, not the System caller behind the relay.
    assert_eq!(
        as_alice.write_file("/system/config/x", b"no"),
        Err(ClientError::Vfs(VfsError::PermissionDenied))
    );
    direct
        .write_file("/system/config/x", b"yes")
        .expect("the System caller itself may write there");
}

#[test]
fn a_caller_that_is_not_system_is_refused_and_nothing_reaches_the_vfs() {
    let (kernel, vfs, alice) = system();
    let app = kernel.attach(
        TaskSpec::new("app")
            .class(ProcessClass::Application)
            .reaches(vfs)
            .reaches(alice),
    );
    let mut borrowed = Client::new(&app, alice);
    // `/tmp` is world-writable: forwarded, this write would succeed.
    assert_eq!(
        borrowed.write_file("/tmp/through-alice", b"x"),
        Err(ClientError::Vfs(VfsError::PermissionDenied))
    );
    assert_eq!(
        Client::new(&app, vfs).exists("/tmp/through-alice"),
        Ok(false)
    );
}

#[test]
fn bytes_are_relayed_verbatim_so_the_vfs_judges_them() {
    let (kernel, vfs, alice) = system();
    let admin = system_caller(&kernel, vfs, alice);
    let mut as_alice = Client::new(&admin, alice);
    let (tag, body) = as_alice.raw_call(tags::STAT, &[0xff; 3]).expect("reply");
    assert_eq!(tag, tags::PROTOCOL_ERROR);
    assert_eq!(
        postcard::from_bytes::<ProtocolError>(&body),
        Ok(ProtocolError::Malformed)
    );
    assert!(as_alice.hello().is_ok());
}

#[test]
fn an_unreachable_vfs_gives_a_storage_error_not_a_hang() {
    let kernel = HostKernel::new();
    let dead = kernel.endpoint("dead", 4);
    let own = kernel.endpoint("alice", 4);
    let server = kernel.spawn(TaskSpec::new("dead").serves(dead), |_h| {});
    assert!(matches!(
        kernel.wait_stopped(server.index, Duration::from_secs(5)),
        Some(TaskState::Exited | TaskState::Faulted)
    ));
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    kernel.spawn(
        TaskSpec::new("identity")
            .class(ProcessClass::Application)
            .serves(own)
            .reaches(dead),
        move |h: TaskHandle| {
            let mut relay = Relay::new(&h, own, dead);
            let outcome = relay.step();
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(outcome);
            }
        },
    );
    let admin = kernel.attach(
        TaskSpec::new("admin")
            .class(ProcessClass::System)
            .reaches(own),
    );
    assert_eq!(
        Client::new(&admin, own).stat("/"),
        Err(ClientError::Vfs(VfsError::StorageError))
    );
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(Ok(Relayed::VfsUnreachable(_)))
    ));
}
