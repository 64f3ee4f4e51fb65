//! Power cuts during buffered handle writes: the VFS over the NOR emulator, cut at program and
//! erase operations of a workload that spills a handle's buffer several times, FLUSHes, writes
//! more and CLOSEs; then writes a small new file (create + write + close, one commit). After
//! each cut the image must boot and show the file in one of its committed versions only — the
//! one before the FLUSH, after it, or after the CLOSE, never a mix — and not older than what
//! had been acknowledged; the new file is absent or complete; the collector leaves no staging
//! behind; the store's integrity check passes.

mod common;

use common::TestEnv;
use kernel_abi::ProcessClass;
use storage_backend::block::{CutMode, NorEmulator, NorFlashDevice};
use storage_backend::{CryptoEngine, Db, DbKeys, FormatOptions, SoftwareEngine, Store};
use vfs_service::inode::keys;
use vfs_service::protocol::messages::OpenFlags;
use vfs_service::{Ctx, Limits, Vfs, WriteBuffer};

type Dev = NorFlashDevice<NorEmulator>;
type NorVfs = Vfs<Dev, SoftwareEngine>;

const SECTORS: usize = 768;
const P: usize = 3968;

fn engine() -> (SoftwareEngine, DbKeys) {
    let mut e = SoftwareEngine::new();
    let kernel = e.import_key(&[0x11; 32]).unwrap();
    let userspace = e.import_key(&[0x22; 32]).unwrap();
    (e, DbKeys { kernel, userspace })
}

fn vfs_on(image: Vec<u8>, cut: Option<(u64, CutMode)>) -> NorVfs {
    let mut emu = NorEmulator::from_image(image);
    if let Some((k, m)) = cut {
        emu.set_cut(k, m);
    }
    let (e, k) = engine();
    let store = Store::mount(NorFlashDevice::new(emu, 256).unwrap(), e, k).unwrap();
    let mut vfs = Vfs::new(store, Limits::default());
    vfs.set_write_buffer(WriteBuffer {
        pieces: 8,
        total_bytes: 1 << 20,
    });
    vfs
}

fn image(vfs: NorVfs) -> Vec<u8> {
    let (dev, _) = vfs.into_store().into_parts();
    dev.flash().image().to_vec()
}

fn ops(vfs: &mut NorVfs) -> u64 {
    vfs.store_mut().device().flash().stats().ops
}

fn system(env: &TestEnv) -> Ctx<'_> {
    Ctx {
        caller: common::creds(1, ProcessClass::System, None),
        env,
    }
}

fn version(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

fn read(vfs: &mut NorVfs, ctx: &Ctx<'_>, path: &str) -> Option<Vec<u8>> {
    vfs.stat(ctx, path, true).ok()?;
    let (data, h) = common::open_and_read_all(vfs, ctx, path, None);
    vfs.handle_close(ctx, h).unwrap();
    Some(data)
}

/// The workload; returns the device operation counts at which FLUSH, CLOSE and the small
/// file's CLOSE returned. A cut stops it (any error ends it early).
fn workload(vfs: &mut NorVfs, ctx: &Ctx<'_>) -> Result<[u64; 3], vfs_service::VfsError> {
    let rw = OpenFlags {
        read: true,
        write: true,
        ..Default::default()
    };
    let h = vfs.open(ctx, "/data/f", rw, None, None)?.handle;
    let v2 = version(30 * P + 77, 2);
    for c in v2.chunks(P) {
        vfs.handle_write(ctx, h, c)?;
    }
    vfs.handle_flush(ctx, h)?;
    let flushed = ops(vfs);
    vfs.handle_write(ctx, h, &[0xee; 500])?;
    vfs.handle_close(ctx, h)?;
    let closed = ops(vfs);
    let create = OpenFlags {
        write: true,
        create: true,
        ..Default::default()
    };
    let g = vfs.open(ctx, "/data/small", create, None, None)?.handle;
    vfs.handle_write(ctx, g, &version(1000, 9))?;
    vfs.handle_close(ctx, g)?;
    Ok([flushed, closed, ops(vfs)])
}

#[test]
fn a_cut_anywhere_in_buffered_writes_leaves_a_committed_version() {
    let env = TestEnv::new();
    let (e, k) = engine();
    let opts = FormatOptions {
        kernel_units: Some(64),
        ..FormatOptions::default()
    };
    let store = Store::format(
        NorFlashDevice::new(NorEmulator::new(SECTORS), 256).unwrap(),
        e,
        k,
        &opts,
    )
    .unwrap();
    let mut vfs = Vfs::new(store, Limits::default());
    vfs.boot(&env).unwrap();
    let sys = system(&env);
    vfs.mkdir(&sys, "/data", false, None).unwrap();
    let v1 = version(12 * P + 5, 1);
    vfs.write_file(&sys, "/data/f", &v1, None, None).unwrap();
    vfs.collect_all().unwrap();
    let base = image(vfs);

    // The uncut run: the versions and when each was acknowledged.
    let mut vfs = vfs_on(base.clone(), None);
    vfs.attach().unwrap();
    let start = ops(&mut vfs);
    let [flushed, closed, small] = workload(&mut vfs, &sys).unwrap();
    let v2 = read(&mut vfs, &sys, "/data/f").unwrap();
    let mut v3 = version(30 * P + 77, 2);
    v3.extend_from_slice(&[0xee; 500]);
    assert_eq!(v2, v3);
    let mid = version(30 * P + 77, 2);
    let total = ops(&mut vfs);
    assert!(
        total - start > 40,
        "too few operations to cut: {}",
        total - start
    );

    let step = ((total - start) / 160).max(1);
    let mut cuts = 0;
    let mut k = start;
    while k < total {
        let mode = if cuts % 2 == 0 {
            CutMode::NotApplied
        } else {
            CutMode::Torn((k as usize * 7919) % 4096 + 1)
        };
        let mut vfs = vfs_on(base.clone(), Some((k, mode)));
        vfs.attach().unwrap();
        let r = workload(&mut vfs, &sys);
        assert!(r.is_err(), "cut at {k} did not stop the workload");
        let img = image(vfs);
        let mut vfs = vfs_on(img, None);
        let report = vfs.boot(&env).unwrap();
        assert_eq!(report.skipped_writes, 0, "cut at {k}");
        let got = read(&mut vfs, &sys, "/data/f").unwrap();
        let what = if got == v1 {
            1
        } else if got == mid {
            2
        } else if got == v3 {
            3
        } else {
            panic!("cut at {k}: the file is none of its committed versions");
        };
        if k >= closed {
            assert_eq!(what, 3, "cut at {k}: the acknowledged CLOSE is lost");
        } else if k >= flushed {
            assert!(what >= 2, "cut at {k}: the acknowledged FLUSH is lost");
        }
        match read(&mut vfs, &sys, "/data/small") {
            None => assert!(k < small, "cut at {k}: the acknowledged small file is lost"),
            Some(d) => assert_eq!(d, version(1000, 9), "cut at {k}: small file torn"),
        }
        vfs.collect_all().unwrap();
        let staging = vfs
            .store_mut()
            .scan(Db::Userspace, &[keys::STAGING], None, usize::MAX)
            .unwrap();
        assert!(staging.is_empty(), "cut at {k}: staging left behind");
        for db in Db::ALL {
            vfs.store_mut()
                .check(db)
                .unwrap_or_else(|e| panic!("cut at {k}: check {db:?}: {e:?}"));
        }
        cuts += 1;
        k += step;
    }
    assert!(cuts >= 40, "{cuts} cuts");
}
