//! [`RingFile`]: a ring's memory (a shared file mapping or an anonymous mapping) and its header.
//!
//! A `RingFile` is the not-yet-split ring. [`RingFile::split`] turns it into the one
//! [`Producer`] and the one [`Consumer`]; [`RingFile::into_producer`] /
//! [`RingFile::into_consumer`] give just one side, for when the other side lives in another
//! process (which opens the same file on its own).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::{MmapMut, MmapOptions};

use crate::layout::{
    file_len, is_valid_capacity, DATA_OFFSET, HEADER_SIZE, MAGIC, OFF_CAPACITY, OFF_MAGIC,
    OFF_MASK, OFF_READ_POS, OFF_RECORD_SIZE, OFF_VERSION, OFF_WRITE_POS, RECORD_SIZE, VERSION,
};
use crate::{Consumer, Producer, Record, RingError};

/// The mapped memory of one ring, shared (through an `Arc`) by its handles.
///
/// Invariants, established by [`RingFile::create`], [`RingFile::open`] and
/// [`RingFile::anonymous`] and relied on by every `unsafe` block of the crate:
/// - `base` is the start of a live, writable mapping of at least `HEADER_SIZE + 64 * capacity`
///   bytes, owned by `_mmap`, so it lives exactly as long as this `Mapping` (and every handle
///   holds an `Arc<Mapping>`);
/// - `base` is page-aligned (mmap), so `base + 128` / `base + 256` are 8-aligned (as
///   `AtomicU64` requires) and `base + 384` is 64-aligned (as [`Record`] requires);
/// - `capacity` is a power of two ≥ 2 and equals the header's `capacity`.
pub(crate) struct Mapping {
    base: NonNull<u8>,
    capacity: u64,
    path: Option<PathBuf>,
    _mmap: MmapMut,
}

// SAFETY: `Mapping` only carries a pointer into the mapping it owns (`_mmap`, itself Send+Sync).
// Shared state is touched only through `AtomicU64` (header positions) or through the per-role
// record slots that the SPSC protocol hands to exactly one side at a time.
unsafe impl Send for Mapping {}
// SAFETY: see the `Send` impl: `&Mapping` only exposes atomics and raw pointers.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(mut mmap: MmapMut, capacity: u64, path: Option<PathBuf>) -> Mapping {
        let base = NonNull::new(mmap.as_mut_ptr()).expect("mmap never returns null");
        Mapping {
            base,
            capacity,
            path,
            _mmap: mmap,
        }
    }

    /// The header word at `offset` (one of `OFF_MAGIC`, `OFF_WRITE_POS`, `OFF_READ_POS`).
    pub(crate) fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset % 8 == 0 && offset + 8 <= HEADER_SIZE);
        // SAFETY: `offset + 8 <= HEADER_SIZE <= mapping length`, and `base` is page-aligned so
        // `base + offset` is 8-aligned, as `AtomicU64` requires on x86-64 and aarch64. The
        // memory lives as long as `self` (the returned reference borrows `self`). Every access to
        // these words, from this process or another, is atomic (the Cython side uses C11
        // atomics on the same offsets), so creating an `&AtomicU64` here is sound.
        unsafe { &*self.base.as_ptr().add(offset).cast::<AtomicU64>() }
    }

    pub(crate) fn write_pos(&self) -> &AtomicU64 {
        self.atomic_u64(OFF_WRITE_POS)
    }

    pub(crate) fn read_pos(&self) -> &AtomicU64 {
        self.atomic_u64(OFF_READ_POS)
    }

    /// Pointer to record slot 0.
    pub(crate) fn data(&self) -> NonNull<Record> {
        // SAFETY: DATA_OFFSET is within the mapping (its length is DATA_OFFSET + 64 * capacity
        // with capacity ≥ 2), so the offset pointer stays inside the same allocation and is
        // non-null.
        unsafe { NonNull::new_unchecked(self.base.as_ptr().add(DATA_OFFSET).cast::<Record>()) }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads a plain (creator-written, never modified afterwards) header field.
    ///
    /// # Safety
    /// `offset + size_of::<T>() <= HEADER_SIZE` and `offset` aligned for `T`.
    unsafe fn read_field<T: Copy>(&self, offset: usize) -> T {
        // SAFETY: guaranteed by the caller; the header is within the mapping.
        unsafe { self.base.as_ptr().add(offset).cast::<T>().read() }
    }

    /// Writes a plain header field (only while the ring is not yet shared).
    ///
    /// # Safety
    /// As for [`Mapping::read_field`], and no other handle may access the field concurrently.
    unsafe fn write_field<T: Copy>(&self, offset: usize, value: T) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.base.as_ptr().add(offset).cast::<T>().write(value) }
    }

    /// Writes a fresh header (positions 0). `magic` is stored last with Release so a concurrent
    /// opener that sees the magic (Acquire) also sees the rest of the header.
    fn init_header(&self) {
        // SAFETY: all offsets are within the 384-byte header and naturally aligned; the mapping
        // was just created/truncated by us and has not been handed out to any handle yet.
        unsafe {
            self.write_field::<u32>(OFF_VERSION, VERSION);
            self.write_field::<u32>(OFF_RECORD_SIZE, RECORD_SIZE as u32);
            self.write_field::<u64>(OFF_CAPACITY, self.capacity);
            self.write_field::<u64>(OFF_MASK, self.capacity - 1);
        }
        self.write_pos().store(0, Ordering::Relaxed);
        self.read_pos().store(0, Ordering::Relaxed);
        self.atomic_u64(OFF_MAGIC).store(MAGIC, Ordering::Release);
    }
}

/// Validated byte length of a ring of `capacity` records, or [`RingError::InvalidCapacity`].
fn checked_len(capacity: u64) -> Result<usize, RingError> {
    if !is_valid_capacity(capacity) {
        return Err(RingError::InvalidCapacity { capacity });
    }
    file_len(capacity)
        .and_then(|l| usize::try_from(l).ok())
        .filter(|&l| l <= isize::MAX as usize)
        .ok_or(RingError::InvalidCapacity { capacity })
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RingError + 'a {
    move |source| RingError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A ring's memory and header, before it is split into its [`Producer`] and [`Consumer`].
///
/// ```
/// let ring = rfq_ring::RingFile::anonymous(1024)?;
/// assert_eq!(ring.capacity(), 1024);
/// let (mut tx, mut rx) = ring.split();
/// tx.try_push(&rfq_ring::Record::new(rfq_ring::kind::HEARTBEAT))?;
/// assert_eq!(rx.try_pop().map(|r| r.kind), Some(rfq_ring::kind::HEARTBEAT));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RingFile {
    map: Mapping,
}

impl std::fmt::Debug for RingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingFile")
            .field("path", &self.map.path)
            .field("capacity", &self.map.capacity)
            .field("write_pos", &self.write_pos())
            .field("read_pos", &self.read_pos())
            .finish()
    }
}

impl RingFile {
    /// Creates (or truncates) the ring file at `path` for `capacity` records and maps it.
    ///
    /// The file is `384 + 64 * capacity` bytes, zeroed, with a fresh header (positions 0).
    /// Do not re-create a ring that another process still has mapped: truncating it under a
    /// live mapping makes that process fault.
    ///
    /// # Errors
    /// [`RingError::InvalidCapacity`] unless `capacity` is a power of two ≥ 2;
    /// [`RingError::Io`] if the file cannot be created, sized or mapped.
    pub fn create(path: impl AsRef<Path>, capacity: usize) -> Result<RingFile, RingError> {
        let path = path.as_ref();
        let capacity = capacity as u64;
        let len = checked_len(capacity)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io_err("create", path))?;
        file.set_len(len as u64).map_err(io_err("set_len", path))?;
        let mmap = map_file(&file, len, path)?;
        let map = Mapping::new(mmap, capacity, Some(path.to_path_buf()));
        map.init_header();
        Ok(RingFile { map })
    }

    /// Opens and validates an existing ring file (normally created by another process).
    ///
    /// Checks, in order: length ≥ header, `magic`, `version`, `record_size`, `capacity`
    /// (power of two ≥ 2), `mask`, exact file length, and `0 <= write_pos - read_pos <= capacity`.
    ///
    /// # Errors
    /// One [`RingError`] variant per failed check; [`RingError::Io`] if the file cannot be
    /// opened or mapped.
    pub fn open(path: impl AsRef<Path>) -> Result<RingFile, RingError> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err("open", path))?;
        let len = file.metadata().map_err(io_err("stat", path))?.len();
        if len < HEADER_SIZE as u64 {
            return Err(RingError::Truncated { len });
        }
        let map_len =
            usize::try_from(len).map_err(|_| RingError::BadFileLength { len, expected: 0 })?;
        let mmap = map_file(&file, map_len, path)?;
        // Capacity is only known after validation; start with the minimum so `Mapping`'s
        // invariant (`len >= header + 2 records`) is not claimed before it is checked below.
        let mut map = Mapping::new(mmap, 0, Some(path.to_path_buf()));
        let magic = map.atomic_u64(OFF_MAGIC).load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(RingError::BadMagic { found: magic });
        }
        // SAFETY: offsets within the header (len >= HEADER_SIZE checked above), naturally
        // aligned; these fields are written once by the creator before its Release store of
        // `magic`, which our Acquire load above synchronised with.
        let (version, record_size, capacity, mask) = unsafe {
            (
                map.read_field::<u32>(OFF_VERSION),
                map.read_field::<u32>(OFF_RECORD_SIZE),
                map.read_field::<u64>(OFF_CAPACITY),
                map.read_field::<u64>(OFF_MASK),
            )
        };
        if version != VERSION {
            return Err(RingError::BadVersion { found: version });
        }
        if record_size as usize != RECORD_SIZE {
            return Err(RingError::BadRecordSize { found: record_size });
        }
        let expected_len = checked_len(capacity)?;
        if mask != capacity - 1 {
            return Err(RingError::BadMask {
                found: mask,
                expected: capacity - 1,
            });
        }
        if len != expected_len as u64 {
            return Err(RingError::BadFileLength {
                len,
                expected: expected_len as u64,
            });
        }
        map.capacity = capacity;
        let read_pos = map.read_pos().load(Ordering::Acquire);
        let write_pos = map.write_pos().load(Ordering::Acquire);
        if write_pos.wrapping_sub(read_pos) > capacity {
            return Err(RingError::BadPositions {
                write_pos,
                read_pos,
                capacity,
            });
        }
        Ok(RingFile { map })
    }

    /// An in-process ring on an anonymous mapping (benches, tests, thread-to-thread channels).
    ///
    /// # Errors
    /// [`RingError::InvalidCapacity`] unless `capacity` is a power of two ≥ 2;
    /// [`RingError::Io`] if the mapping fails.
    pub fn anonymous(capacity: usize) -> Result<RingFile, RingError> {
        let capacity = capacity as u64;
        let len = checked_len(capacity)?;
        let mmap = MmapOptions::new()
            .len(len)
            .map_anon()
            .map_err(|source| RingError::Io {
                op: "mmap anonymous",
                path: PathBuf::new(),
                source,
            })?;
        let map = Mapping::new(mmap, capacity, None);
        map.init_header();
        Ok(RingFile { map })
    }

    /// Capacity in records.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.map.capacity as usize
    }

    /// The backing file, or `None` for an anonymous ring.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.map.path()
    }

    /// Current `write_pos` from the header (Acquire load).
    #[must_use]
    pub fn write_pos(&self) -> u64 {
        self.map.write_pos().load(Ordering::Acquire)
    }

    /// Current `read_pos` from the header (Acquire load).
    #[must_use]
    pub fn read_pos(&self) -> u64 {
        self.map.read_pos().load(Ordering::Acquire)
    }

    /// Splits the ring into its one [`Producer`] and one [`Consumer`].
    #[must_use]
    pub fn split(self) -> (Producer, Consumer) {
        let map = Arc::new(self.map);
        (Producer::new(Arc::clone(&map)), Consumer::new(map))
    }

    /// Only the producing side (the consumer is in another process, or another `open`).
    ///
    /// The caller is responsible for there being at most one live producer per ring file
    /// across all processes: the ring cannot enforce that across a process boundary.
    #[must_use]
    pub fn into_producer(self) -> Producer {
        Producer::new(Arc::new(self.map))
    }

    /// Only the consuming side; at most one live consumer per ring file (see
    /// [`RingFile::into_producer`]).
    #[must_use]
    pub fn into_consumer(self) -> Consumer {
        Consumer::new(Arc::new(self.map))
    }
}

fn map_file(file: &File, len: usize, path: &Path) -> Result<MmapMut, RingError> {
    // SAFETY: memmap2 requires that the file not be truncated or modified outside the
    // ring protocol while mapped. This is the documented contract of a ring file: the header is
    // written only by its creator before sharing, `write_pos`/records only by the one producer
    // and `read_pos` only by the one consumer, all with atomics on the positions; every bit
    // pattern of the record area is a valid `Record` and every slot index is masked, so even a
    // peer that breaks the protocol cannot make this process access memory out of bounds.
    unsafe { MmapOptions::new().len(len).map_mut(file) }.map_err(io_err("mmap", path))
}
