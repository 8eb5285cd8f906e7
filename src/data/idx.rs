//! Reading IDX files (LeCun's format for MNIST), gzip-compressed or raw.
//!
//! The header is never trusted for allocation. Before anything is allocated or read past the
//! header, its claim is checked against the file (a raw file must be long enough; a gzip file
//! cannot expand by more than deflate's ratio) and against a limit on what one data file may
//! hold after decompression: 2 GiB by default ([`DEFAULT_MAX_DATA_BYTES`], about 45 times
//! MNIST's training images), or the number of bytes in the environment variable
//! `NNDL_MAX_DATA_BYTES`. Without that limit a sparse 90 GB raw file, or a 3.6 MB gzip that
//! inflates to 60000 images of 250×250, would make nndl try to allocate it all.
//!
//! Buffers are reserved with `try_reserve_exact`, so a failed allocation is a
//! [`DataError::OutOfMemory`] rather than an abort; a gzip file's buffer starts from a guess
//! and grows only as data really arrives, never past the size the header claims.

use std::fs::File;
use std::io::{self, BufReader, ErrorKind, Read, Seek};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use super::dataset::Dataset;
use super::error::{DataError, one_line};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// The first two bytes of every gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Deflate cannot expand data by more than about 1032:1; a header claiming more is lying.
const MAX_GZIP_RATIO: u64 = 1100;
/// The default limit on the bytes one data file may hold after decompression: 2 GiB.
pub const DEFAULT_MAX_DATA_BYTES: u64 = 2 << 30;
/// The environment variable that overrides [`DEFAULT_MAX_DATA_BYTES`].
pub const MAX_DATA_BYTES_VAR: &str = "NNDL_MAX_DATA_BYTES";

/// The limit on the bytes one data file may hold after decompression (header included):
/// `$NNDL_MAX_DATA_BYTES` if it is set and not empty, else [`DEFAULT_MAX_DATA_BYTES`].
/// A value that is not a positive whole number is a [`DataError::BadLimit`], not ignored.
pub fn max_data_bytes() -> Result<u64, DataError> {
    match std::env::var_os(MAX_DATA_BYTES_VAR) {
        None => Ok(DEFAULT_MAX_DATA_BYTES),
        Some(v) if v.is_empty() => Ok(DEFAULT_MAX_DATA_BYTES),
        Some(v) => {
            let text = v.to_string_lossy();
            match text.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(DataError::BadLimit { value: text.into_owned(), default: DEFAULT_MAX_DATA_BYTES }),
            }
        }
    }
}

/// An opened IDX file: its decoded byte stream and what is known about it.
struct Source {
    path: PathBuf,
    reader: Box<dyn Read>,
    gzip: bool,
    file_len: u64,
}

impl Source {
    /// Opens `path`, telling gzip from raw by the magic bytes (not by the name).
    fn open(path: &Path) -> Result<Self, DataError> {
        let mut file = File::open(path).map_err(DataError::io(path, "open"))?;
        let file_len = file.metadata().map_err(DataError::io(path, "read the size of"))?.len();
        let mut head = Vec::with_capacity(2);
        (&mut file).take(2).read_to_end(&mut head).map_err(DataError::io(path, "read"))?;
        let gzip = head == GZIP_MAGIC;
        file.rewind().map_err(DataError::io(path, "read"))?;
        let buffered = BufReader::with_capacity(1 << 16, file);
        let reader: Box<dyn Read> =
            if gzip { Box::new(MultiGzDecoder::new(buffered)) } else { Box::new(buffered) };
        Ok(Source { path: path.to_path_buf(), reader, gzip, file_len })
    }

    /// The [`DataError`] for a failed read while reading `what` (`bytes` of it).
    ///
    /// An OS error (it has an errno) is the file system's, even inside a gzip stream; any
    /// other error from the gzip decoder is damaged data. Running out of memory is said as
    /// such, never as "corrupt gzip".
    fn read_error(&self, e: io::Error, what: &str, bytes: u64) -> DataError {
        if e.kind() == ErrorKind::OutOfMemory {
            DataError::OutOfMemory { path: self.path.clone(), what: what.to_string(), bytes }
        } else if self.gzip && e.raw_os_error().is_none() {
            DataError::Gzip { path: self.path.clone(), detail: one_line(e) }
        } else {
            DataError::io(&self.path, "read")(e)
        }
    }

    /// Reads into `buf` until it is full or the stream ends; returns how many bytes it read.
    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<usize, DataError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e, what, buf.len() as u64)),
            }
        }
        Ok(filled)
    }

    /// Reads the `N`-byte header and checks its magic number.
    fn header<const N: usize>(&mut self, magic: u32, kind: &'static str) -> Result<[u8; N], DataError> {
        let mut h = [0u8; N];
        let got = self.fill(&mut h, "the IDX header")?;
        if got >= 4 {
            let found = be_u32(&h[0..4]);
            if found != magic {
                return Err(DataError::BadMagic { path: self.path.clone(), found, expected: magic, kind });
            }
        }
        if got < N {
            return Err(DataError::Truncated {
                path: self.path.clone(),
                what: format!("a {N}-byte IDX header"),
                expected: N as u64,
                found: got as u64,
            });
        }
        Ok(h)
    }

    /// Reads exactly `expected` bytes of data after a header of `header_len` bytes, and checks
    /// that nothing follows. `what` describes the data for messages; `limit` is the most bytes
    /// (header included) the file may hold after decompression.
    fn body(&mut self, header_len: u64, expected: u64, what: &str, limit: u64) -> Result<Vec<u8>, DataError> {
        let path = self.path.clone();
        let truncated =
            |found: u64| DataError::Truncated { path: path.clone(), what: what.to_string(), expected, found };
        // First what the file itself can hold (a claim it cannot is corrupt, whatever the
        // limit), then the limit, then memory.
        let initial = if self.gzip {
            if expected > self.file_len.saturating_mul(MAX_GZIP_RATIO) {
                return Err(DataError::BadHeader {
                    path: path.clone(),
                    detail: format!(
                        "it claims {what} ({expected} bytes) but a {}-byte gzip file cannot hold that much",
                        self.file_len
                    ),
                });
            }
            // A guess from the compressed size; the buffer grows if it is short.
            expected.min(self.file_len.saturating_mul(8))
        } else {
            let available = self.file_len.saturating_sub(header_len);
            if expected > available {
                return Err(truncated(available));
            }
            expected
        };
        let claimed = expected.saturating_add(header_len);
        if claimed > limit {
            return Err(DataError::TooBig { path: path.clone(), what: what.to_string(), claimed, limit });
        }
        let oom = |bytes: u64| DataError::OutOfMemory { path: path.clone(), what: what.to_string(), bytes };
        let expected_len = usize::try_from(expected).map_err(|_| oom(expected))?;
        let mut data: Vec<u8> = Vec::new();
        data.try_reserve_exact(initial as usize).map_err(|_| oom(initial))?;
        while data.len() < expected_len {
            if data.len() == data.capacity() {
                // Double, up to the claim: a short gzip stream costs at most twice what it held.
                let want = data.capacity().saturating_mul(2).max(1 << 20).min(expected_len);
                data.try_reserve_exact(want - data.len()).map_err(|_| oom(want as u64))?;
            }
            let room = (data.capacity() - data.len()).min(expected_len - data.len());
            let before = data.len();
            // `data` has room for all `room` bytes, so this never reallocates.
            let read = (&mut self.reader).take(room as u64).read_to_end(&mut data);
            read.map_err(|e| self.read_error(e, what, expected))?;
            if data.len() - before < room {
                return Err(truncated(data.len() as u64));
            }
        }
        if self.fill(&mut [0u8; 1], what)? > 0 {
            return Err(DataError::TooLong { path: self.path.clone(), what: what.to_string(), expected });
        }
        Ok(data)
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads an IDX images file (magic `0x00000803`: count, rows, cols, then one byte per pixel),
/// gzip-compressed or raw. The returned [`Dataset`] has no labels.
///
/// Rejects a wrong magic, zero-sized images, a header that does not match the amount of data
/// (too little or too much), a claim beyond [`max_data_bytes`], and corrupt or truncated gzip
/// data, without ever allocating more than the file can actually hold.
pub fn read_idx_images(path: &Path) -> Result<Dataset, DataError> {
    read_idx_images_limited(path, max_data_bytes()?)
}

/// [`read_idx_images`] with the limit on the file's decompressed size given, not read from
/// the environment (for the loaders, which read it once, and for tests).
#[doc(hidden)]
pub fn read_idx_images_limited(path: &Path, limit: u64) -> Result<Dataset, DataError> {
    let mut src = Source::open(path)?;
    let h: [u8; 16] = src.header(IMAGES_MAGIC, "image")?;
    let (count, rows, cols) = (be_u32(&h[4..8]), be_u32(&h[8..12]), be_u32(&h[12..16]));
    let what = format!("{count} images of {rows}x{cols}");
    if rows == 0 || cols == 0 || u64::from(rows) * u64::from(cols) > crate::layers::MAX_DIM as u64 {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            detail: format!("it claims {what} pixels"),
        });
    }
    // Three u32 factors can overflow u64; such a claim is corrupt anyway.
    let expected = u64::from(count)
        .checked_mul(u64::from(rows))
        .and_then(|n| n.checked_mul(u64::from(cols)))
        .ok_or_else(|| DataError::BadHeader {
            path: path.to_path_buf(),
            detail: format!("it claims {what}, an impossible size"),
        })?;
    let images = src.body(16, expected, &what, limit)?;
    let shape = crate::layers::Shape::new(1, rows as usize, cols as usize);
    Ok(Dataset::images(shape, images, Vec::new(), Vec::new()))
}

/// Reads an IDX labels file (magic `0x00000801`: count, then one byte per label), gzip-compressed
/// or raw. A label is any byte: the loaders make the distinct values classes.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    read_idx_labels_limited(path, max_data_bytes()?)
}

/// [`read_idx_labels`] with the limit on the file's decompressed size given.
#[doc(hidden)]
pub fn read_idx_labels_limited(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let mut src = Source::open(path)?;
    let h: [u8; 8] = src.header(LABELS_MAGIC, "label")?;
    let count = be_u32(&h[4..8]);
    src.body(8, u64::from(count), &format!("{count} labels"), limit)
}
