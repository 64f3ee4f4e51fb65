//! Canonical absolute paths: the one place client path strings are parsed.
//!
//! A client path must be absolute, at most [`MAX_PATH`] bytes, free of NUL, with components of
//! at most [`MAX_NAME`] bytes. Empty components and a trailing slash are ignored, `.` is
//! dropped and `..` removes the previous component; a `..` at the root escapes it and is
//! rejected. Symlinks are resolved later, against the stored tree.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::VfsError;
use crate::protocol::limits::{MAX_NAME, MAX_PATH};

/// A normalised absolute path as a list of components (empty for the root).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CanonPath {
    parts: Vec<String>,
}

impl CanonPath {
    /// The root.
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses an absolute client path.
    pub fn parse(path: &str) -> Result<Self, VfsError> {
        if !path.starts_with('/') {
            return Err(VfsError::InvalidPath);
        }
        Self::root().join(path)
    }

    /// Resolves `rel` against this path: absolute `rel` replaces it, relative extends it.
    pub fn join(&self, rel: &str) -> Result<Self, VfsError> {
        if rel.len() > MAX_PATH || rel.contains('\0') || rel.is_empty() {
            return Err(VfsError::InvalidPath);
        }
        let mut parts = if rel.starts_with('/') {
            Vec::new()
        } else {
            self.parts.clone()
        };
        for comp in rel.split('/') {
            match comp {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(VfsError::InvalidPath);
                    }
                }
                name => {
                    check_name(name)?;
                    parts.push(String::from(name));
                }
            }
        }
        let out = Self { parts };
        if out.len_bytes() > MAX_PATH {
            return Err(VfsError::InvalidPath);
        }
        Ok(out)
    }

    /// The components.
    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.parts.is_empty()
    }

    /// The last component, `None` for the root.
    pub fn name(&self) -> Option<&str> {
        self.parts.last().map(String::as_str)
    }

    /// The parent, `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        let mut parts = self.parts.clone();
        parts.pop()?;
        Some(Self { parts })
    }

    /// This path extended by one (already checked) name.
    pub fn child(&self, name: &str) -> Self {
        let mut parts = self.parts.clone();
        parts.push(String::from(name));
        Self { parts }
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &CanonPath) -> bool {
        self.parts.len() >= other.parts.len() && self.parts[..other.parts.len()] == other.parts[..]
    }

    fn len_bytes(&self) -> usize {
        self.parts.iter().map(|p| p.len() + 1).sum::<usize>().max(1)
    }

    /// The path as a string, `/` for the root.
    pub fn to_path_string(&self) -> String {
        if self.parts.is_empty() {
            return String::from("/");
        }
        let mut s = String::with_capacity(self.len_bytes());
        for p in &self.parts {
            s.push('/');
            s.push_str(p);
        }
        s
    }

    /// Builds a path from trusted components (names read back from the store).
    pub fn from_parts(parts: Vec<String>) -> Self {
        Self { parts }
    }
}

/// Checks one entry name: non-empty, not `.` or `..`, no `/` or NUL, at most [`MAX_NAME`] bytes.
pub fn check_name(name: &str) -> Result<(), VfsError> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > MAX_NAME
        || name.contains('/')
        || name.contains('\0')
    {
        return Err(VfsError::InvalidPath);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn canon(p: &str) -> Result<String, VfsError> {
        CanonPath::parse(p).map(|c| c.to_path_string())
    }

    #[test]
    fn normalises() {
        assert_eq!(canon("/").unwrap(), "/");
        assert_eq!(canon("//a///b/").unwrap(), "/a/b");
        assert_eq!(canon("/a/./b/../c").unwrap(), "/a/c");
        assert_eq!(canon("/a/..").unwrap(), "/");
        assert_eq!(canon("/héllo/日本").unwrap(), "/héllo/日本");
    }

    #[test]
    fn rejects() {
        assert_eq!(canon(""), Err(VfsError::InvalidPath));
        assert_eq!(canon("a/b"), Err(VfsError::InvalidPath));
        assert_eq!(canon("/.."), Err(VfsError::InvalidPath));
        assert_eq!(canon("/a/../.."), Err(VfsError::InvalidPath));
        assert_eq!(canon("/a\0b"), Err(VfsError::InvalidPath));
        let long = "x".repeat(MAX_NAME + 1);
        assert_eq!(
            canon(&("/".to_string() + &long)),
            Err(VfsError::InvalidPath)
        );
        let ok = "x".repeat(MAX_NAME);
        assert!(canon(&("/".to_string() + &ok)).is_ok());
        assert_eq!(canon(&"/a".repeat(MAX_PATH)), Err(VfsError::InvalidPath));
    }

    #[test]
    fn joins_relative_targets() {
        let base = CanonPath::parse("/home/u/docs").unwrap();
        assert_eq!(base.join("../x").unwrap().to_path_string(), "/home/u/x");
        assert_eq!(base.join("/tmp").unwrap().to_path_string(), "/tmp");
        assert_eq!(base.join("../../../../.."), Err(VfsError::InvalidPath));
    }
}
