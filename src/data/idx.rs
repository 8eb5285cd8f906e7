//! Reading IDX files (LeCun's format for MNIST), gzip-compressed or raw.
//!
//! The header is never trusted for allocation: a raw file's claimed size is checked against
//! the file's length before anything is allocated, and a gzip file is decompressed through a
//! hard cap of `expected + 1` bytes into a buffer that grows only as data really arrives.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
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

    /// Reads up to `limit` bytes, mapping read errors to the right [`DataError`].
    fn read_up_to(&mut self, limit: u64, capacity: usize) -> Result<Vec<u8>, DataError> {
        let mut buf = Vec::with_capacity(capacity);
        let result = (&mut self.reader).take(limit).read_to_end(&mut buf);
        match result {
            Ok(_) => Ok(buf),
            Err(e) if self.gzip => Err(DataError::Gzip { path: self.path.clone(), detail: one_line(e) }),
            Err(e) => Err(DataError::io(&self.path, "read")(e)),
        }
    }

    /// Reads the `N`-byte header and checks its magic number.
    fn header<const N: usize>(&mut self, magic: u32, kind: &'static str) -> Result<[u8; N], DataError> {
        let got = self.read_up_to(N as u64, N)?;
        if got.len() >= 4 {
            let found = be_u32(&got[0..4]);
            if found != magic {
                return Err(DataError::BadMagic { path: self.path.clone(), found, expected: magic, kind });
            }
        }
        got.as_slice().try_into().map_err(|_| DataError::Truncated {
            path: self.path.clone(),
            what: format!("a {N}-byte IDX header"),
            expected: N as u64,
            found: got.len() as u64,
        })
    }

    /// Reads exactly `expected` bytes of data after a header of `header_len` bytes, and checks
    /// that nothing follows. `what` describes the data for messages.
    fn body(&mut self, header_len: u64, expected: u64, what: &str) -> Result<Vec<u8>, DataError> {
        let too_big = |detail: String| DataError::BadHeader { path: self.path.clone(), detail };
        let capacity = if self.gzip {
            if expected > self.file_len.saturating_mul(MAX_GZIP_RATIO) {
                return Err(too_big(format!(
                    "it claims {what} ({expected} bytes) but a {}-byte gzip file cannot hold that much",
                    self.file_len
                )));
            }
            // A guess from the compressed size; the buffer grows if it is short.
            expected.min(self.file_len.saturating_mul(8))
        } else {
            let available = self.file_len.saturating_sub(header_len);
            if expected > available {
                return Err(DataError::Truncated {
                    path: self.path.clone(),
                    what: what.to_string(),
                    expected,
                    found: available,
                });
            }
            expected
        };
        let capacity = usize::try_from(capacity)
            .map_err(|_| too_big(format!("{what} ({expected} bytes) do not fit in memory")))?;
        let data = self.read_up_to(expected.saturating_add(1), capacity)?;
        let found = data.len() as u64;
        if found < expected {
            return Err(DataError::Truncated {
                path: self.path.clone(),
                what: what.to_string(),
                expected,
                found,
            });
        }
        if found > expected {
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
/// (too little or too much), and corrupt or truncated gzip data, without ever allocating more
/// than the file can actually hold.
pub fn read_idx_images(path: &Path) -> Result<Dataset, DataError> {
    let mut src = Source::open(path)?;
    let h: [u8; 16] = src.header(IMAGES_MAGIC, "image")?;
    let (count, rows, cols) = (be_u32(&h[4..8]), be_u32(&h[8..12]), be_u32(&h[12..16]));
    let what = format!("{count} images of {rows}x{cols}");
    if rows == 0 || cols == 0 {
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
    let images = src.body(16, expected, &what)?;
    Ok(Dataset { images, labels: Vec::new(), rows: rows as usize, cols: cols as usize })
}

/// Reads an IDX labels file (magic `0x00000801`: count, then one byte per label), gzip-compressed
/// or raw. Every label must be a digit 0–9.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let mut src = Source::open(path)?;
    let h: [u8; 8] = src.header(LABELS_MAGIC, "label")?;
    let count = be_u32(&h[4..8]);
    let labels = src.body(8, u64::from(count), &format!("{count} labels"))?;
    if let Some((index, &value)) = labels.iter().enumerate().find(|&(_, &l)| l > 9) {
        return Err(DataError::BadLabel { path: path.to_path_buf(), index, value });
    }
    Ok(labels)
}
