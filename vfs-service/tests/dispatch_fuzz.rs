//! The whole request path minus IPC (`server::dispatch`) fed random and mutated payloads for
//! every tag by several callers: it must answer every one (protocol error or response) and
//! never panic, and keep serving well-formed requests afterwards.

mod common;

use std::cell::Cell;

use kernel_abi::{Credentials, ProcessClass, TaskId};
use uuid::Uuid;
use vfs_service::protocol::codec::{Request, encode_request};
use vfs_service::protocol::messages::*;
use vfs_service::protocol::tags;
use vfs_service::server::dispatch;
use vfs_service::{Ctx, Env, Limits, Vfs, VfsError};

struct TestEnv(Cell<u64>);

impl Env for TestEnv {
    fn now_ns(&self) -> u64 {
        self.0.set(self.0.get() + 7);
        self.0.get()
    }
    fn random(&self, out: &mut [u8]) -> Result<(), VfsError> {
        for b in out {
            *b = self.now_ns() as u8;
        }
        Ok(())
    }
}

const USER: Uuid = Uuid::from_u128(0x77);

fn creds(index: u16, class: ProcessClass, user: Option<Uuid>) -> Credentials {
    Credentials {
        task: TaskId {
            index,
            generation: 0,
        },
        user,
        class,
    }
}

#[test]
fn dispatch_answers_everything_and_never_panics() {
    let env = TestEnv(Cell::new(1));
    let mut vfs = Vfs::new(common::ram_store(32), Limits::default());
    vfs.boot(&env).unwrap();
    let sys = creds(1, ProcessClass::System, None);
    vfs.create_home(
        &Ctx {
            caller: sys,
            env: &env,
        },
        USER,
    )
    .unwrap();
    let callers = [
        sys,
        creds(2, ProcessClass::Runtime, None),
        creds(3, ProcessClass::Application, Some(USER)),
        creds(4, ProcessClass::Application, None),
    ];
    let encoded: Vec<(u32, Vec<u8>)> = vfs_api::samples::requests(USER)
        .iter()
        .map(|r| encode_request(r).unwrap())
        .collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut answered_ok = 0;
    for round in 0..30_000 {
        let caller = callers[(next() % 4) as usize];
        let (tag, payload) = if round % 2 == 0 {
            // A seed with a few bytes flipped, truncated or extended.
            let (tag, mut p) = encoded[(next() % encoded.len() as u64) as usize].clone();
            for _ in 0..(next() % 4) {
                if !p.is_empty() {
                    let i = (next() % p.len() as u64) as usize;
                    p[i] ^= 1 << (next() % 8);
                }
            }
            match next() % 4 {
                0 => p.truncate((next() % (p.len() as u64 + 1)) as usize),
                1 => p.push(next() as u8),
                _ => {}
            }
            (tag, p)
        } else {
            let tag = tags::ALL_REQUESTS[(next() % tags::ALL_REQUESTS.len() as u64) as usize];
            let len = (next() % 80) as usize;
            (tag, (0..len).map(|_| next() as u8).collect())
        };
        let (reply_tag, reply) = dispatch(&mut vfs, &env, caller, tag, &payload);
        assert!(reply.len() <= vfs_service::protocol::limits::MAX_PAYLOAD);
        assert!(reply_tag == tags::response(tag) || reply_tag == tags::PROTOCOL_ERROR);
        if reply_tag == tags::response(tag) {
            answered_ok += 1;
        }
        let _ = vfs.collect_garbage(16);
    }
    assert!(answered_ok > 1000, "only {answered_ok} requests decoded");
    // Still serving.
    let (t, reply) = dispatch(
        &mut vfs,
        &env,
        sys,
        tags::EXISTS,
        &encode_request(&Request::Exists(PathRequest {
            path: "/tmp".into(),
        }))
        .unwrap()
        .1,
    );
    assert_eq!(t, tags::EXISTS + 1);
    assert_eq!(
        postcard::from_bytes::<Result<bool, VfsError>>(&reply).unwrap(),
        Ok(true)
    );
}
