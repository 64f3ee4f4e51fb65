//! Handles of tasks that exit are released at once: the kernel reports the exit to init, init
//! tells the VFS (`init_proto::TASK_STOPPED`), and the VFS frees the task's handles and staged
//! writes. The attack on the host backend: 16 tasks exit holding 16 handles each (the
//! whole 256-slot table); a task started afterwards must get its handles.

use std::sync::{Mutex, mpsc};
use std::time::Duration;

use kernel_abi::{Kernel, ProcessClass};
use kernel_host::{HostKernel, TaskHandle, TaskSpec};
use vfs_api::client::{Client, ClientError};
use vfs_api::error::VfsError;
use vfs_api::protocol::limits::{MAX_HANDLES, MAX_HANDLES_PER_TASK};
use vfs_api::protocol::messages::OpenFlags;
use vfs_service::host::spawn_vfs;

const TIMEOUT: Duration = Duration::from_secs(60);

fn flags() -> OpenFlags {
    OpenFlags {
        read: true,
        write: true,
        create: true,
        ..Default::default()
    }
}

/// Connects to the VFS through init, retrying while it boots.
fn connect(h: &TaskHandle) -> Result<Client<'_, TaskHandle>, String> {
    let mut last = String::from("never tried");
    for _ in 0..500 {
        match Client::connect(h) {
            Ok(mut c) => match c.exists("/tmp") {
                Ok(true) => return Ok(c),
                other => last = format!("{other:?}"),
            },
            Err(e) => last = format!("{e:?}"),
        }
        h.sleep_ns(20_000_000);
    }
    Err(last)
}

/// Opens `MAX_HANDLES_PER_TASK` files with an uncommitted write in each; returns how many.
fn hold_handles(c: &mut Client<'_, TaskHandle>, me: u16) -> Result<usize, ClientError> {
    for i in 0..MAX_HANDLES_PER_TASK {
        let h = c.open(&format!("/tmp/t{me}-{i}"), flags())?.handle;
        c.write(h, b"staged, never committed")?;
    }
    Ok(MAX_HANDLES_PER_TASK)
}

#[test]
fn handles_of_exited_tasks_are_released_through_init() {
    let kernel = HostKernel::new();
    let init = init::host::spawn_init(&kernel);
    let ep = kernel.endpoint("vfs", 64);
    spawn_vfs(&kernel, ep, 16, true);

    let holders = MAX_HANDLES / MAX_HANDLES_PER_TASK;
    let (tx, rx) = mpsc::channel::<Result<usize, String>>();
    let tx = Mutex::new(tx);
    let tx = std::sync::Arc::new(tx);
    for n in 0..holders {
        let tx = tx.clone();
        kernel.spawn(
            TaskSpec::new(&format!("holder{n}"))
                .class(ProcessClass::Application)
                .start_now(false),
            move |h: TaskHandle| {
                let outcome = connect(&h).and_then(|mut c| {
                    hold_handles(&mut c, h.id().index).map_err(|e| format!("{e:?}"))
                });
                if let Ok(tx) = tx.lock() {
                    let _ = tx.send(outcome);
                }
                // Returns: the task exits with its handles open.
            },
        );
    }
    let (late_tx, late_rx) = mpsc::channel::<Result<usize, String>>();
    let late_tx = Mutex::new(late_tx);
    let newcomer = kernel.spawn(
        TaskSpec::new("newcomer")
            .class(ProcessClass::Application)
            .start_now(false)
            .start_at_boot(false),
        move |h: TaskHandle| {
            let mut c = match connect(&h) {
                Ok(c) => c,
                Err(e) => {
                    if let Ok(tx) = late_tx.lock() {
                        let _ = tx.send(Err(e));
                    }
                    return;
                }
            };
            // The notices travel kernel -> init -> VFS while this task starts: retry briefly,
            // but a table still full of dead tasks' handles never frees up by itself.
            let mut outcome = Err(String::from("no attempt"));
            for _ in 0..250 {
                let mut opened = Vec::new();
                let mut refused = None;
                for i in 0..MAX_HANDLES_PER_TASK {
                    match c.open(&format!("/tmp/new-{i}"), flags()) {
                        Ok(r) => opened.push(r.handle),
                        Err(e) => {
                            refused = Some(e);
                            break;
                        }
                    }
                }
                for handle in &opened {
                    let _ = c.close(*handle);
                }
                match refused {
                    None => {
                        outcome = Ok(opened.len());
                        break;
                    }
                    Some(ClientError::Vfs(VfsError::TooManyHandles)) => {
                        outcome = Err(String::from("TooManyHandles"));
                        h.sleep_ns(20_000_000);
                    }
                    Some(e) => {
                        outcome = Err(format!("{e:?}"));
                        break;
                    }
                }
            }
            if let Ok(tx) = late_tx.lock() {
                let _ = tx.send(outcome);
            }
            h.sleep_ns(u64::MAX / 2);
        },
    );
    kernel.restart(init.index).expect("start init");
    for _ in 0..holders {
        let held = rx.recv_timeout(TIMEOUT).expect("a holder reported");
        assert_eq!(held, Ok(MAX_HANDLES_PER_TASK), "{:#?}", kernel.log_lines());
    }
    kernel.restart(newcomer.index).expect("start the newcomer");
    let outcome = late_rx
        .recv_timeout(TIMEOUT)
        .expect("the newcomer reported");
    assert_eq!(
        outcome,
        Ok(MAX_HANDLES_PER_TASK),
        "{:#?}",
        kernel.log_lines()
    );
}
