//! Init on the host backend: boot order, the registry over IPC with its credential checks, and
//! supervision (a faulted server is restarted; its clients get an error, then succeed).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc::{Receiver, channel},
    },
    time::Duration,
};

use init::{Init, supervise::Config};
use kernel_abi::{
    EndpointId, Errno, FaultKind, Kernel, MAX_PAYLOAD, ProcessClass, Tag, TaskId, TaskState,
    init_proto::{self, InitCallError, InitError, RestartPolicy},
};
use kernel_host::{HostKernel, TaskHandle, TaskSpec};

const TIMEOUT: Duration = Duration::from_secs(10);
const PING: Tag = Tag(0x20);

fn within<T>(rx: &Receiver<T>) -> T {
    match rx.recv_timeout(TIMEOUT) {
        Ok(v) => v,
        Err(e) => panic!("no answer within {TIMEOUT:?}: {e}"),
    }
}

/// Spawns init (not started yet) as task 0.
fn spawn_init(k: &HostKernel) -> TaskId {
    let config = Config {
        base_delay_ns: 1_000_000,
        ..Config::default()
    };
    k.spawn(
        TaskSpec::new("init")
            .serves(EndpointId::INIT)
            .supervisor()
            .start_now(false),
        move |h: TaskHandle| {
            let mut init = Init::new(&h, h.id().index, config);
            init.boot();
            init.run();
        },
    )
}

/// A server that answers every request with its generation.
fn generation_server(h: &TaskHandle, ep: EndpointId) {
    let mut buf = [0u8; MAX_PAYLOAD];
    loop {
        if let Ok(m) = h.receive(ep, &mut buf, true) {
            let _ = h.reply(m.reply, m.tag.response(), &h.id().generation.to_le_bytes());
        }
    }
}

#[test]
fn init_boots_tasks_in_order_and_leaves_on_demand_ones() {
    let k = HostKernel::new();
    let init = spawn_init(&k);
    for name in ["first", "second", "third"] {
        k.spawn(TaskSpec::new(name).start_now(false), move |h| {
            h.log(kernel_abi::LogLevel::Info, &format!("hello from {name}"));
            h.sleep_ns(u64::MAX / 2);
        });
    }
    let lazy = k.spawn(
        TaskSpec::new("lazy").start_now(false).start_at_boot(false),
        |_| {},
    );
    k.restart(init.index).expect("start init");
    assert!(
        k.wait_for_log("boot done: 3 tasks started", TIMEOUT),
        "{:#?}",
        k.log_lines()
    );
    let starts: Vec<String> = k
        .log_lines()
        .into_iter()
        .filter(|l| l.starts_with("[init]") && l.contains("started"))
        .collect();
    assert_eq!(
        starts,
        [
            "[init] INFO started first (1.0)",
            "[init] INFO started second (2.0)",
            "[init] INFO started third (3.0)",
            "[init] INFO boot done: 3 tasks started",
        ]
    );
    assert_eq!(k.task_state(lazy.index), Some(TaskState::NotStarted));
}

#[test]
fn registry_register_lookup_and_credential_checks() {
    let k = HostKernel::new();
    let init = spawn_init(&k);
    let shell_ep = k.endpoint("", 4);
    let vfs_ep = k.endpoint("vfs", 4);
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    // A system task registers "shell" on its endpoint, then serves it.
    k.spawn(
        TaskSpec::new("shell").serves(shell_ep).start_now(false),
        move |h| {
            let r = init_proto::register(&h, "shell", shell_ep);
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(r);
            }
            generation_server(&h, shell_ep);
        },
    );
    // The VFS (Runtime) needs no registration: the system file named its endpoint.
    k.spawn(
        TaskSpec::new("vfs")
            .class(ProcessClass::Runtime)
            .serves(vfs_ep),
        move |h| generation_server(&h, vfs_ep),
    );
    k.restart(init.index).expect("start init");
    assert_eq!(within(&rx), Ok(()));

    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let app_ep = k.endpoint("", 4);
    let user = kernel_abi::UserId::from_u128(0xa11ce);
    k.spawn(
        TaskSpec::new("app")
            .class(ProcessClass::Application)
            .user(user)
            .serves(app_ep),
        move |h| {
            // Not granted before the lookup.
            let before = h.call(shell_ep, PING, b"", &mut [0u8; 2]).map(|_| ());
            let shell = init_proto::lookup(&h, "shell");
            let after = shell.map(|ep| h.call(ep, PING, b"", &mut [0u8; 2]));
            let vfs = init_proto::lookup(&h, "vfs");
            let vfs_call = h.call(vfs_ep, PING, b"", &mut [0u8; 2]).map(|_| ());
            let missing = init_proto::lookup(&h, "nope");
            let bad_name = init_proto::lookup(&h, "Not/A/Name");
            let steal = init_proto::register(&h, "evil", app_ep);
            let policy = init_proto::set_restart_policy(&h, "vfs", RestartPolicy::Never);
            if let Ok(tx) = tx.lock() {
                let _ = tx.send((
                    before, shell, after, vfs, vfs_call, missing, bad_name, steal, policy,
                ));
            }
            h.sleep_ns(u64::MAX / 2);
        },
    );
    let (before, shell, after, vfs, vfs_call, missing, bad_name, steal, policy) = within(&rx);
    assert_eq!(before, Err(Errno::NotGranted));
    assert_eq!(shell, Ok(shell_ep));
    assert_eq!(after, Ok(Ok((PING.response(), 2))));
    assert_eq!(vfs, Ok(vfs_ep));
    assert_eq!(vfs_call, Ok(()));
    assert_eq!(missing, Err(InitCallError::Init(InitError::NotFound)));
    assert_eq!(bad_name, Err(InitCallError::Init(InitError::InvalidName)));
    assert_eq!(steal, Err(InitCallError::Init(InitError::PermissionDenied)));
    assert_eq!(
        policy,
        Err(InitCallError::Init(InitError::PermissionDenied))
    );

    // A Runtime task may not add names either, nor register an endpoint it does not serve.
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let rt_ep = k.endpoint("", 4);
    k.spawn(
        TaskSpec::new("runtime")
            .class(ProcessClass::Runtime)
            .serves(rt_ep),
        move |h| {
            let own = init_proto::register(&h, "netd", rt_ep);
            let foreign = init_proto::register(&h, "shell2", shell_ep);
            if let Ok(tx) = tx.lock() {
                let _ = tx.send((own, foreign));
            }
            h.sleep_ns(u64::MAX / 2);
        },
    );
    assert_eq!(
        within(&rx),
        (
            Err(InitCallError::Init(InitError::PermissionDenied)),
            Err(InitCallError::Init(InitError::NotServer))
        )
    );
    assert!(k.wait_for_log("register evil by task", TIMEOUT));
}

#[test]
fn a_faulted_server_is_restarted_by_init_and_its_clients_then_succeed() {
    let k = HostKernel::new();
    let init = spawn_init(&k);
    let ep = k.endpoint("flaky", 4);
    let starts = Arc::new(AtomicUsize::new(0));
    let starts2 = Arc::clone(&starts);
    let server = k.spawn(
        TaskSpec::new("flaky").serves(ep).start_now(false),
        move |h| {
            let first = starts2.fetch_add(1, Ordering::SeqCst) == 0;
            let mut buf = [0u8; 16];
            loop {
                let Ok(m) = h.receive(ep, &mut buf, true) else {
                    continue;
                };
                if first {
                    h.fault(FaultKind::MemoryAccess, 0x8000_0000);
                }
                let _ = h.reply(m.reply, m.tag.response(), &h.id().generation.to_le_bytes());
            }
        },
    );
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    k.spawn(TaskSpec::new("client").start_now(false), move |h| {
        let mut outcomes = Vec::new();
        let ep = loop {
            match init_proto::lookup(&h, "flaky") {
                Ok(ep) => break ep,
                Err(_) => h.sleep_ns(1_000_000),
            }
        };
        let mut r = [0u8; 2];
        // The first call kills the server; retry until the restarted one answers.
        for _ in 0..1000 {
            let out = h
                .call(ep, PING, b"x", &mut r)
                .map(|_| u16::from_le_bytes(r));
            outcomes.push(out);
            if out.is_ok() {
                break;
            }
            h.sleep_ns(1_000_000);
        }
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(outcomes);
        }
        h.sleep_ns(u64::MAX / 2);
    });
    k.restart(init.index).expect("start init");
    let outcomes = within(&rx);
    assert_eq!(
        outcomes.first(),
        Some(&Err(Errno::PeerDied)),
        "{outcomes:?}"
    );
    assert_eq!(outcomes.last(), Some(&Ok(1)), "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Err(Errno::PeerDied) | Ok(1)))
    );
    assert_eq!(
        k.task_id(server.index),
        Some(TaskId {
            index: server.index,
            generation: 1
        })
    );
    assert!(
        k.wait_for_log("restarted flaky (1.1)", TIMEOUT),
        "{:#?}",
        k.log_lines()
    );
    assert!(k.log_lines().iter().any(|l| {
        l.contains("flaky (1.0) stopped (MemoryAccess, detail 0x80000000); restart in 0 ms")
    }));
}

#[test]
fn init_gives_up_on_a_crash_loop_and_respects_never() {
    let k = HostKernel::new();
    let init = spawn_init(&k);
    let crashes = k.spawn(TaskSpec::new("crashy").start_now(false), |h| {
        h.fault(FaultKind::IllegalInstruction, 0)
    });
    k.restart(init.index).expect("start init");
    assert!(
        k.wait_for_log("failed too often, giving up", TIMEOUT),
        "{:#?}",
        k.log_lines()
    );
    assert_eq!(k.task_id(crashes.index).map(|id| id.generation), Some(5));
    assert_eq!(k.task_state(crashes.index), Some(TaskState::Faulted));
}

#[test]
fn a_system_task_sets_a_restart_policy() {
    let k = HostKernel::new();
    let init = spawn_init(&k);
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let (go_tx, go_rx) = channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let victim = k.spawn(TaskSpec::new("victim").start_now(false), move |h| {
        if let Ok(rx) = go_rx.lock() {
            let _ = rx.recv_timeout(TIMEOUT);
        }
        h.fault(FaultKind::MemoryAccess, 0)
    });
    k.spawn(TaskSpec::new("admin").start_now(false), move |h| {
        let r = init_proto::set_restart_policy(&h, "victim", RestartPolicy::Never);
        let missing = init_proto::set_restart_policy(&h, "ghost", RestartPolicy::Never);
        if let Ok(tx) = tx.lock() {
            let _ = tx.send((r, missing));
        }
        h.sleep_ns(u64::MAX / 2);
    });
    k.restart(init.index).expect("start init");
    assert_eq!(
        within(&rx),
        (Ok(()), Err(InitCallError::Init(InitError::NotFound)))
    );
    go_tx.send(()).expect("victim waits");
    assert!(
        k.wait_for_log("policy leaves it stopped", TIMEOUT),
        "{:#?}",
        k.log_lines()
    );
    assert_eq!(k.task_state(victim.index), Some(TaskState::Faulted));
    assert_eq!(k.task_id(victim.index).map(|id| id.generation), Some(0));
}

#[test]
fn init_answers_garbage_with_errors_and_keeps_serving() {
    let k = HostKernel::new();
    let init = spawn_init(&k);
    k.restart(init.index).expect("start init");
    let app = k.attach(TaskSpec::new("fuzzer").class(ProcessClass::Application));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut reply = [0u8; 16];
    for round in 0..2000u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let tag = Tag(0x1000 + (seed % 20) as u32);
        let len = (seed >> 8) as usize % 48;
        let payload: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
        match app.call(EndpointId::INIT, tag, &payload, &mut reply) {
            Ok((reply_tag, n)) => {
                assert_eq!(reply_tag, tag.response(), "round {round}");
                assert!(
                    init_proto::decode_response(&reply[..n]).is_ok() || n == 2,
                    "round {round}: {:?}",
                    &reply[..n]
                );
            }
            Err(e) => panic!("round {round}: init did not answer: {e}"),
        }
    }
    assert_eq!(k.task_state(init.index), Some(TaskState::Running));
    // And it still works.
    assert_eq!(
        init_proto::lookup(&app, "nothing"),
        Err(InitCallError::Init(InitError::NotFound))
    );
}

#[test]
fn init_tells_the_vfs_when_a_task_stops() {
    let k = HostKernel::new();
    let init = spawn_init(&k);
    // A server registered as "vfs" that records what init sends it.
    let vfs = k.endpoint("vfs", 8);
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    k.spawn(
        TaskSpec::new("vfs").serves(vfs).start_now(false),
        move |h: TaskHandle| {
            let mut buf = [0u8; MAX_PAYLOAD];
            loop {
                if let Ok(m) = h.receive(vfs, &mut buf, true) {
                    let notice = init_proto::TaskStopped::decode(&buf[..m.len]);
                    if let Ok(tx) = tx.lock() {
                        let _ = tx.send((m.tag, notice, m.sender.class));
                    }
                }
            }
        },
    );
    // A task that exits at once.
    let quitter = k.spawn(TaskSpec::new("quitter").start_now(false), |_| {});
    k.restart(init.index).expect("start init");
    let (tag, notice, class) = within(&rx);
    assert_eq!(tag, init_proto::TASK_STOPPED);
    assert_eq!(class, ProcessClass::System, "init's own class");
    let stopped = notice.expect("a well-formed notice").task;
    assert_eq!(stopped.index, quitter.index);
    assert_eq!(
        k.task_id(quitter.index),
        Some(stopped),
        "the incarnation that stopped"
    );
    // Nothing else was sent: the VFS itself is alive and the others are running.
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn a_stop_notice_a_full_queue_refused_is_delivered_later() {
    let k = HostKernel::new();
    let init = spawn_init(&k);
    // A "vfs" whose queue holds one message and is full while it is busy.
    let vfs = k.endpoint("vfs", 1);
    let (go_tx, go_rx) = channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    k.spawn(
        TaskSpec::new("vfs").serves(vfs).start_now(false),
        move |h: TaskHandle| {
            // Busy until the test says so: the filler's message stays in the queue.
            if let Ok(go) = go_rx.lock() {
                let _ = go.recv_timeout(TIMEOUT);
            }
            let mut buf = [0u8; MAX_PAYLOAD];
            loop {
                if let Ok(m) = h.receive(vfs, &mut buf, true) {
                    let notice = init_proto::TaskStopped::decode(&buf[..m.len]).ok();
                    if let Ok(tx) = tx.lock() {
                        let _ = tx.send((m.tag, notice));
                    }
                }
            }
        },
    );
    let (filled_tx, filled_rx) = channel();
    let filled_tx = Mutex::new(filled_tx);
    k.spawn(
        TaskSpec::new("filler").reaches(vfs).start_now(false),
        move |h: TaskHandle| {
            let sent = h.send(vfs, PING, b"fill");
            if let Ok(tx) = filled_tx.lock() {
                let _ = tx.send(sent);
            }
            // Stay alive: only the quitter's stop is told.
            std::thread::sleep(TIMEOUT);
        },
    );
    let quitter = k.spawn(TaskSpec::new("quitter").start_now(false), move |_| {
        std::thread::sleep(Duration::from_millis(300))
    });
    k.restart(init.index).expect("start init");
    assert_eq!(
        within(&filled_rx),
        Ok(()),
        "the filler's message fills the queue"
    );
    // The quitter stops while the queue is full; then the VFS drains it.
    std::thread::sleep(Duration::from_millis(600));
    go_tx.send(()).expect("wake the vfs");
    let (tag, _) = within(&rx);
    assert_eq!(tag, PING, "the filler's message first");
    let (tag, notice) = within(&rx);
    assert_eq!(tag, init_proto::TASK_STOPPED);
    assert_eq!(notice.map(|n| n.task.index), Some(quitter.index));
}
