//! Engine v2, rule F: a journal segment in the newest durable checkpoint's tail must not be
//! reused before the next checkpoint is durable — even when nothing in it is live and nothing
//! changed in it since (no pending delta).
//!
//! * The segment of the checkpoint record, followed by delete-only transactions (which move no
//!   segment's live count) over several journal rolls.
//! * An in-flight checkpoint whose transaction began in an older journal segment where every
//!   value is dead: the tail starts there, so only the tail clause of rule F keeps it out of the
//!   free queue (this one fails if the clause is removed).

mod common;

use common::v2::{mount_dev, nor_opts, nor_region, read_all};
use storage_backend::store::v2::V2Options;

#[test]
fn v2_checkpoint_segment_is_not_freed_while_in_the_tail() {
    let opts = V2Options {
        ckpt_bytes: 1 << 20,
        max_deltas: 64,
        ..nor_opts()
    };
    let mut r = nor_region(96, opts);
    for i in 0..6u32 {
        r.begin().unwrap();
        r.put(b"short-lived", &[i as u8; 100]).unwrap();
        r.commit().unwrap();
        r.begin().unwrap();
        r.delete(b"short-lived").unwrap();
        r.commit().unwrap();
    }
    r.sync().unwrap();
    let (ckpt_seg, head) = r.checkpoint_and_head();
    assert_eq!(head, Some(ckpt_seg));
    // Delete-only transactions until the journal has moved on eight times (the free-queue refill walks past the checkpoint's segment).
    let mut rolls = 0;
    let mut last = head;
    let mut n = 0;
    while rolls < 8 {
        r.begin().unwrap();
        r.delete(format!("absent-{n}").as_bytes()).unwrap();
        r.commit().unwrap();
        n += 1;
        let (c, h) = r.checkpoint_and_head();
        assert_eq!(
            c, ckpt_seg,
            "a checkpoint happened: the test needs a long tail"
        );
        if h != last {
            rolls += 1;
            last = h;
        }
        assert!(
            !r.free_segments().contains(&ckpt_seg),
            "the durable checkpoint's segment is in the free queue"
        );
        assert!(n < 10_000);
    }
    // The tail is intact: a crash now mounts.
    let (dev, _) = r.into_parts();
    let mut r = mount_dev(dev, opts).unwrap();
    assert!(read_all(&mut r).unwrap().is_empty());
    r.check().unwrap();
}

#[test]
fn v2_in_flight_tail_start_segment_is_not_freed() {
    // `T` above a segment's capacity: the transaction rolls the journal before its checkpoint.
    let opts = V2Options {
        ckpt_bytes: 16 * 1024,
        max_deltas: 64,
        ..nor_opts()
    };
    // A small device: the free queue is below its target, so every refill after a checkpoint
    // walks all SIT entries (and would take the segment if rule F let it).
    let mut r = nor_region(40, opts);
    for i in 0..4u32 {
        r.begin().unwrap();
        r.put(b"short-lived", &[i as u8; 100]).unwrap();
        r.commit().unwrap();
        r.begin().unwrap();
        r.delete(b"short-lived").unwrap();
        r.commit().unwrap();
    }
    r.sync().unwrap();
    let (_, start) = r.checkpoint_and_head();
    let start = start.unwrap();
    let g0 = r.generation();
    r.begin().unwrap();
    let mut model = common::v2::Model::new();
    let mut j = 0u32;
    while r.generation() == g0 {
        let v = vec![j as u8; 1500];
        let k = format!("k{}", j % 3).into_bytes();
        r.put(&k, &v).unwrap();
        model.insert(k, v);
        j += 1;
        assert!(j < 100);
    }
    let (ckpt, _) = r.checkpoint_and_head();
    assert_ne!(
        ckpt, start,
        "the journal did not roll before the in-flight checkpoint"
    );
    assert!(
        !r.free_segments().contains(&start),
        "the in-flight transaction's first segment is in the free queue"
    );
    r.commit().unwrap();
    let (dev, _) = r.into_parts();
    let mut r = mount_dev(dev, opts).unwrap();
    assert_eq!(read_all(&mut r).unwrap(), model);
    r.check().unwrap();
}
