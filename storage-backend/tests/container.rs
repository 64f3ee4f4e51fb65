use storage_backend::container::Metadata;
#[test]
fn metadata_round_trip() {
    let m = Metadata {
        name: b"zos-kernel".to_vec(),
        created_ns: 1,
        modified_ns: 2,
        creator: b"zero-os".to_vec(),
        uuid: [1; 16],
        block_size: 512,
        seg_units: 8,
        seg_count: 7,
        sb_units: 1,
        max_objects: 5,
        max_bytes: 6,
    };
    let e = m.encode();
    assert_eq!(Metadata::decode(&e), Some(m));
}
