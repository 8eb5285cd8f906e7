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
        "{}: not found (nor {name} without .gz); put the MNIST files in {} or set NNDL_DATA (or --data) to the folder holding them, or let nndl download them",
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

    /// `classes.txt` beside IDX files cannot name the classes.
    #[error("{}: {why}; give one class name per line, line k naming label value k − 1", path.display())]
    Names {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
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
        "could not download {} from any mirror ({attempts}); put the MNIST files in {} or set NNDL_DATA to the folder holding them",
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

    /// Something that is not a regular file stands at an MNIST file's name (or at the data
    /// folder's): a directory, a device, a FIFO, a socket, a dangling symbolic link, a loop of
    /// them, or a path the OS will not let nndl look at. It is never downloaded over: it may be
    /// the user's, and a download would only hide the real problem behind network errors.
    #[error(
        "{}: {what}; nndl needs {need} there and will not download over it — remove or rename it, or point --data (or NNDL_DATA) at another folder",
        path.display()
    )]
    Unusable {
        /// The path at fault.
        path: PathBuf,
        /// What it is, e.g. "is a directory", "is not a regular file (a character device)",
        /// or the OS error that came from looking at it.
        what: String,
        /// What should be there, e.g. "a regular file (or nothing, to download it)".
        need: &'static str,
    },

    /// The header claims more bytes than one data file may expand to (see
    /// [`max_data_bytes`](super::idx::max_data_bytes)): refused before anything is allocated.
    #[error(
        "{}: the header claims {what}, {claimed} bytes in all, more than the limit of {limit} bytes on one data file (NNDL_MAX_DATA_BYTES); if the file is genuine, raise the limit (e.g. NNDL_MAX_DATA_BYTES={claimed}), else {REFETCH}",
        path.display()
    )]
    TooBig {
        /// The file.
        path: PathBuf,
        /// What the header claims, e.g. "60000 images of 250x250".
        what: String,
        /// The bytes the file would hold after decompression (header included).
        claimed: u64,
        /// The limit in force.
        limit: u64,
    },

    /// `NNDL_MAX_DATA_BYTES` is set to something that is not a positive number of bytes.
    #[error(
        "NNDL_MAX_DATA_BYTES={value:?} is not a positive whole number of bytes; set it to one (e.g. 4294967296 for 4 GiB), or unset it for the default limit of {default} bytes"
    )]
    BadLimit {
        /// The variable's value.
        value: String,
        /// The default limit.
        default: u64,
    },

    /// Memory ran out while allocating the buffer for a file's data.
    #[error(
        "{}: out of memory: could not allocate {bytes} bytes for {what}; free some memory (or use a smaller data set) and try again",
        path.display()
    )]
    OutOfMemory {
        /// The file being read.
        path: PathBuf,
        /// What the buffer was for, e.g. "60000 images of 28x28".
        what: String,
        /// The size of the allocation that failed.
        bytes: u64,
    },

    /// A valid but empty images/labels pair: no training or no test examples at all.
    #[error(
        "{} and {} hold 0 {set} examples; the {set} set needs at least one — delete both and let nndl download them again, or point --data at the right folder",
        images.display(),
        labels.display()
    )]
    Empty {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// "training" or "test".
        set: &'static str,
    },

    /// The user pressed Ctrl-C (or the process got SIGTERM) during a download; the partial
    /// file has been removed.
    #[error(
        "{}: download interrupted (Ctrl-C); nothing was saved under that name — run the command again to download it",
        path.display()
    )]
    Interrupted {
        /// Where the file would have gone (`DIR/NAME.gz`).
        path: PathBuf,
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
