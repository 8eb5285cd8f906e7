//! [`DataError`]: everything that can go wrong finding, downloading or reading MNIST.
//!
//! Every message is one line that names the file (full path) or the flag at fault and says
//! what to do about it, so the CLI can print it as is.

use std::io;
use std::path::PathBuf;

/// What to tell the user when a file is damaged or is not what it should be.
const REFETCH: &str = "delete it and let nndl download it again, or read the data from the right folder";

/// An error while finding, downloading or reading the MNIST files.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system refused to open, read, write or rename a file or folder.
    #[error(
        "{}: cannot {op}: {error}; check that the path exists and is accessible, or read the data from another folder",
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
        "{}: not found (nor {name} without .gz); put the MNIST files in {}, or read them from the folder holding them, or let nndl download them",
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

    /// The data is not of the kind asked for, or does not fit a model.
    #[error("{}: {why}", path.display())]
    Format {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        why: String,
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
        "{} holds {n_images} images but {} holds {n_labels} labels; the two files do not belong together — delete both and let nndl download them again, or read the data from the right folder",
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
        "{} holds {}x{} images but {} holds {}x{} images; training and test images must be the same size — replace the odd file, or read the data from the right folder",
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
        "{train_size} training + {validation_size} validation images do not fit the {available} images of {}: {reason}; take fewer (the book's 50000 + 10000 use all 60000)",
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
        "{}: {what}; nndl needs {need} there and will not download over it — remove or rename it, or read the data from another folder",
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
        "{} and {} hold 0 {set} examples; the {set} set needs at least one — delete both and let nndl download them again, or read the data from the right folder",
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

    /// An image folder is laid out in a way nndl cannot read as a training and a test set:
    /// e.g. no `train/` and `test/` and no test fraction, `train/` without `test/`, or both
    /// layouts' options at once.
    #[error("{}: {problem}; {fix}", one_line(dir.display()))]
    FolderLayout {
        /// The data folder (or the class folder at fault).
        dir: PathBuf,
        /// What is wrong, e.g. "no train/ and test/ folders in it".
        problem: String,
        /// What to do about it.
        fix: String,
    },

    /// Fewer than two classes: a class folder, or a label value, for each is needed.
    #[error(
        "{}: {} {what} found{}; a classifier needs at least 2 classes — {fix}",
        one_line(path.display()),
        classes.len(),
        if classes.is_empty() { String::new() } else { format!(" ({})", crate::shorten(&classes.join(", "), 80)) }
    )]
    TooFewClasses {
        /// The folder or file.
        path: PathBuf,
        /// The classes found (zero or one).
        classes: Vec<String>,
        /// What was counted, e.g. "class folders" or "label values in column 'class'".
        what: String,
        /// What to do about it.
        fix: &'static str,
    },

    /// A class folder holds no image files (`.png`, `.jpg`, `.jpeg`).
    #[error(
        "{}: the class folder holds no images (.png, .jpg or .jpeg files); add images to it or remove it",
        one_line(path.display())
    )]
    EmptyClass {
        /// The class folder.
        path: PathBuf,
    },

    /// A class folder in the test set names a class that has no training images.
    #[error(
        "{}: the test class '{}' has no training images (no folder {}); add training images for it, or remove it from the test set",
        one_line(path.display()),
        crate::shorten(class, 60),
        one_line(train.display())
    )]
    UnknownTestClass {
        /// The test class folder.
        path: PathBuf,
        /// Its name.
        class: String,
        /// Where its training images would be.
        train: PathBuf,
    },

    /// A class of the data is not one of the model's classes, so it cannot be scored.
    #[error(
        "{}: the class '{}' is not one of the model's {} classes ({}); remove its examples, or use a model trained on these classes",
        one_line(path.display()),
        crate::shorten(class, 60),
        known.len(),
        crate::shorten(&known.join(", "), 80)
    )]
    NotAModelClass {
        /// The class folder or data file.
        path: PathBuf,
        /// The class's name.
        class: String,
        /// The model's classes.
        known: Vec<String>,
    },

    /// An image file cannot be read or decoded (or is not a regular file).
    #[error("{}: not a readable image ({}); replace it, or remove it from the folder", one_line(path.display()), one_line(why))]
    BadImage {
        /// The image file.
        path: PathBuf,
        /// What is wrong, e.g. the decoder's complaint or "is a FIFO (named pipe), not a regular file".
        why: String,
    },

    /// An image is wider or taller than [`image_io::MAX_SIDE`](crate::image_io::MAX_SIDE):
    /// refused from its header, before it is decoded.
    #[error(
        "{}: the image is {height}x{width} pixels (HxW), larger than the {max}x{max} accepted; scale it down, or remove it from the folder",
        one_line(path.display())
    )]
    ImageTooLarge {
        /// The image file.
        path: PathBuf,
        /// Its height in pixels.
        height: u32,
        /// Its width in pixels.
        width: u32,
        /// The largest side accepted.
        max: u32,
    },

    /// Images of a data set differ in size and no common size was asked for.
    #[error(
        "{}: the image is {}x{} pixels (HxW) but {} is {}x{}; give an image size to resize every image to (e.g. {}x{}), or make them all one size",
        one_line(path.display()), size.0, size.1, one_line(first.display()), first_size.0, first_size.1, first_size.0, first_size.1
    )]
    ImageSizes {
        /// The first image of another size.
        path: PathBuf,
        /// Its (height, width).
        size: (usize, usize),
        /// The first image read, whose size the others must have.
        first: PathBuf,
        /// Its (height, width).
        first_size: (usize, usize),
    },

    /// A data set would take more memory than [`max_data_bytes`](super::idx::max_data_bytes)
    /// allows: refused before the allocation.
    #[error(
        "{}: {what} would take {bytes} bytes or more, beyond the limit of {limit} bytes on one data set; use less data (or a smaller image size), or raise the limit with NNDL_MAX_DATA_BYTES",
        one_line(path.display())
    )]
    TooMuchData {
        /// The folder or file being read.
        path: PathBuf,
        /// What was being read, e.g. "the images up to DIR/train/cat/0999.png".
        what: String,
        /// The bytes it would take.
        bytes: u64,
        /// The limit in force.
        limit: u64,
    },

    /// A test fraction leaves the training or the test part empty.
    #[error(
        "{}: {examples} examples are too few to split with a test fraction of {fraction}: the {empty} part would be empty (each class gives round(fraction × its count) to the test part, at least 1 of 2 or more); use more data or another test fraction",
        one_line(path.display())
    )]
    SmallSplit {
        /// The folder or file.
        path: PathBuf,
        /// Examples in all.
        examples: usize,
        /// The test fraction.
        fraction: f32,
        /// "training" or "test".
        empty: &'static str,
    },

    /// An option has a value the reader cannot use.
    #[error("the {option} {value}: {why}")]
    BadOption {
        /// The option, e.g. "test fraction".
        option: &'static str,
        /// Its value.
        value: String,
        /// What is wrong and what to give instead.
        why: &'static str,
    },

    /// A CSV file cannot be read as a file (not a regular file, too large).
    #[error("{}: {}; give the path of a CSV file (a header row, then one row per example)", one_line(path.display()), one_line(why))]
    CsvFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, e.g. "is a directory, not a regular file".
        why: String,
    },

    /// A CSV file has no header, or no rows after it.
    #[error("{}: {what}; a table needs a header row naming the columns and at least one row of data", one_line(path.display()))]
    CsvEmpty {
        /// The file.
        path: PathBuf,
        /// "the file is empty" or "the header row has no data rows after it".
        what: &'static str,
    },

    /// A CSV file's header cannot be used: duplicate or empty column names, no feature column.
    #[error("{}: line {line}: {problem}; {fix}", one_line(path.display()))]
    CsvHeader {
        /// The file.
        path: PathBuf,
        /// The header's line (1-based).
        line: u64,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: &'static str,
    },

    /// The label column asked for is not in the header.
    #[error(
        "{}: no column '{}' (the header has {} columns: {}); give the label column by a name from the header, or a number from 1 to {}",
        one_line(path.display()),
        crate::shorten(column, 60),
        columns.len(),
        crate::shorten(&columns.join(", "), 120),
        columns.len()
    )]
    CsvNoColumn {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The header's names.
        columns: Vec<String>,
    },

    /// Columns a model was trained on are missing from a CSV of rows to predict.
    #[error(
        "{}: no column '{}'{}; the rows to predict need a column for each feature the model was trained on, named as in its training data ({})",
        one_line(path.display()),
        crate::shorten(&missing[0], 60),
        if missing.len() > 1 { format!(" (nor {} more of the model's features)", missing.len() - 1) } else { String::new() },
        crate::shorten(&needed.join(", "), 120)
    )]
    CsvMissingColumns {
        /// The file.
        path: PathBuf,
        /// The features not found (at least one).
        missing: Vec<String>,
        /// Every feature the model needs.
        needed: Vec<String>,
    },

    /// A CSV row has another number of fields than the header.
    #[error(
        "{}: line {line} has {found} fields but the header has {expected}; give every row one value per column (quote a value that holds a comma)",
        one_line(path.display())
    )]
    CsvRagged {
        /// The file.
        path: PathBuf,
        /// The row's line (1-based, as an editor shows it).
        line: u64,
        /// Fields in the row.
        found: usize,
        /// Columns in the header.
        expected: usize,
    },

    /// A CSV cell cannot be used: a feature that is not a finite number, or an empty label.
    #[error(
        "{}: line {line}, column '{}': '{}' is {why}; fix the cell, or remove the row",
        one_line(path.display()),
        crate::shorten(column, 60),
        crate::shorten(value, 40)
    )]
    CsvCell {
        /// The file.
        path: PathBuf,
        /// The row's line (1-based, as an editor shows it).
        line: u64,
        /// The column's name.
        column: String,
        /// The cell as written (trimmed).
        value: String,
        /// What is wrong, e.g. "not a number", "not a finite number".
        why: &'static str,
    },

    /// The CSV text itself cannot be parsed (e.g. bytes that are not UTF-8).
    #[error("{}: line {line}: {why}; save the table as comma-separated UTF-8 text", one_line(path.display()))]
    CsvSyntax {
        /// The file.
        path: PathBuf,
        /// The line (1-based) where the problem is.
        line: u64,
        /// What is wrong.
        why: String,
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
