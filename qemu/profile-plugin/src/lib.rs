//! A QEMU TCG plugin that counts guest instructions per translation block (TB), only inside
//! regions the guest marks, for the per-function profiles of `cargo xtask bench qemu --profile`
//! and `cargo xtask bench ipc --profile`.
//!
//! The guest opens region `r` (1..=15) by executing `slti x0, x0, 0x7a0 + r` and closes it with
//! `slti x0, x0, 0x7a0`: both are RISC-V HINTs (writes to `x0`), so without this plugin they
//! retire as one no-op each and change nothing else. With `all=on` region 1 is open from the
//! start (for a system without markers, such as the IPC benchmark).
//!
//! At exit the plugin writes `out=PATH`: one `tb <id> <vaddr> <instructions> <bytes>` line per
//! TB that ran inside a region (its guest virtual address, instruction count and code bytes in
//! hex, so xtask can tell which task's ELF the TB came from: every task is linked at the same
//! address, and the bytes differ), then `count <region> <id> <executions>` lines.
//!
//! This crate talks to QEMU through its C plugin interface, so it is FFI and `unsafe` by
//! nature; it is a host tool, never part of the guest. The few functions it declares are the
//! stable part of that interface (QEMU 8.2 and later; `qemu_plugin_insn_data` as of API 3).

use std::collections::BTreeMap;
use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::io::Write;
use std::sync::Mutex;

/// The plugin API level this file is written against (the `qemu_plugin_insn_data` that copies).
#[unsafe(no_mangle)]
pub static qemu_plugin_version: c_int = 3;

/// Regions the guest may open (1..=`REGIONS - 1`; 0 means none is open).
const REGIONS: usize = 16;
/// `slti x0, x0, MARK_BASE + r`: opcode OP-IMM, funct3 SLTI, rd = rs1 = x0.
const MARK_BASE: u32 = 0x7a0;
/// Code bytes kept per TB (enough to tell two ELFs apart at the same address).
const KEPT_BYTES: usize = 32;

#[repr(C)]
struct PluginTb {
    _opaque: [u8; 0],
}
#[repr(C)]
struct PluginInsn {
    _opaque: [u8; 0],
}

type VcpuUdataCb = extern "C" fn(c_uint, *mut c_void);
type TbTransCb = extern "C" fn(u64, *mut PluginTb);
type UdataCb = extern "C" fn(u64, *mut c_void);

/// `QEMU_PLUGIN_CB_NO_REGS`: the callbacks read no guest registers.
const CB_NO_REGS: c_int = 0;

unsafe extern "C" {
    fn qemu_plugin_register_vcpu_tb_trans_cb(id: u64, cb: TbTransCb);
    fn qemu_plugin_register_vcpu_tb_exec_cb(
        tb: *mut PluginTb,
        cb: VcpuUdataCb,
        flags: c_int,
        userdata: *mut c_void,
    );
    fn qemu_plugin_register_vcpu_insn_exec_cb(
        insn: *mut PluginInsn,
        cb: VcpuUdataCb,
        flags: c_int,
        userdata: *mut c_void,
    );
    fn qemu_plugin_register_atexit_cb(id: u64, cb: UdataCb, userdata: *mut c_void);
    fn qemu_plugin_tb_n_insns(tb: *const PluginTb) -> usize;
    fn qemu_plugin_tb_vaddr(tb: *const PluginTb) -> u64;
    fn qemu_plugin_tb_get_insn(tb: *const PluginTb, idx: usize) -> *mut PluginInsn;
    fn qemu_plugin_insn_data(insn: *const PluginInsn, dest: *mut c_void, len: usize) -> usize;
}

/// One translated block, as first seen. A block translated again (after a flush, or at the
/// same address in another address space) is a new entry; xtask merges them by symbol.
struct Tb {
    vaddr: u64,
    insns: u64,
    bytes: Vec<u8>,
    /// Executions per region.
    counts: [u64; REGIONS],
}

struct State {
    out: Option<String>,
    region: usize,
    tbs: Vec<Tb>,
    /// TBs by (vaddr, code bytes), so re-translations of the same code share one entry.
    index: BTreeMap<(u64, Vec<u8>), usize>,
}

static STATE: Mutex<State> = Mutex::new(State {
    out: None,
    region: 0,
    tbs: Vec::new(),
    index: BTreeMap::new(),
});

extern "C" fn on_tb_exec(_vcpu: c_uint, udata: *mut c_void) {
    let id = udata as usize;
    let Ok(mut s) = STATE.lock() else { return };
    let region = s.region;
    if region == 0 {
        return;
    }
    if let Some(tb) = s.tbs.get_mut(id)
        && let Some(c) = tb.counts.get_mut(region)
    {
        *c += 1;
    }
}

extern "C" fn on_marker(_vcpu: c_uint, udata: *mut c_void) {
    if let Ok(mut s) = STATE.lock() {
        s.region = udata as usize;
    }
}

extern "C" fn on_tb_trans(_id: u64, tb: *mut PluginTb) {
    // SAFETY: `tb` is the handle QEMU passed to this translation callback; it is valid for the
    // duration of the call, and so are the instruction handles taken from it.
    let (vaddr, n) = unsafe { (qemu_plugin_tb_vaddr(tb), qemu_plugin_tb_n_insns(tb)) };
    let mut bytes = Vec::new();
    for i in 0..n {
        // SAFETY: `i` < the block's instruction count.
        let insn = unsafe { qemu_plugin_tb_get_insn(tb, i) };
        let mut word = [0u8; 4];
        // SAFETY: `word` is a 4-byte buffer and the length passed says so.
        let len = unsafe { qemu_plugin_insn_data(insn, word.as_mut_ptr().cast(), word.len()) };
        let code = word.get(..len).unwrap_or(&[]);
        if bytes.len() < KEPT_BYTES {
            bytes.extend_from_slice(code);
        }
        if len == 4 {
            let w = u32::from_le_bytes(word);
            let imm = w >> 20;
            if w & 0x000f_ffff == 0x2013 && (MARK_BASE..MARK_BASE + REGIONS as u32).contains(&imm) {
                let region = (imm - MARK_BASE) as usize;
                // SAFETY: a valid instruction handle of this translation; the callback and its
                // data (a plain integer) outlive the block.
                unsafe {
                    qemu_plugin_register_vcpu_insn_exec_cb(
                        insn,
                        on_marker,
                        CB_NO_REGS,
                        region as *mut c_void,
                    )
                };
            }
        }
    }
    bytes.truncate(KEPT_BYTES);
    let Ok(mut s) = STATE.lock() else { return };
    let key = (vaddr, bytes);
    let id = match s.index.get(&key) {
        Some(&id) => id,
        None => {
            let id = s.tbs.len();
            s.tbs.push(Tb {
                vaddr,
                insns: n as u64,
                bytes: key.1.clone(),
                counts: [0; REGIONS],
            });
            s.index.insert(key, id);
            id
        }
    };
    drop(s);
    // SAFETY: as above; the data is the block's index into `STATE.tbs`.
    unsafe { qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, CB_NO_REGS, id as *mut c_void) };
}

extern "C" fn on_exit(_id: u64, _udata: *mut c_void) {
    let Ok(s) = STATE.lock() else { return };
    let Some(path) = s.out.as_deref() else { return };
    let Ok(file) = std::fs::File::create(path) else {
        eprintln!("zos-profile-plugin: cannot create {path}");
        return;
    };
    let mut w = std::io::BufWriter::new(file);
    for (id, tb) in s.tbs.iter().enumerate() {
        if tb.counts.iter().all(|&c| c == 0) {
            continue;
        }
        let hex: String = tb.bytes.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(w, "tb {id} {:x} {} {hex}", tb.vaddr, tb.insns);
        for (region, &c) in tb.counts.iter().enumerate() {
            if c != 0 {
                let _ = writeln!(w, "count {region} {id} {c}");
            }
        }
    }
    let _ = w.flush();
}

/// Called by QEMU when it loads the plugin: `out=PATH` (required), `all=on` (optional).
///
/// # Safety
/// QEMU passes `argc` valid C strings in `argv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qemu_plugin_install(
    id: u64,
    _info: *const c_void,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    let mut out = None;
    let mut all = false;
    for i in 0..argc.max(0) as usize {
        // SAFETY: QEMU's contract: `argv` holds `argc` NUL-terminated strings.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) }.to_string_lossy();
        if let Some(p) = arg.strip_prefix("out=") {
            out = Some(p.to_string());
        } else if arg == "all=on" {
            all = true;
        } else {
            eprintln!("zos-profile-plugin: unknown argument `{arg}`");
            return 1;
        }
    }
    if out.is_none() {
        eprintln!("zos-profile-plugin: out=PATH is required");
        return 1;
    }
    if let Ok(mut s) = STATE.lock() {
        s.out = out;
        s.region = usize::from(all);
    }
    // SAFETY: registering plain `extern "C"` functions with the id QEMU gave us.
    unsafe {
        qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
        qemu_plugin_register_atexit_cb(id, on_exit, std::ptr::null_mut());
    }
    0
}
