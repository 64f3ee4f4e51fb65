//! Acceptance tests of the host backend: the IPC contract (ping-pong, credentials, bounded
//! queues, grants, dead peers, restarts with generations, fault reports) as service code sees
//! it through the `Kernel` trait.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc::{Receiver, Sender, channel},
    },
    time::Duration,
};

use kernel_abi::{
    Credentials, EndpointId, Errno, ExitStatus, FaultKind, Kernel, MAX_PAYLOAD, ProcessClass,
    Supervisor, Tag, TaskId, TaskState,
    init_proto::{self, FaultReport},
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

/// A server that answers every request with tag + 1 and the payload reversed, and reports each
/// request's credentials and payload on `seen`.
fn echo_server(
    k: &HostKernel,
    spec: TaskSpec,
    ep: EndpointId,
) -> (TaskId, Receiver<(Credentials, Vec<u8>)>) {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let id = k.spawn(spec.serves(ep), move |h| {
        let mut buf = vec![0u8; MAX_PAYLOAD];
        loop {
            let Ok(m) = h.receive(ep, &mut buf, true) else {
                continue;
            };
            let payload = buf[..m.len].to_vec();
            if let Ok(tx) = tx.lock() {
                let _ = tx.send((m.sender, payload.clone()));
            }
            let reversed: Vec<u8> = payload.iter().rev().copied().collect();
            let _ = h.reply(m.reply, m.tag.response(), &reversed);
        }
    });
    (id, rx)
}

/// A client task that runs `script` once per message on its command channel and sends the
/// result back.
type Script<T> = Box<dyn Fn(&TaskHandle) -> T + Send>;

fn scripted_client<T: Send + 'static>(
    k: &HostKernel,
    spec: TaskSpec,
) -> (TaskId, Sender<Script<T>>, Receiver<T>) {
    let (cmd_tx, cmd_rx) = channel::<Script<T>>();
    let (res_tx, res_rx) = channel();
    let cmd_rx = Mutex::new(cmd_rx);
    let res_tx = Mutex::new(res_tx);
    let id = k.spawn(spec, move |h| {
        loop {
            let script = {
                let Ok(rx) = cmd_rx.lock() else { return };
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Ok(s) => s,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        // A kernel operation, so a stopped incarnation notices it is stopped.
                        h.yield_now();
                        continue;
                    }
                    Err(_) => return,
                }
            };
            let out = script(&h);
            if let Ok(tx) = res_tx.lock() {
                let _ = tx.send(out);
            }
        }
    });
    (id, cmd_tx, res_rx)
}

fn run<T: Send + 'static>(
    cmd: &Sender<Script<T>>,
    res: &Receiver<T>,
    script: impl Fn(&TaskHandle) -> T + Send + 'static,
) -> T {
    cmd.send(Box::new(script)).expect("client alive");
    within(res)
}

#[test]
fn ping_pong_between_two_tasks() {
    let k = HostKernel::new();
    let ep = k.endpoint("pong", 4);
    let (_, _seen) = echo_server(&k, TaskSpec::new("pong"), ep);
    let (tx, rx) = channel();
    k.spawn(TaskSpec::new("ping").reaches(ep), move |h| {
        let mut reply = [0u8; 64];
        let mut ok = 0;
        for i in 0..1000u32 {
            let req = i.to_le_bytes();
            match h.call(ep, PING, &req, &mut reply) {
                Ok((tag, 4))
                    if tag == PING.response() && reply[..4] == [req[3], req[2], req[1], req[0]] =>
                {
                    ok += 1
                }
                other => {
                    let _ = tx.send(Err(other));
                    return;
                }
            }
        }
        let _ = tx.send(Ok(ok));
    });
    assert_eq!(within(&rx), Ok(1000));
}

#[test]
fn large_payloads_round_trip_and_oversized_ones_are_refused() {
    let k = HostKernel::new();
    let ep = k.endpoint("pong", 4);
    echo_server(&k, TaskSpec::new("pong"), ep);
    let (_, cmd, res) = scripted_client(&k, TaskSpec::new("ping").reaches(ep));
    let got = run(&cmd, &res, move |h| {
        let req: Vec<u8> = (0..MAX_PAYLOAD).map(|i| i as u8).collect();
        let mut reply = vec![0u8; MAX_PAYLOAD];
        let full = h
            .call(ep, PING, &req, &mut reply)
            .map(|(_, n)| reply[..n] == req.iter().rev().copied().collect::<Vec<_>>());
        let too_big = h.call(ep, PING, &vec![0u8; MAX_PAYLOAD + 1], &mut reply);
        let mut small = [0u8; 2];
        let small_reply = h.call(ep, PING, b"abc", &mut small);
        (full, too_big, small_reply)
    });
    assert_eq!(
        got,
        (
            Ok(true),
            Err(Errno::InvalidArgument),
            Err(Errno::BufferTooSmall)
        )
    );
}

#[test]
fn a_server_sees_only_the_senders_own_credentials() {
    let k = HostKernel::new();
    let ep = k.endpoint("whoami", 4);
    let (_, seen) = echo_server(&k, TaskSpec::new("whoami").class(ProcessClass::Runtime), ep);
    let alice = uuid::Uuid::from_u128(0xa11ce);
    let (app_id, cmd, res) = scripted_client(
        &k,
        TaskSpec::new("app")
            .class(ProcessClass::Application)
            .user(alice)
            .reaches(ep),
    );
    // The payload claims to be the kernel / a system task: it must not matter.
    let forged = Credentials::KERNEL.to_regs();
    let claim: Vec<u8> = forged.iter().flat_map(|r| r.to_le_bytes()).collect();
    let out = run(&cmd, &res, move |h| {
        h.call(ep, PING, &claim, &mut [0u8; 64]).map(|_| ())
    });
    assert_eq!(out, Ok(()));
    let (creds, _) = within(&seen);
    assert_eq!(
        creds,
        Credentials {
            task: app_id,
            user: Some(alice),
            class: ProcessClass::Application
        }
    );

    // A second client, a system task without a user, is told apart.
    let (sys_id, cmd2, res2) = scripted_client(&k, TaskSpec::new("sys").reaches(ep));
    assert_eq!(run(&cmd2, &res2, move |h| h.send(ep, PING, b"x")), Ok(()));
    let (creds, _) = within(&seen);
    assert_eq!(
        creds,
        Credentials {
            task: sys_id,
            user: None,
            class: ProcessClass::System
        }
    );
}

#[test]
fn a_full_queue_is_an_error_to_the_sender() {
    let k = HostKernel::new();
    let ep = k.endpoint("slow", 3);
    // A server that never receives.
    k.spawn(TaskSpec::new("slow").serves(ep), |h| {
        loop {
            h.sleep_ns(1_000_000_000);
        }
    });
    let (_, cmd, res) = scripted_client(&k, TaskSpec::new("client").reaches(ep));
    let out = run(&cmd, &res, move |h| {
        (0..5).map(|i| h.send(ep, PING, &[i])).collect::<Vec<_>>()
    });
    assert_eq!(
        out,
        vec![
            Ok(()),
            Ok(()),
            Ok(()),
            Err(Errno::QueueFull),
            Err(Errno::QueueFull)
        ]
    );
}

#[test]
fn receive_non_blocking_and_only_by_the_server() {
    let k = HostKernel::new();
    let ep = k.endpoint("svc", 2);
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    k.spawn(TaskSpec::new("svc").serves(ep), move |h| {
        let mut buf = [0u8; 8];
        let first = h.receive(ep, &mut buf, false).map(|m| m.len);
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(first);
        }
        h.sleep_ns(u64::MAX / 2);
    });
    assert_eq!(within(&rx), Err(Errno::WouldBlock));
    let (_, cmd, res) = scripted_client(&k, TaskSpec::new("other").reaches(ep));
    let out = run(&cmd, &res, move |h| {
        h.receive(ep, &mut [0u8; 8], false).map(|m| m.len)
    });
    assert_eq!(out, Err(Errno::NotGranted));
}

#[test]
fn sending_to_an_ungranted_endpoint_is_refused_until_granted() {
    let k = HostKernel::new();
    let ep = k.endpoint("pong", 4);
    echo_server(&k, TaskSpec::new("pong"), ep);
    let (client, cmd, res) = scripted_client(&k, TaskSpec::new("client"));
    let call = move |h: &TaskHandle| h.call(ep, PING, b"ab", &mut [0u8; 8]);
    assert_eq!(run(&cmd, &res, call), Err(Errno::NotGranted));
    assert_eq!(k.grant(client, ep), Ok(()));
    assert_eq!(run(&cmd, &res, call), Ok((PING.response(), 2)));
    // Grants to a stale incarnation fail.
    let stale = TaskId {
        generation: 7,
        ..client
    };
    assert_eq!(k.grant(stale, ep), Err(Errno::PeerDied));
}

#[test]
fn callers_of_a_dead_server_get_peer_died_never_a_hang() {
    let k = HostKernel::new();
    let ep = k.endpoint("fragile", 4);
    // Takes one request and dies without replying.
    let server = k.spawn(TaskSpec::new("fragile").serves(ep), move |h| {
        let mut buf = [0u8; 16];
        let _ = h.receive(ep, &mut buf, true);
        h.fault(FaultKind::MemoryAccess, 0xdead);
    });
    let (_, cmd, res) = scripted_client(&k, TaskSpec::new("client").reaches(ep));
    let call = move |h: &TaskHandle| h.call(ep, PING, b"x", &mut [0u8; 8]).map(|_| ());
    assert_eq!(run(&cmd, &res, call), Err(Errno::PeerDied));
    assert_eq!(
        k.wait_stopped(server.index, TIMEOUT),
        Some(TaskState::Faulted)
    );
    // Once dead, calls fail at once.
    assert_eq!(run(&cmd, &res, call), Err(Errno::PeerDied));
    assert_eq!(
        run(&cmd, &res, move |h| h.send(ep, PING, b"x")),
        Err(Errno::PeerDied)
    );
}

#[test]
fn a_panicking_server_counts_as_dead() {
    let k = HostKernel::new();
    let ep = k.endpoint("panicky", 4);
    k.spawn(TaskSpec::new("panicky").serves(ep), move |h| {
        let mut buf = [0u8; 16];
        let _ = h.receive(ep, &mut buf, true);
        panic!("server bug (expected by the test)");
    });
    let (_, cmd, res) = scripted_client(&k, TaskSpec::new("client").reaches(ep));
    let call = move |h: &TaskHandle| h.call(ep, PING, b"x", &mut [0u8; 8]).map(|_| ());
    assert_eq!(run(&cmd, &res, call), Err(Errno::PeerDied));
}

#[test]
fn restart_bumps_the_generation_and_the_client_then_succeeds() {
    let k = HostKernel::new();
    let ep = k.endpoint("flaky", 4);
    let starts = Arc::new(AtomicUsize::new(0));
    let starts2 = Arc::clone(&starts);
    let server = k.spawn(TaskSpec::new("flaky").serves(ep), move |h| {
        let first = starts2.fetch_add(1, Ordering::SeqCst) == 0;
        let mut buf = [0u8; 16];
        loop {
            let Ok(m) = h.receive(ep, &mut buf, true) else {
                continue;
            };
            if first {
                h.fault(FaultKind::IllegalInstruction, 0);
            }
            let _ = h.reply(m.reply, m.tag.response(), &h.id().generation.to_le_bytes());
        }
    });
    assert_eq!(server.generation, 0);
    let (_, cmd, res) = scripted_client(&k, TaskSpec::new("client").reaches(ep));
    let call = move |h: &TaskHandle| {
        let mut r = [0u8; 2];
        h.call(ep, PING, b"x", &mut r)
            .map(|_| u16::from_le_bytes(r))
    };
    assert_eq!(run(&cmd, &res, call), Err(Errno::PeerDied));
    assert_eq!(
        k.wait_stopped(server.index, TIMEOUT),
        Some(TaskState::Faulted)
    );
    let again = k.restart(server.index).expect("restart");
    assert_eq!(
        again,
        TaskId {
            index: server.index,
            generation: 1
        }
    );
    assert_eq!(k.task_id(server.index), Some(again));
    assert_eq!(run(&cmd, &res, call), Ok(1));
}

#[test]
fn a_reply_to_a_dead_or_restarted_client_is_dropped_harmlessly() {
    let k = HostKernel::new();
    let ep = k.endpoint("svc", 4);
    let (replies_tx, replies_rx) = channel();
    let replies_tx = Mutex::new(replies_tx);
    let (got_tx, got_rx) = channel();
    let got_tx = Mutex::new(got_tx);
    let (go_tx, go_rx) = channel::<()>();
    let go_rx = Mutex::new(go_rx);
    // Receives one request, waits for the test's go, then replies; then serves normally.
    k.spawn(TaskSpec::new("svc").serves(ep), move |h| {
        let mut buf = [0u8; 16];
        if let Ok(m) = h.receive(ep, &mut buf, true) {
            if let Ok(tx) = got_tx.lock() {
                let _ = tx.send(m.sender.task);
            }
            if let Ok(rx) = go_rx.lock() {
                let _ = rx.recv_timeout(TIMEOUT);
            }
            let r = h.reply(m.reply, m.tag.response(), b"late");
            if let Ok(tx) = replies_tx.lock() {
                let _ = tx.send(r);
            }
        }
        loop {
            let Ok(m) = h.receive(ep, &mut buf, true) else {
                continue;
            };
            let _ = h.reply(m.reply, m.tag.response(), b"ok");
        }
    });
    let (client, cmd, res) = scripted_client(&k, TaskSpec::new("client").reaches(ep));
    cmd.send(Box::new(move |h: &TaskHandle| {
        h.call(ep, PING, b"x", &mut [0u8; 8]).map(|_| Vec::new())
    }))
    .expect("client alive");
    assert_eq!(within(&got_rx), client);
    // The client is restarted while the server holds its request.
    let new_client = k.restart(client.index).expect("restart");
    assert_eq!(new_client.generation, 1);
    go_tx.send(()).expect("server waits");
    assert_eq!(within(&replies_rx), Ok(()));
    // The old incarnation never got an answer; the new one is served normally.
    assert!(res.recv_timeout(Duration::from_millis(200)).is_err());
    let out = run(&cmd, &res, move |h| {
        let mut r = [0u8; 8];
        h.call(ep, PING, b"y", &mut r).map(|(_, n)| r[..n].to_vec())
    });
    assert_eq!(out, Ok(b"ok".to_vec()));
}

#[test]
fn the_supervisor_gets_fault_reports_only_from_the_kernel() {
    let k = HostKernel::new();
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    k.spawn(
        TaskSpec::new("init").serves(EndpointId::INIT).supervisor(),
        move |h| {
            let mut buf = [0u8; 64];
            loop {
                let Ok(m) = h.receive(EndpointId::INIT, &mut buf, true) else {
                    continue;
                };
                if let Ok(tx) = tx.lock() {
                    let _ = tx.send((m.tag, m.sender, buf[..m.len].to_vec()));
                }
            }
        },
    );
    let victim = k.spawn(TaskSpec::new("victim"), |h| {
        h.fault(FaultKind::MemoryAccess, 0x8020_0000)
    });
    let (tag, sender, payload) = within(&rx);
    assert_eq!(tag, init_proto::FAULT_REPORT);
    assert!(init_proto::is_from_kernel(&sender));
    assert_eq!(
        FaultReport::decode(&payload),
        Ok(FaultReport {
            task: victim,
            kind: FaultKind::MemoryAccess,
            detail: 0x8020_0000
        })
    );
    // A task that forges a report is seen as itself.
    let forger = k.spawn(TaskSpec::new("forger"), move |h| {
        let report = FaultReport {
            task: victim,
            kind: FaultKind::Exited,
            detail: 0,
        };
        let _ = h.send(EndpointId::INIT, init_proto::FAULT_REPORT, &report.encode());
        h.sleep_ns(u64::MAX / 2);
    });
    let (tag, sender, _) = within(&rx);
    assert_eq!(tag, init_proto::FAULT_REPORT);
    assert_eq!(sender.task, forger);
    assert!(!init_proto::is_from_kernel(&sender));
    // Restarting a running task reports the old incarnation as killed.
    assert_eq!(k.restart(forger.index).map(|id| id.generation), Ok(1));
    let (tag, sender, payload) = within(&rx);
    assert_eq!(tag, init_proto::FAULT_REPORT);
    assert!(init_proto::is_from_kernel(&sender));
    assert_eq!(
        FaultReport::decode(&payload),
        Ok(FaultReport {
            task: forger,
            kind: FaultKind::Killed,
            detail: 0
        })
    );
}

#[test]
fn supervisor_operations_are_denied_to_other_tasks() {
    let k = HostKernel::new();
    let (_, cmd, res) = scripted_client(&k, TaskSpec::new("plain"));
    let out = run(&cmd, &res, |h| {
        (
            h.task_start(0),
            h.grant(h.id(), EndpointId::INIT),
            h.task_info(0, &mut [0u8; 8]).map(|i| i.name_len),
        )
    });
    assert_eq!(out, (Err(Errno::Denied), Err(Errno::Denied), Ok(5)));
}

#[test]
fn test_code_can_act_as_a_task_through_attach() {
    let k = HostKernel::new();
    let ep = k.endpoint("pong", 4);
    let (server, seen) = echo_server(&k, TaskSpec::new("pong"), ep);
    let user = kernel_abi::UserId::from_u128(7);
    let me = k.attach(
        TaskSpec::new("test")
            .class(ProcessClass::Application)
            .user(user)
            .reaches(ep),
    );
    let mut reply = [0u8; 8];
    assert_eq!(
        me.call(ep, PING, b"abc", &mut reply),
        Ok((PING.response(), 3))
    );
    assert_eq!(&reply[..3], b"cba");
    let (creds, _) = within(&seen);
    assert_eq!(creds, me.credentials());
    assert_eq!(creds.user, Some(user));
    assert_ne!(me.id(), server);
    // After a restart of the server, the attached client is served by the new incarnation.
    k.restart(server.index).expect("restart");
    assert_eq!(k.task_id(server.index).map(|i| i.generation), Some(1));
    assert_eq!(
        me.call(ep, PING, b"xy", &mut reply),
        Ok((PING.response(), 2))
    );
}

/// The conformance checks of `kernel_host::conformance` on the host backend (the kernel core's
/// tests in `kernel/core/tests/ipc.rs` cover the same cases).
#[test]
fn conformance_checks_pass_on_the_host_backend() {
    use kernel_host::conformance;
    let k = HostKernel::new();
    let pong = k.endpoint("pong", 4);
    let sink = k.endpoint("sink", 2);
    k.spawn(
        TaskSpec::new("pong")
            .class(ProcessClass::Runtime)
            .serves(pong),
        move |h| conformance::serve(&h, pong),
    );
    k.spawn(TaskSpec::new("sink").serves(sink), |h| {
        loop {
            h.sleep_ns(1_000_000_000);
        }
    });
    let user = kernel_abi::UserId::from_u128(0x6a1c_5a3e_0d0c_4f6e_9b7a_2f41_c0de_0001);
    let ping = k.attach(
        TaskSpec::new("ping")
            .class(ProcessClass::Application)
            .user(user)
            .reaches(pong)
            .reaches(sink),
    );
    let (mut small, mut small_reply) = ([0u8; 64], [0u8; 64]);
    assert_eq!(
        conformance::check_ping_pong(&ping, pong, 100, &mut small, &mut small_reply),
        Ok(())
    );
    let (mut big, mut big_reply) = (vec![0u8; MAX_PAYLOAD], vec![0u8; MAX_PAYLOAD]);
    assert_eq!(
        conformance::check_ping_pong(&ping, pong, 10, &mut big, &mut big_reply),
        Ok(())
    );
    let me = Credentials {
        task: ping.id(),
        user: Some(user),
        class: ProcessClass::Application,
    };
    assert_eq!(conformance::check_credentials(&ping, pong, &me), Ok(()));
    let someone_else = Credentials {
        class: ProcessClass::System,
        ..me
    };
    assert_eq!(
        conformance::check_credentials(&ping, pong, &someone_else),
        Err(conformance::Failure::WrongCredentials)
    );
    assert_eq!(conformance::check_full_queue(&ping, sink, 2), Ok(()));
}

#[test]
fn the_host_console_serves_system_tasks_only() {
    let k = HostKernel::new();
    let app = k.attach(TaskSpec::new("app").class(ProcessClass::Application));
    let mut buf = [0u8; 8];
    assert_eq!(app.console_read(&mut buf, false), Err(Errno::Denied));
    assert_eq!(app.console_write(b"x"), Err(Errno::Denied));
    assert_eq!(app.shutdown(ExitStatus::SUCCESS), Err(Errno::Denied));

    let sys = k.attach(TaskSpec::new("sys").class(ProcessClass::System));
    assert_eq!(sys.console_read(&mut buf, false), Err(Errno::WouldBlock));
    assert_eq!(sys.console_read(&mut [], true), Err(Errno::InvalidArgument));
    k.console_feed(b"ls\r");
    assert_eq!(sys.console_read(&mut buf[..2], true), Ok(2));
    assert_eq!(&buf[..2], b"ls");
    assert_eq!(sys.console_read(&mut buf, true), Ok(1));
    k.console_close();
    assert_eq!(sys.console_read(&mut buf, true), Ok(0));
    assert_eq!(sys.console_write(b"zos> "), Ok(5));
    assert_eq!(k.console_output(), "zos> ");
    assert!(k.wait_for_console("zos>", Duration::from_millis(10)));
    assert_eq!(k.wait_for_shutdown(Duration::from_millis(10)), None);
    assert_eq!(sys.shutdown(ExitStatus(3)), Ok(()));
    assert_eq!(
        k.wait_for_shutdown(Duration::from_millis(10)),
        Some(ExitStatus(3))
    );
}
