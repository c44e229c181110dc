//! The published marker of a journal directory: how far the outputs of journaled records are
//! known to have been published (recovery publishes again what follows it).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// File name of the published marker in a journal directory: 16 bytes, `le64(seq)` and
/// `le64(seq ^ MARKER_CHECK)`, rewritten in place (`pwrite`, no fsync) by the core thread after
/// every publication. It may lag behind the publications (a lost write only makes recovery
/// publish more again), never run ahead of them.
pub const PUBLISHED_MARKER: &str = "published";
const MARKER_CHECK: u64 = 0x5055_424c_4953_4845;

pub(super) fn write_marker(f: &File, seq: u64) {
    let mut b = [0_u8; 16];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b[8..].copy_from_slice(&(seq ^ MARKER_CHECK).to_le_bytes());
    // a failed write leaves an older value: recovery re-publishes more, never less
    let _ = f.write_at(&b, 0);
}

/// The published marker of a journal directory: `Some(seq)`, or `None` when absent or torn.
#[must_use]
pub fn read_published_marker(dir: &Path) -> Option<u64> {
    let b = std::fs::read(dir.join(PUBLISHED_MARKER)).ok()?;
    let seq = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
    let chk = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
    (chk == seq ^ MARKER_CHECK).then_some(seq)
}
