//! Paths as the user types them, turned into the absolute paths the VFS takes: relative to the
//! working directory, `.` and `..` folded lexically (`..` at the root stays at the root), `//`
//! collapsed. Symlinks are the VFS's business.

use alloc::string::String;
use alloc::vec::Vec;

/// `arg` against the working directory `cwd` (absolute), normalised.
pub fn absolute(cwd: &str, arg: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined_cwd = if arg.starts_with('/') { "" } else { cwd };
    for part in joined_cwd.split('/').chain(arg.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = String::new();
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The last component of an absolute path (empty for the root).
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// `dir` joined with `name`.
pub fn join(dir: &str, name: &str) -> String {
    let mut out = String::from(dir);
    if !out.ends_with('/') {
        out.push('/');
    }
    out.push_str(name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_against_cwd() {
        assert_eq!(absolute("/tmp", "a"), "/tmp/a");
        assert_eq!(absolute("/tmp", "/a/./b//c/"), "/a/b/c");
        assert_eq!(absolute("/tmp/x", "../y"), "/tmp/y");
        assert_eq!(absolute("/", "../../.."), "/");
        assert_eq!(absolute("/tmp", "."), "/tmp");
        assert_eq!(file_name("/tmp/a"), "a");
        assert_eq!(file_name("/"), "");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/tmp", "a"), "/tmp/a");
    }
}
