//! The two file steps the Raft log's vote and the node's Raft snapshot share.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// The bytes of `path`; `None` if there is no such file.
pub(crate) fn read_if_exists(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `dir/name` by `parts`, concatenated, atomically and durably: written to
/// `dir/name.tmp`, fsynced, renamed over `dir/name`, the directory fsynced. A crash leaves the
/// old file or the new one, whole.
pub(crate) fn replace_durably(dir: &Path, name: &str, parts: &[&[u8]]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp)?;
    for p in parts {
        f.write_all(p)?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}
