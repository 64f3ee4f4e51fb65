//! The kernel core's IPC on a fake machine: tasks with a few pages of memory each, driven
//! through the same syscall entry the riscv64 kernel uses. The cases follow the host backend's
//! acceptance tests (`kernel/host/tests/host_ipc.rs`): ping-pong, credentials stamped by the
//! kernel and unforgeable, bounded queues, bad user pointers, dead peers.

use kernel_abi::syscall::{RecvFlags, ReplyRecvWord, decode_ret};
use kernel_abi::{
    Credentials, EndpointId, Errno, MAX_PAYLOAD, ProcessClass, ReplyToken, Sysno, TaskId, UserId,
};
use kernel_core::syscall::{Outcome, ipc};
use kernel_core::{Block, Endpoint, Machine};

/// Every task's read-write memory: `[RW_BASE, RW_BASE + RW_LEN)`.
const RW_BASE: usize = 0x1_0000;
const RW_LEN: usize = 4 * 4096;
/// A read-only page of every task.
const RO_BASE: usize = 0x8_0000;
const RO_LEN: usize = 4096;
/// An address no task has mapped.
const UNMAPPED: usize = 0x40_0000;

struct FakeTask {
    id: TaskId,
    alive: bool,
    grants: u64,
    creds: Credentials,
    block: Block,
    regs: [usize; 6],
    rw: Vec<u8>,
    ro: Vec<u8>,
}

struct Fake {
    tasks: Vec<FakeTask>,
    endpoints: Vec<Endpoint>,
    slots: Vec<Vec<u8>>,
}

impl Fake {
    fn new() -> Self {
        Self {
            tasks: Vec::new(),
            endpoints: Vec::new(),
            slots: Vec::new(),
        }
    }

    fn task(&mut self, class: ProcessClass, user: Option<u128>) -> usize {
        let index = self.tasks.len();
        let id = TaskId {
            index: index as u16,
            generation: 1,
        };
        self.tasks.push(FakeTask {
            id,
            alive: true,
            grants: 0,
            creds: Credentials {
                task: id,
                user: user.map(UserId::from_u128),
                class,
            },
            block: Block::None,
            regs: [0; 6],
            rw: vec![0; RW_LEN],
            ro: vec![0; RO_LEN],
        });
        index
    }

    fn endpoint(&mut self, owner: usize, depth: u8) -> usize {
        let mut ep = Endpoint::EMPTY;
        ep.owner = owner as u16;
        ep.depth = depth;
        for slot in ep.slots.iter_mut().take(depth as usize) {
            *slot = self.slots.len();
            self.slots.push(vec![0; 4096]);
        }
        self.endpoints.push(ep);
        self.endpoints.len() - 1
    }

    fn grant(&mut self, t: usize, ep: usize) {
        self.tasks[t].grants |= 1 << ep;
    }

    fn mem(&self, t: usize, va: usize, len: usize) -> Option<&[u8]> {
        let task = &self.tasks[t];
        let end = va.checked_add(len)?;
        if va >= RW_BASE && end <= RW_BASE + RW_LEN {
            Some(&task.rw[va - RW_BASE..end - RW_BASE])
        } else if va >= RO_BASE && end <= RO_BASE + RO_LEN {
            Some(&task.ro[va - RO_BASE..end - RO_BASE])
        } else {
            None
        }
    }

    fn mem_mut(&mut self, t: usize, va: usize, len: usize) -> Option<&mut [u8]> {
        let end = va.checked_add(len)?;
        (va >= RW_BASE && end <= RW_BASE + RW_LEN)
            .then(|| &mut self.tasks[t].rw[va - RW_BASE..end - RW_BASE])
    }

    fn put(&mut self, t: usize, va: usize, data: &[u8]) {
        self.mem_mut(t, va, data.len())
            .unwrap()
            .copy_from_slice(data);
    }

    fn get(&self, t: usize, va: usize, len: usize) -> Vec<u8> {
        self.mem(t, va, len).unwrap().to_vec()
    }

    fn sys(&mut self, me: usize, sysno: Sysno, a: [usize; 6]) -> Outcome {
        ipc(self, me, sysno, a).expect("an IPC syscall")
    }

    /// `Call` with the payload at RW_BASE and the reply buffer at RW_BASE + 0x1000.
    fn call(&mut self, me: usize, ep: usize, tag: u32, payload: &[u8]) -> Outcome {
        self.put(me, RW_BASE, payload);
        self.sys(
            me,
            Sysno::Call,
            [
                ep,
                tag as usize,
                RW_BASE,
                payload.len(),
                RW_BASE + 0x1000,
                MAX_PAYLOAD,
            ],
        )
    }

    /// `Send` with the payload at RW_BASE.
    fn send(&mut self, me: usize, ep: usize, tag: u32, payload: &[u8]) -> Outcome {
        self.put(me, RW_BASE, payload);
        self.sys(
            me,
            Sysno::Send,
            [ep, tag as usize, RW_BASE, payload.len(), 0, 0],
        )
    }

    /// `Receive` into RW_BASE + 0x2000.
    fn receive(&mut self, me: usize, ep: usize, cap: usize, blocking: bool) -> Outcome {
        let flags = RecvFlags::new(blocking).0;
        self.sys(me, Sysno::Receive, [ep, RW_BASE + 0x2000, cap, flags, 0, 0])
    }

    /// What the receiver got: (tag, payload, token, credentials).
    fn received(&self, me: usize) -> (u32, Vec<u8>, ReplyToken, Credentials) {
        let r = self.tasks[me].regs;
        let creds = Credentials::from_regs([r[3] as u64, r[4] as u64, r[5] as u64]).unwrap();
        (
            r[1] as u32,
            self.get(me, RW_BASE + 0x2000, r[0]),
            ReplyToken::from_raw(r[2] as u64).unwrap(),
            creds,
        )
    }

    /// `Reply` with the payload at RW_BASE + 0x3000.
    fn reply(&mut self, me: usize, token: ReplyToken, tag: u32, payload: &[u8]) -> Outcome {
        self.put(me, RW_BASE + 0x3000, payload);
        self.sys(
            me,
            Sysno::Reply,
            [
                token.to_raw() as usize,
                tag as usize,
                RW_BASE + 0x3000,
                payload.len(),
                0,
                0,
            ],
        )
    }

    /// `ReplyRecv`: the reply payload at RW_BASE + 0x3000, the next message into
    /// RW_BASE + 0x2000 (where [`Fake::received`] reads it).
    fn reply_recv(
        &mut self,
        me: usize,
        token: ReplyToken,
        tag: u32,
        payload: &[u8],
        ep: usize,
        blocking: bool,
    ) -> Outcome {
        self.put(me, RW_BASE + 0x3000, payload);
        let word = ReplyRecvWord {
            cap: MAX_PAYLOAD,
            flags: RecvFlags::new(blocking),
            endpoint: ep as u16,
        };
        self.sys(
            me,
            Sysno::ReplyRecv,
            [
                token.to_raw() as usize,
                tag as usize,
                RW_BASE + 0x3000,
                payload.len(),
                RW_BASE + 0x2000,
                word.to_raw().unwrap(),
            ],
        )
    }

    /// Stops task `t` as the kernel does: its endpoints fail, its queued calls go.
    fn kill(&mut self, t: usize) {
        self.tasks[t].alive = false;
        self.tasks[t].block = Block::None;
        kernel_core::ipc::fail_endpoints_of(self, t);
        let id = self.tasks[t].id;
        kernel_core::ipc::withdraw_calls_of(self, id);
    }
}

impl Machine for Fake {
    fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }
    fn endpoints_mut(&mut self) -> &mut [Endpoint] {
        &mut self.endpoints
    }
    fn task_count(&self) -> usize {
        self.tasks.len()
    }
    fn task_id(&self, t: usize) -> TaskId {
        self.tasks[t].id
    }
    fn task_alive(&self, t: usize) -> bool {
        self.tasks[t].alive
    }
    fn task_grants(&self, t: usize) -> u64 {
        self.tasks[t].grants
    }
    fn credentials(&self, t: usize) -> Credentials {
        self.tasks[t].creds
    }
    fn block(&self, t: usize) -> Block {
        self.tasks[t].block
    }
    fn set_block(&mut self, t: usize, block: Block) {
        self.tasks[t].block = block;
    }
    fn set_results(&mut self, t: usize, values: &[usize]) {
        self.tasks[t].regs[..values.len()].copy_from_slice(values);
    }
    fn user_range_ok(&mut self, t: usize, va: usize, len: usize, write: bool) -> bool {
        if len == 0 {
            return true;
        }
        if write {
            self.mem_mut(t, va, len).is_some()
        } else {
            self.mem(t, va, len).is_some()
        }
    }
    fn copy_between(&mut self, src: usize, sva: usize, dst: usize, dva: usize, len: usize) -> bool {
        let Some(data) = self.mem(src, sva, len).map(<[u8]>::to_vec) else {
            return false;
        };
        self.copy_to_user(dst, dva, &data)
    }
    fn copy_to_user(&mut self, t: usize, va: usize, data: &[u8]) -> bool {
        match self.mem_mut(t, va, data.len()) {
            Some(m) => {
                m.copy_from_slice(data);
                true
            }
            None => false,
        }
    }
    fn user_to_slot(&mut self, t: usize, va: usize, slot: usize, len: usize) -> bool {
        let Some(data) = self.mem(t, va, len).map(<[u8]>::to_vec) else {
            return false;
        };
        self.slots[slot][..len].copy_from_slice(&data);
        true
    }
    fn slot_to_user(&mut self, slot: usize, t: usize, va: usize, len: usize) -> bool {
        let data = self.slots[slot][..len].to_vec();
        self.copy_to_user(t, va, &data)
    }
    fn write_slot(&mut self, slot: usize, data: &[u8]) {
        self.slots[slot][..data.len()].copy_from_slice(data);
    }
}

fn err(e: Errno) -> Outcome {
    Outcome::ret(Err(e))
}

/// A server, a client granted the server's endpoint, and the endpoint (depth 2).
fn pair() -> (Fake, usize, usize, usize) {
    let mut m = Fake::new();
    let server = m.task(ProcessClass::Runtime, None);
    let client = m.task(ProcessClass::Application, Some(0xa11ce));
    let ep = m.endpoint(server, 2);
    m.grant(client, ep);
    (m, server, client, ep)
}

#[test]
fn ping_pong_with_the_call_queued_first() {
    let (mut m, server, client, ep) = pair();
    for round in 0..100u32 {
        let msg = round.to_le_bytes();
        assert_eq!(m.call(client, ep, 0x20, &msg), Outcome::Done);
        assert!(matches!(m.block(client), Block::Calling { .. }));
        assert_eq!(m.receive(server, ep, MAX_PAYLOAD, true), Outcome::Done);
        assert!(matches!(m.block(client), Block::AwaitingReply { .. }));
        let (tag, payload, token, _) = m.received(server);
        assert_eq!((tag, payload.as_slice()), (0x20, &msg[..]));
        let mut answer = payload.clone();
        answer.reverse();
        assert_eq!(m.reply(server, token, 0x21, &answer), Outcome::ret(Ok(0)));
        assert_eq!(m.block(client), Block::None);
        assert_eq!(&m.tasks[client].regs[..2], &[4, 0x21]);
        assert_eq!(m.get(client, RW_BASE + 0x1000, 4), answer);
    }
}

#[test]
fn ping_pong_with_the_server_waiting_first_and_a_full_payload() {
    let (mut m, server, client, ep) = pair();
    assert_eq!(m.receive(server, ep, MAX_PAYLOAD, true), Outcome::Done);
    assert!(matches!(m.block(server), Block::Receiving { .. }));
    let big: Vec<u8> = (0..MAX_PAYLOAD).map(|i| i as u8).collect();
    assert_eq!(m.call(client, ep, 0x20, &big), Outcome::Done);
    assert_eq!(m.block(server), Block::None);
    let (tag, payload, token, _) = m.received(server);
    assert_eq!((tag, payload), (0x20, big.clone()));
    assert_eq!(m.reply(server, token, 0x21, &big), Outcome::ret(Ok(0)));
    assert_eq!(m.tasks[client].regs[0], MAX_PAYLOAD);
    assert_eq!(m.get(client, RW_BASE + 0x1000, MAX_PAYLOAD), big);
}

#[test]
fn credentials_are_stamped_by_the_kernel_and_cannot_be_forged() {
    let (mut m, server, client, ep) = pair();
    // The payload claims to come from someone else: it is only bytes.
    let forged = Credentials {
        task: TaskId {
            index: 0,
            generation: 1,
        },
        user: None,
        class: ProcessClass::System,
    };
    let mut claim = Vec::new();
    for w in forged.to_regs() {
        claim.extend_from_slice(&w.to_le_bytes());
    }
    assert_eq!(m.send(client, ep, 0x30, &claim), Outcome::ret(Ok(0)));
    assert_eq!(m.receive(server, ep, MAX_PAYLOAD, false), Outcome::Done);
    let (_, _, token, creds) = m.received(server);
    assert_eq!(creds, m.tasks[client].creds);
    assert_eq!(creds.user, Some(UserId::from_u128(0xa11ce)));
    assert_eq!(creds.class, ProcessClass::Application);
    assert_eq!(token.caller, m.tasks[client].id);
    assert_eq!(token.endpoint, EndpointId(ep as u16));
}

#[test]
fn kernel_messages_come_from_the_kernel() {
    let (mut m, server, _, ep) = pair();
    kernel_core::ipc::post_kernel_message(&mut m, ep, 0x1004, b"fault").unwrap();
    assert_eq!(m.receive(server, ep, MAX_PAYLOAD, false), Outcome::Done);
    let (tag, payload, _, creds) = m.received(server);
    assert_eq!(
        (tag, payload.as_slice(), creds),
        (0x1004, &b"fault"[..], Credentials::KERNEL)
    );
}

#[test]
fn queues_are_bounded() {
    let (mut m, server, client, ep) = pair();
    assert_eq!(m.send(client, ep, 1, b"a"), Outcome::ret(Ok(0)));
    assert_eq!(m.send(client, ep, 2, b"b"), Outcome::ret(Ok(0)));
    assert_eq!(m.send(client, ep, 3, b"c"), err(Errno::QueueFull));
    let other = m.task(ProcessClass::Application, None);
    m.grant(other, ep);
    assert_eq!(m.call(other, ep, 4, b"d"), err(Errno::QueueFull));
    assert_eq!(m.block(other), Block::None);
    // First in, first out; a freed place takes the next message.
    assert_eq!(m.receive(server, ep, MAX_PAYLOAD, false), Outcome::Done);
    assert_eq!(m.received(server).1, b"a");
    assert_eq!(m.send(client, ep, 3, b"c"), Outcome::ret(Ok(0)));
    assert_eq!(m.receive(server, ep, MAX_PAYLOAD, false), Outcome::Done);
    assert_eq!(m.received(server).1, b"b");
    assert_eq!(m.receive(server, ep, MAX_PAYLOAD, false), Outcome::Done);
    assert_eq!(m.received(server).1, b"c");
    assert_eq!(
        m.receive(server, ep, MAX_PAYLOAD, false),
        err(Errno::WouldBlock)
    );
}

#[test]
fn bad_user_pointers_are_rejected() {
    let (mut m, server, client, ep) = pair();
    let send =
        |m: &mut Fake, ptr: usize, len: usize| m.sys(client, Sysno::Send, [ep, 1, ptr, len, 0, 0]);
    assert_eq!(send(&mut m, UNMAPPED, 8), Outcome::Fault);
    // A range that starts mapped and runs past the end.
    assert_eq!(send(&mut m, RW_BASE + RW_LEN - 4, 8), Outcome::Fault);
    // A range that wraps around the address space.
    assert_eq!(send(&mut m, usize::MAX - 2, 8), Outcome::Fault);
    // Too long is an error, not a fault.
    assert_eq!(
        send(&mut m, RW_BASE, MAX_PAYLOAD + 1),
        err(Errno::InvalidArgument)
    );
    // Reading from a read-only page is fine; a reply buffer there is not.
    assert_eq!(send(&mut m, RO_BASE, 8), Outcome::ret(Ok(0)));
    let call = [ep, 1, RW_BASE, 8, RO_BASE, 64];
    assert_eq!(m.sys(client, Sysno::Call, call), Outcome::Fault);
    assert_eq!(m.block(client), Block::None);
    // The server's receive buffer must be writable; its reply readable.
    let flags = RecvFlags::BLOCKING.0;
    assert_eq!(
        m.sys(server, Sysno::Receive, [ep, RO_BASE, 64, flags, 0, 0]),
        Outcome::Fault
    );
    assert_eq!(
        m.sys(server, Sysno::Receive, [ep, UNMAPPED, 64, flags, 0, 0]),
        Outcome::Fault
    );
    assert_eq!(
        m.sys(server, Sysno::Receive, [ep, RW_BASE, 64, 0xff, 0, 0]),
        Outcome::Fault
    );
    assert_eq!(m.receive(server, ep, MAX_PAYLOAD, false), Outcome::Done);
    let token = m.received(server).2;
    let reply = [token.to_raw() as usize, 2, UNMAPPED, 8, 0, 0];
    assert_eq!(m.sys(server, Sysno::Reply, reply), Outcome::Fault);
    // A malformed token breaks the contract.
    assert_eq!(
        m.sys(server, Sysno::Reply, [1 << 48, 2, RW_BASE, 8, 0, 0]),
        Outcome::Fault
    );
}

#[test]
fn only_granted_endpoints_and_their_owners() {
    let (mut m, server, client, ep) = pair();
    let stranger = m.task(ProcessClass::Application, None);
    assert_eq!(m.send(stranger, ep, 1, b"x"), err(Errno::NotGranted));
    assert_eq!(m.send(client, 7, 1, b"x"), err(Errno::InvalidArgument));
    // Only the owner receives, and only the owner replies.
    assert_eq!(m.receive(client, ep, 64, false), err(Errno::NotGranted));
    assert_eq!(m.call(client, ep, 1, b"x"), Outcome::Done);
    assert_eq!(m.receive(server, ep, 64, false), Outcome::Done);
    let token = m.received(server).2;
    assert_eq!(
        m.reply(stranger, token, 2, b"forged"),
        err(Errno::NotGranted)
    );
    assert!(matches!(m.block(client), Block::AwaitingReply { .. }));
    assert_eq!(m.reply(server, token, 2, b"ok"), Outcome::ret(Ok(0)));
    assert_eq!(m.block(client), Block::None);
    // A second reply on the same token is dropped.
    assert_eq!(m.reply(server, token, 2, b"again"), Outcome::ret(Ok(0)));
    assert_eq!(m.tasks[client].regs[0], 2);
}

#[test]
fn buffers_too_small() {
    let (mut m, server, client, ep) = pair();
    assert_eq!(m.send(client, ep, 1, &[7; 100]), Outcome::ret(Ok(0)));
    assert_eq!(m.receive(server, ep, 50, false), err(Errno::BufferTooSmall));
    // A waiting server with a small buffer is woken with the error; the message stays.
    assert_eq!(m.receive(server, ep, 200, false), Outcome::Done);
    assert_eq!(m.receive(server, ep, 50, true), Outcome::Done);
    assert!(matches!(m.block(server), Block::Receiving { .. }));
    assert_eq!(m.send(client, ep, 1, &[8; 100]), Outcome::ret(Ok(0)));
    assert_eq!(m.block(server), Block::None);
    assert_eq!(
        decode_ret(m.tasks[server].regs[0]),
        Err(Errno::BufferTooSmall)
    );
    assert_eq!(m.receive(server, ep, 200, false), Outcome::Done);
    // A reply larger than the caller's buffer fails the caller, not the server.
    m.put(client, RW_BASE, b"q");
    let call = [ep, 1, RW_BASE, 1, RW_BASE + 0x1000, 4];
    assert_eq!(m.sys(client, Sysno::Call, call), Outcome::Done);
    assert_eq!(m.receive(server, ep, 200, false), Outcome::Done);
    let token = m.received(server).2;
    assert_eq!(m.reply(server, token, 2, b"too long"), Outcome::ret(Ok(0)));
    assert_eq!(
        decode_ret(m.tasks[client].regs[0]),
        Err(Errno::BufferTooSmall)
    );
}

#[test]
fn dead_peers_fail_their_callers_and_never_hang_them() {
    let (mut m, server, client, ep) = pair();
    // A call queued, and one received but not answered.
    let second = m.task(ProcessClass::Application, None);
    m.grant(second, ep);
    assert_eq!(m.call(client, ep, 1, b"x"), Outcome::Done);
    assert_eq!(m.receive(server, ep, 64, false), Outcome::Done);
    assert_eq!(m.call(second, ep, 1, b"y"), Outcome::Done);
    m.kill(server);
    for t in [client, second] {
        assert_eq!(m.block(t), Block::None);
        assert_eq!(decode_ret(m.tasks[t].regs[0]), Err(Errno::PeerDied));
    }
    assert_eq!(m.send(client, ep, 1, b"x"), err(Errno::PeerDied));
    assert_eq!(m.call(client, ep, 1, b"x"), err(Errno::PeerDied));
    assert!(kernel_core::ipc::post_kernel_message(&mut m, ep, 1, b"r").is_err());
}

#[test]
fn a_dead_callers_calls_are_withdrawn_and_its_sends_kept() {
    let (mut m, server, client, ep) = pair();
    assert_eq!(m.send(client, ep, 1, b"sent"), Outcome::ret(Ok(0)));
    assert_eq!(m.call(client, ep, 2, b"called"), Outcome::Done);
    m.kill(client);
    assert_eq!(m.receive(server, ep, 64, false), Outcome::Done);
    assert_eq!(m.received(server).1, b"sent");
    assert_eq!(m.receive(server, ep, 64, false), err(Errno::WouldBlock));
}

#[test]
fn replies_to_a_restarted_caller_are_dropped() {
    let (mut m, server, client, ep) = pair();
    assert_eq!(m.call(client, ep, 1, b"x"), Outcome::Done);
    assert_eq!(m.receive(server, ep, 64, false), Outcome::Done);
    let token = m.received(server).2;
    // The client dies and comes back as its next generation, calling again.
    m.kill(client);
    m.tasks[client].alive = true;
    m.tasks[client].id.generation += 1;
    m.tasks[client].creds.task = m.tasks[client].id;
    assert_eq!(m.call(client, ep, 1, b"y"), Outcome::Done);
    assert_eq!(m.receive(server, ep, 64, false), Outcome::Done);
    m.tasks[client].regs = [0; 6];
    assert_eq!(m.reply(server, token, 2, b"old"), Outcome::ret(Ok(0)));
    assert!(matches!(m.block(client), Block::AwaitingReply { .. }));
    assert_eq!(m.tasks[client].regs[0], 0);
    let token = m.received(server).2;
    assert_eq!(m.reply(server, token, 2, b"new"), Outcome::ret(Ok(0)));
    assert_eq!(m.get(client, RW_BASE + 0x1000, 3), b"new");
}

#[test]
fn only_ipc_syscalls_are_run_by_the_core() {
    let (mut m, ..) = pair();
    assert_eq!(ipc(&mut m, 0, Sysno::Yield, [0; 6]), None);
}

#[test]
fn reply_recv_answers_and_takes_the_next_call_in_one_syscall() {
    let mut m = Fake::new();
    let server = m.task(ProcessClass::Runtime, None);
    let a = m.task(ProcessClass::Application, Some(0xa));
    let b = m.task(ProcessClass::Application, Some(0xb));
    let ep = m.endpoint(server, 4);
    m.grant(a, ep);
    m.grant(b, ep);
    assert_eq!(m.call(a, ep, 1, b"from a"), Outcome::Done);
    assert_eq!(m.call(b, ep, 2, b"from b"), Outcome::Done);
    assert_eq!(m.receive(server, ep, MAX_PAYLOAD, true), Outcome::Done);
    let (tag, payload, token, creds) = m.received(server);
    assert_eq!(
        (tag, payload.as_slice(), creds.task),
        (1, &b"from a"[..], m.tasks[a].id)
    );
    // One syscall: a gets its answer, the server gets b's call with b's stamped credentials.
    let out = m.reply_recv(server, token, 0x11, b"to a", ep, true);
    assert_eq!(out, Outcome::Done);
    assert_eq!(m.block(a), Block::None);
    assert_eq!(&m.tasks[a].regs[..2], &[4, 0x11]);
    assert_eq!(m.get(a, RW_BASE + 0x1000, 4), b"to a");
    let (tag, payload, token, creds) = m.received(server);
    assert_eq!((tag, payload.as_slice()), (2, &b"from b"[..]));
    assert_eq!(creds, m.tasks[b].creds);
    // Nothing more queued: the reply still goes, then the receive blocks (or would block).
    let out = m.reply_recv(server, token, 0x12, b"to b", ep, false);
    assert_eq!(out, Outcome::ret(Err(Errno::WouldBlock)));
    assert_eq!(m.get(b, RW_BASE + 0x1000, 4), b"to b");
    assert_eq!(m.block(b), Block::None);
}

#[test]
fn reply_recv_checks_both_halves_before_it_replies() {
    let (mut m, server, client, ep) = pair();
    assert_eq!(m.call(client, ep, 1, b"x"), Outcome::Done);
    assert_eq!(m.receive(server, ep, 64, false), Outcome::Done);
    let token = m.received(server).2;
    let word = |flags: usize| {
        ReplyRecvWord {
            cap: 64,
            flags: RecvFlags(flags),
            endpoint: ep as u16,
        }
        .to_raw()
        .unwrap()
    };
    let raw = token.to_raw() as usize;
    // A receive buffer the server cannot write, unknown flags, a reply it cannot read, a word
    // with bits past 32, a forged token: each faults, and the caller is still waiting.
    for args in [
        [raw, 2, RW_BASE + 0x3000, 1, RO_BASE, word(0)],
        [raw, 2, RW_BASE + 0x3000, 1, UNMAPPED, word(0)],
        [raw, 2, RW_BASE + 0x3000, 1, RW_BASE + 0x2000, word(4)],
        [raw, 2, UNMAPPED, 1, RW_BASE + 0x2000, word(0)],
        [raw, 2, RW_BASE + 0x3000, 1, RW_BASE + 0x2000, 1 << 40],
        [
            usize::MAX,
            2,
            RW_BASE + 0x3000,
            1,
            RW_BASE + 0x2000,
            word(0),
        ],
    ] {
        assert_eq!(
            m.sys(server, Sysno::ReplyRecv, args),
            Outcome::Fault,
            "{args:x?}"
        );
        assert!(matches!(m.block(client), Block::AwaitingReply { .. }));
    }
    // A reply longer than a message is an error, and nothing was received.
    let long = [raw, 2, RW_BASE, MAX_PAYLOAD + 1, RW_BASE + 0x2000, word(0)];
    assert_eq!(
        m.sys(server, Sysno::ReplyRecv, long),
        Outcome::ret(Err(Errno::InvalidArgument))
    );
    assert!(matches!(m.block(client), Block::AwaitingReply { .. }));
    // The real one still works.
    let out = m.reply_recv(server, token, 2, b"ok", ep, false);
    assert_eq!(out, Outcome::ret(Err(Errno::WouldBlock)));
    assert_eq!(m.get(client, RW_BASE + 0x1000, 2), b"ok");
}

#[test]
fn reply_recv_from_a_task_that_does_not_serve_the_token_is_refused() {
    let (mut m, server, client, ep) = pair();
    let other = m.task(ProcessClass::Application, None);
    assert_eq!(m.call(client, ep, 1, b"x"), Outcome::Done);
    assert_eq!(m.receive(server, ep, 64, false), Outcome::Done);
    let token = m.received(server).2;
    // A third task holding (a copy of) the token cannot answer for the server, nor receive
    // on its endpoint.
    let out = m.reply_recv(other, token, 2, b"forged", ep, false);
    assert_eq!(out, Outcome::ret(Err(Errno::NotGranted)));
    assert!(matches!(m.block(client), Block::AwaitingReply { .. }));
}
