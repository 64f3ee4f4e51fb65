//! `PROTOCOL.md` cannot drift from the code: every hex example in it is decoded with the real
//! codec as the message it names and re-encoded byte for byte; every request of the table has
//! a request example and a successful response example; every section's tag is the table's;
//! the error table lists `VfsError`'s wire indices.

use std::collections::BTreeSet;

use vfs_api::VfsError;
use vfs_api::protocol::codec::{
    decode_protocol_error, decode_request, encode_protocol_error, encode_request,
};
use vfs_api::protocol::tags::{self, REQUESTS};
use vfs_api::protocol::{Request, Response};

const DOC: &str = include_str!("../../PROTOCOL.md");

/// One ```hex block: the message it names and its bytes.
#[derive(Debug)]
struct Example {
    line: usize,
    name: String,
    bytes: Vec<u8>,
}

fn parse_hex_line(line: &str, at: usize) -> Vec<u8> {
    let data = line.split('#').next().unwrap_or("");
    data.split_whitespace()
        .map(|pair| {
            assert!(pair.len() == 2, "line {at}: `{pair}` is not one hex byte");
            u8::from_str_radix(pair, 16)
                .unwrap_or_else(|_| panic!("line {at}: `{pair}` is not hex"))
        })
        .collect()
}

fn examples() -> Vec<Example> {
    let mut out = Vec::new();
    let mut lines = DOC.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        if line.trim() != "```hex" {
            continue;
        }
        let (_, first) = lines.next().expect("a ```hex block ends the document");
        let name = first
            .trim()
            .strip_prefix("# ")
            .unwrap_or_else(|| panic!("line {}: a hex block starts with `# NAME`", i + 2))
            .trim()
            .to_string();
        let mut bytes = Vec::new();
        for (j, l) in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            bytes.extend(parse_hex_line(l, j + 1));
        }
        out.push(Example {
            line: i + 1,
            name,
            bytes,
        });
    }
    out
}

fn tag_of(name: &str) -> Option<u32> {
    REQUESTS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

#[test]
fn every_example_decodes_and_re_encodes_byte_for_byte() {
    let examples = examples();
    let mut requests = BTreeSet::new();
    let mut responses = BTreeSet::new();
    let mut protocol_errors = 0;
    for ex in &examples {
        let at = ex.line;
        if ex.name == "PROTOCOL_ERROR" {
            let e = decode_protocol_error(&ex.bytes).unwrap_or_else(|e| panic!("line {at}: {e:?}"));
            assert_eq!(encode_protocol_error(e), ex.bytes, "line {at}");
            protocol_errors += 1;
        } else if let Some(name) = ex.name.strip_suffix(" request") {
            let tag = tag_of(name).unwrap_or_else(|| panic!("line {at}: no request {name}"));
            let request: Request = decode_request(tag, &ex.bytes)
                .unwrap_or_else(|e| panic!("line {at}: {name} request: {e:?}"));
            assert_eq!(request.name(), name, "line {at}");
            assert_eq!(
                encode_request(&request),
                Ok((tag, ex.bytes.clone())),
                "line {at}: {name} request does not re-encode to the same bytes"
            );
            requests.insert(name.to_string());
        } else if let Some(name) = ex.name.strip_suffix(" response") {
            let tag = tag_of(name).unwrap_or_else(|| panic!("line {at}: no request {name}"));
            let reply = Response::decode(tag, &ex.bytes)
                .unwrap_or_else(|e| panic!("line {at}: {name} response: {e:?}"));
            assert_eq!(
                Response::encode(&reply),
                ex.bytes,
                "line {at}: {name} response does not re-encode to the same bytes"
            );
            if let Ok(response) = reply {
                assert_eq!(response.request_tag(), tag, "line {at}");
                responses.insert(name.to_string());
            }
        } else {
            panic!(
                "line {at}: `{}` is not `NAME request`, `NAME response` or PROTOCOL_ERROR",
                ex.name
            );
        }
    }
    for (name, _) in REQUESTS {
        assert!(
            requests.contains(*name),
            "PROTOCOL.md has no {name} request example"
        );
        assert!(
            responses.contains(*name),
            "PROTOCOL.md has no successful {name} response example"
        );
    }
    assert!(
        protocol_errors > 0,
        "PROTOCOL.md has no PROTOCOL_ERROR example"
    );
}

#[test]
fn section_tags_are_the_table_tags() {
    let mut seen = BTreeSet::new();
    for line in DOC.lines() {
        let Some(rest) = line.strip_prefix("### ") else {
            continue;
        };
        let Some((name, tag)) = rest.split_once(" (0x") else {
            continue;
        };
        let Some(hex) = tag.strip_suffix(')') else {
            continue;
        };
        let Ok(tag) = u32::from_str_radix(hex, 16) else {
            continue;
        };
        if name == "PROTOCOL_ERROR" {
            assert_eq!(tag, tags::PROTOCOL_ERROR);
            continue;
        }
        assert_eq!(tag_of(name), Some(tag), "section {name} (0x{tag:04X})");
        seen.insert(name);
    }
    for (name, _) in REQUESTS {
        assert!(seen.contains(name), "PROTOCOL.md has no section for {name}");
    }
}

#[test]
fn error_table_matches_the_wire_indices() {
    let mut rows = 0u8;
    for line in DOC.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, index, name, _] = cells.as_slice() else {
            continue;
        };
        let Ok(index) = index.parse::<u8>() else {
            continue;
        };
        assert_eq!(index, rows, "error table out of order at {name}");
        let error: VfsError = postcard::from_bytes(&[index]).expect("a VfsError index");
        assert_eq!(format!("{error:?}"), *name);
        rows += 1;
    }
    assert!(
        postcard::from_bytes::<VfsError>(&[rows]).is_err(),
        "VfsError has variants the table does not list"
    );
}

#[test]
fn the_document_has_one_example_or_more_per_message() {
    // A guard against the parser silently finding nothing.
    assert!(examples().len() > 2 * REQUESTS.len());
}

/// The AUDIT_LOG section states the audit bounds with the values the code uses.
#[test]
fn audit_bounds_in_the_doc_are_the_code_s() {
    use vfs_api::protocol::limits::{
        AUDIT_ENTRY_FIXED_MAX, AUDIT_KEEP_HEAD, AUDIT_KEEP_TAIL, AUDIT_PAGE_ENTRIES,
        AUDIT_PAGE_OVERHEAD, AUDIT_TRUNCATION_MARKER, MAX_AUDIT_ACTION, MAX_AUDIT_ENTRY,
    };
    let section = DOC
        .split("### AUDIT_LOG")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("an AUDIT_LOG section");
    for needle in [
        format!("at most\n{AUDIT_PAGE_ENTRIES} entries (`AUDIT_PAGE_ENTRIES`)"),
        format!("takes {AUDIT_PAGE_OVERHEAD} bytes"),
        format!("at most {AUDIT_ENTRY_FIXED_MAX} (`seq` 10"),
        format!("= {MAX_AUDIT_ENTRY} bytes"),
        format!("**{MAX_AUDIT_ACTION} bytes**"),
        format!("at most {AUDIT_KEEP_HEAD} bytes (`AUDIT_KEEP_HEAD`)"),
        format!("`{AUDIT_TRUNCATION_MARKER}`"),
        format!("at most {AUDIT_KEEP_TAIL} bytes (`AUDIT_KEEP_TAIL`"),
        format!("{} to {MAX_AUDIT_ACTION} bytes long", MAX_AUDIT_ACTION - 6),
    ] {
        let flat = section.replace('\n', " ");
        assert!(
            flat.contains(&needle.replace('\n', " ")),
            "PROTOCOL.md's AUDIT_LOG section lacks `{needle}`"
        );
    }
}
