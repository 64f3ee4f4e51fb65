//! What the fuzz targets share: fixed keys, the pristine images they start from, and the
//! interpretation of libFuzzer's bytes as image patches and as message sequences.
//!
//! Every target is deterministic: the same input always replays the same run from the same
//! pristine state, so a crash artifact reproduces with
//! `cargo xtask fuzz <target> --replay <artifact>`.

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::sync::OnceLock;

use kernel_abi::init_proto::TASK_STOPPED;
use kernel_abi::{Credentials, ProcessClass, TaskId};
use storage_backend::block::RamDevice;
use storage_backend::{CryptoEngine, Db, DbKeys, FormatOptions, SoftwareEngine, Store};
use uuid::Uuid;
use vfs_service::protocol::codec::{Request, encode_request};
use vfs_service::protocol::messages::*;
use vfs_service::protocol::tags;
use vfs_service::server::dispatch;
use vfs_service::{Ctx, Env, Limits, Vfs, VfsError};

/// Block size of the fuzzed images.
pub const BLOCK: usize = 512;
/// Blocks per erase unit of the fuzzed images.
pub const UNIT_BLOCKS: u32 = 8;

/// The software engine with the two fixed database keys every image is made with.
pub fn engine() -> (SoftwareEngine, DbKeys) {
    let mut e = SoftwareEngine::new();
    // The software engine accepts any 32-byte key.
    let kernel = e.import_key(&[0x11; 32]).expect("import of a 32-byte key");
    let userspace = e.import_key(&[0x22; 32]).expect("import of a 32-byte key");
    (e, DbKeys { kernel, userspace })
}

/// A synced store of 48 erase units (192 KiB: about the smallest two-region store, so a run is short)
/// with both databases, deletes, overwrites, cleaning, checkpoints and footers: the image the
/// mount target patches.
pub fn store_image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let (e, k) = engine();
        let opts = FormatOptions {
            kernel_units: Some(20),
            segment_bytes: 12 * 1024,
            ..FormatOptions::default()
        };
        let dev = RamDevice::new(BLOCK as u32, UNIT_BLOCKS, 48);
        let mut s = Store::format(dev, e, k, &opts).expect("format of the base image");
        for round in 0..60u32 {
            let db = if round % 4 == 0 {
                Db::Kernel
            } else {
                Db::Userspace
            };
            let mut t = s.begin(db).expect("begin");
            for j in 0..3u32 {
                let key = format!("f/{}", (round * 5 + j) % 17);
                if (round + j) % 6 == 0 {
                    t.delete(key.as_bytes()).expect("delete");
                } else {
                    let len = ((round * 97 + j * 31) % 700) as usize;
                    t.put(key.as_bytes(), &vec![round as u8; len]).expect("put");
                }
            }
            t.commit().expect("commit");
            if round % 10 == 9 {
                s.sync().expect("sync");
            }
        }
        s.sync().expect("sync");
        let (dev, _) = s.into_parts();
        dev.image().to_vec()
    })
}

/// Reads little-endian integers off the front of the fuzzer's bytes; missing bytes read as 0.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    /// Takes up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }
    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }
    /// Two bytes.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | u16::from(self.u8()) << 8
    }
    /// Four bytes.
    pub fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | u32::from(self.u16()) << 16
    }
    /// Whether everything was taken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Applies the fuzzer's patch program to `img`: up to 16 operations of (kind, offset, argument):
/// a bit flip, a run of the input's bytes, a block erased (0xFF), zeroed, or copied from another
/// block, and an erase unit's header bytes replaced. Offsets wrap around the image, so every
/// program is valid.
pub fn patch(img: &mut [u8], data: &[u8]) {
    let mut b = Bytes(data);
    let len = img.len();
    let blocks = len / BLOCK;
    for _ in 0..16 {
        if b.is_empty() {
            break;
        }
        let kind = b.u8();
        let at = b.u32() as usize % len;
        let block = at / BLOCK * BLOCK;
        match kind % 6 {
            0 => img[at] ^= 1 << (b.u8() % 8),
            1 => {
                let n = usize::from(b.u8() % 64) + 1;
                for (dst, src) in img[at..].iter_mut().zip(b.take(n)) {
                    *dst = *src;
                }
            }
            2 => img[block..block + BLOCK].fill(0xFF),
            3 => img[block..block + BLOCK].fill(0),
            4 => {
                let from = (b.u16() as usize % blocks) * BLOCK;
                img.copy_within(from..from + BLOCK, block);
            }
            _ => {
                let unit = at / (BLOCK * UNIT_BLOCKS as usize) * BLOCK * UNIT_BLOCKS as usize;
                let n = usize::from(b.u8());
                for (dst, src) in img[unit..].iter_mut().zip(b.take(n)) {
                    *dst = *src;
                }
            }
        }
    }
}

/// Mounts `img` and goes through every read and write path of both databases. Errors are
/// expected; only a panic (or a hang) is a finding.
pub fn exercise_store(img: Vec<u8>) {
    let (e, k) = engine();
    let Ok(mut s) = Store::mount(RamDevice::from_image(BLOCK as u32, UNIT_BLOCKS, img), e, k)
    else {
        return;
    };
    for db in Db::ALL {
        let Ok(keys) = s.scan_keys(db, b"", None, usize::MAX) else {
            continue;
        };
        for key in keys {
            let _ = s.get(db, &key);
        }
        let _ = s.check(db);
        // Writing after mounting a damaged image must fail cleanly or work.
        if let Ok(mut t) = s.begin(db) {
            let _ = t.put(b"fuzz", b"x").and_then(|_| t.commit());
        }
        let _ = s.sync();
    }
}

/// The VFS fuzz targets' clock and entropy: deterministic.
pub struct FuzzEnv(Cell<u64>);

impl Default for FuzzEnv {
    fn default() -> Self {
        Self(Cell::new(1))
    }
}

impl Env for FuzzEnv {
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

/// The user whose home exists in the pristine VFS image.
pub const USER: Uuid = Uuid::from_u128(0x77);

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

/// The callers a message can come from: System, a Runtime service, an application of [`USER`],
/// an application without a user.
pub fn callers() -> [Credentials; 4] {
    [
        creds(1, ProcessClass::System, None),
        creds(2, ProcessClass::Runtime, None),
        creds(3, ProcessClass::Application, Some(USER)),
        creds(4, ProcessClass::Application, None),
    ]
}

/// Well-formed requests the dispatch target mutates, so it reaches past the decoder.
pub fn templates() -> &'static [(u32, Vec<u8>)] {
    static T: OnceLock<Vec<(u32, Vec<u8>)>> = OnceLock::new();
    T.get_or_init(|| {
        vfs_api::samples::requests(USER)
            .iter()
            .map(|r| encode_request(r).expect("encoding of a template request"))
            .collect()
    })
}

/// A booted VFS with a home for [`USER`], stored as a device image: every dispatch run starts
/// from a mount of a copy, so runs do not depend on each other.
fn vfs_image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let (e, k) = engine();
        let opts = FormatOptions {
            kernel_units: Some(40),
            segment_bytes: 16 * 1024,
            ..FormatOptions::default()
        };
        // 512 KiB: room for what 16 messages can write, small enough to mount in well under a
        // millisecond.
        let dev = RamDevice::new(BLOCK as u32, UNIT_BLOCKS, 128);
        let store = Store::format(dev, e, k, &opts).expect("format of the VFS image");
        let env = FuzzEnv::default();
        let mut vfs = Vfs::new(store, Limits::default());
        vfs.boot(&env).expect("boot");
        let ctx = Ctx {
            caller: callers()[0],
            env: &env,
        };
        vfs.create_home(&ctx, USER).expect("home");
        vfs.store_mut().sync().expect("sync");
        let (dev, _) = vfs.into_store().into_parts();
        dev.image().to_vec()
    })
}

/// Feeds the fuzzer's bytes to `dispatch` as up to 16 messages, each `caller u8, selector u8,
/// length u16, bytes`: a selector below 0x80 picks a tag of the request table and sends the
/// bytes as the payload; 0x80 and above XORs the bytes into a template request (so mutations
/// reach the operations); 0xFF sends a raw 32-bit tag first. Checks that every message gets an
/// answer of the right shape, that the service still serves afterwards, and that no sequence of
/// messages breaks the store's integrity.
pub fn run_dispatch(data: &[u8]) {
    let (e, k) = engine();
    let dev = RamDevice::from_image(BLOCK as u32, UNIT_BLOCKS, vfs_image().to_vec());
    let store = Store::mount(dev, e, k).expect("mount of the pristine VFS image");
    let mut vfs = Vfs::new(store, Limits::default());
    vfs.attach().expect("attach");
    let env = FuzzEnv::default();
    let callers = callers();
    let mut b = Bytes(data);
    for _ in 0..16 {
        if b.is_empty() {
            break;
        }
        let caller = callers[usize::from(b.u8() % 4)];
        let selector = b.u8();
        let (tag, payload) = if selector == 0xFF {
            let tag = b.u32();
            let n = usize::from(b.u16());
            (tag, b.take(n).to_vec())
        } else if selector >= 0x80 {
            let t = templates();
            let (tag, template) = &t[usize::from(selector - 0x80) % t.len()];
            let n = usize::from(b.u16());
            let mut p = template.clone();
            for (i, x) in b.take(n).iter().enumerate() {
                match p.get_mut(i) {
                    Some(y) => *y ^= x,
                    None => p.push(*x),
                }
            }
            (*tag, p)
        } else {
            let tag = tags::ALL_REQUESTS[usize::from(selector) % tags::ALL_REQUESTS.len()];
            let n = usize::from(b.u16());
            (tag, b.take(n).to_vec())
        };
        let (reply_tag, reply) = dispatch(&mut vfs, &env, caller, tag, &payload);
        assert!(reply.len() <= vfs_service::protocol::limits::MAX_PAYLOAD);
        // A VFS request, or init's TASK_STOPPED notice (the one message outside the range the
        // service accepts), gets its own response tag; anything else a protocol error.
        let known = tags::ALL_REQUESTS.contains(&tag) || tag == TASK_STOPPED.0;
        assert!(
            reply_tag == tags::PROTOCOL_ERROR || known && reply_tag == tags::response(tag),
            "tag {tag:#x} answered with {reply_tag:#x}"
        );
        let _ = vfs.collect_garbage(16);
    }
    // Still serving: the root always exists for System.
    let (t, reply) = dispatch(
        &mut vfs,
        &env,
        callers[0],
        tags::EXISTS,
        &encode_request(&Request::Exists(PathRequest { path: "/".into() }))
            .expect("encode")
            .1,
    );
    assert_eq!(t, tags::response(tags::EXISTS));
    assert_eq!(
        postcard::from_bytes::<Result<bool, VfsError>>(&reply),
        Ok(Ok(true))
    );
    // No message breaks the store: every record still authenticates and every total adds up.
    for db in Db::ALL {
        if let Err(e) = vfs.store_mut().check(db) {
            panic!("{db:?} fails its integrity check after the messages: {e:?}");
        }
    }
}
