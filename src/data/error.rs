//! [`DataError`]: everything that can go wrong finding, downloading or reading MNIST.
//!
//! Every message is one line that names the file (full path) or the flag at fault and says
//! what to do about it, so the CLI can print it as is.

use std::io;
use std::path::PathBuf;

/// What to tell the user when a file is damaged or is not what it should be.
const REFETCH: &str = "delete it and let nndl download it again, or point --data at the right folder";

/// An error while finding, downloading or reading the MNIST files.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system refused to open, read, write or rename a file or folder.
    #[error(
        "{}: cannot {op}: {error}; check that the path exists and is accessible, or point --data (or NNDL_DATA) at another folder",
        path.display()
    )]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done, e.g. "open", "read", "create the folder".
        op: &'static str,
        /// The underlying error (kept out of the error chain: it is already in the message).
        error: io::Error,
    },

    /// One of the four files is in neither its gzip nor its raw form.
    #[error(
        "{}: not found (nor {name} without .gz); put the four MNIST files in {} or set NNDL_DATA (or --data) to the folder holding them, or let nndl download them",
        path.display(),
        dir.display()
    )]
    NotFound {
        /// The path tried first (`DIR/NAME.gz`).
        path: PathBuf,
        /// The folder searched.
        dir: PathBuf,
        /// The file's name without `.gz`.
        name: String,
    },

    /// The IDX magic number is wrong: the file is not the kind of IDX file expected.
    #[error(
        "{}: bad IDX magic 0x{found:08x} (expected 0x{expected:08x} for {kind}s); the file is not an MNIST {kind} file — {REFETCH}",
        path.display()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number found (the first four bytes, big-endian).
        found: u32,
        /// The magic number expected.
        expected: u32,
        /// "image" or "label".
        kind: &'static str,
    },

    /// The header holds impossible values (zero-sized images, or more data than the file can hold).
    #[error("{}: corrupt IDX header: {detail}; {REFETCH}", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// The file (after decompression) is shorter than its header says.
    #[error(
        "{}: truncated: the header promises {what} ({expected} bytes) but only {found} bytes are there; {REFETCH}",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What the header promises, e.g. "60000 images of 28x28".
        what: String,
        /// Bytes expected after the header (or the header's own size).
        expected: u64,
        /// Bytes actually there.
        found: u64,
    },

    /// The file (after decompression) is longer than its header says.
    #[error(
        "{}: the header describes {what} ({expected} bytes) but the file holds more data than that; the header and the data disagree — {REFETCH}",
        path.display()
    )]
    TooLong {
        /// The file.
        path: PathBuf,
        /// What the header describes.
        what: String,
        /// Bytes expected after the header.
        expected: u64,
    },

    /// The gzip stream is damaged or cut short.
    #[error("{}: corrupt or truncated gzip data ({detail}); {REFETCH}", path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decoder's complaint.
        detail: String,
    },

    /// A label is not a digit 0–9.
    #[error(
        "{}: label {value} at index {index} is not a digit 0-9; the file is not an MNIST label file — {REFETCH}",
        path.display()
    )]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// Index of the first bad label.
        index: usize,
        /// Its value.
        value: u8,
    },

    /// An images file and its labels file hold different numbers of examples.
    #[error(
        "{} holds {n_images} images but {} holds {n_labels} labels; the two files do not belong together — delete both and let nndl download them again, or point --data at the right folder",
        images.display(),
        labels.display()
    )]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Images in it.
        n_images: usize,
        /// Labels in it.
        n_labels: usize,
    },

    /// Training and test images differ in size.
    #[error(
        "{} holds {}x{} images but {} holds {}x{} images; training and test images must be the same size — replace the odd file, or point --data at the right folder",
        training.display(), train_dims.0, train_dims.1, test.display(), test_dims.0, test_dims.1
    )]
    ShapeMismatch {
        /// The training images file.
        training: PathBuf,
        /// Its (rows, cols).
        train_dims: (usize, usize),
        /// The test images file.
        test: PathBuf,
        /// Its (rows, cols).
        test_dims: (usize, usize),
    },

    /// `--train-size` / `--validation-size` do not fit the training file.
    #[error(
        "--train-size {train_size} + --validation-size {validation_size} do not fit the {available} images of {}: {reason}; lower --train-size or --validation-size (the defaults 50000 + 10000 use all 60000)",
        path.display()
    )]
    Split {
        /// The requested training size.
        train_size: usize,
        /// The requested validation size.
        validation_size: usize,
        /// Images in the training file.
        available: usize,
        /// The training labels file.
        path: PathBuf,
        /// Why they do not fit.
        reason: String,
    },

    /// A file was missing and every mirror failed.
    #[error(
        "could not download {} from any mirror ({attempts}); put the four files in {} or set NNDL_DATA",
        path.display(),
        dir.display()
    )]
    Download {
        /// Where the file would have gone (`DIR/NAME.gz`).
        path: PathBuf,
        /// The data folder.
        dir: PathBuf,
        /// Each mirror tried and its error, `URL: error; URL: error`.
        attempts: String,
    },
}

impl DataError {
    /// A closure turning an `io::Error` into [`DataError::Io`] for `path`.
    pub(crate) fn io(path: &std::path::Path, op: &'static str) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |error| DataError::Io { path, op, error }
    }
}

/// `s` with line breaks replaced by spaces, so that every message stays on one line.
pub(crate) fn one_line(s: impl std::fmt::Display) -> String {
    s.to_string().replace(['\r', '\n'], " ")
}
