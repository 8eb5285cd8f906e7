//! MNIST: IDX files, the book's split, and download on demand.
//!
//! ```no_run
//! # fn main() -> Result<(), nndl::data::DataError> {
//! let dir = nndl::data::resolve_dir(None); // $NNDL_DATA, else the user's cache folder
//! nndl::data::ensure_present(&dir, nndl::data::MIRRORS, true)?;
//! let mnist = nndl::data::load_mnist(&dir, 50_000, 10_000)?;
//! assert_eq!(mnist.test.len(), 10_000);
//! # Ok(()) }
//! ```
//!
//! - [`augment`]: the book's expansion by shifts, and random rotations/shifts per batch.
//! - [`dataset`]: [`Dataset`] (images as bytes, batches as `f32`) and [`Mnist`].
//! - [`idx`]: reading IDX files, gzip or raw, without trusting their headers.
//! - [`download`]: fetching missing files from the mirrors, verified by SHA-256.
//! - [`error`]: [`DataError`], one line per message, naming the file and the fix.

pub mod augment;
pub mod dataset;
pub mod download;
pub mod error;
pub mod idx;

use std::path::{Path, PathBuf};

pub use augment::{Augment, expand};
pub use dataset::{CLASSES, Dataset, Mnist};
pub use download::{
    FILES, MIRRORS, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, ensure_present,
    ensure_present_with, find_file,
};
pub use error::DataError;
pub use idx::{read_idx_images, read_idx_labels};

/// The book's training-set size (the first 50,000 of the 60,000 training images).
pub const DEFAULT_TRAIN_SIZE: usize = 50_000;
/// The book's validation-set size (the last 10,000 of the 60,000 training images).
pub const DEFAULT_VALIDATION_SIZE: usize = 10_000;

/// Where the data lives: `flag` (the `--data` option) if given, else `$NNDL_DATA` if set and
/// not empty, else `dirs::cache_dir()/nndl/mnist` (`./nndl-mnist` if there is no cache folder).
pub fn resolve_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("NNDL_DATA").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir().map_or_else(|| PathBuf::from("nndl-mnist"), |d| d.join("nndl").join("mnist"))
}

/// Loads MNIST from `dir` with the book's split: the first `train_size` of the training file's
/// images for training, the LAST `validation_size` for validation, the t10k files for test.
///
/// Each of the four files may be `NAME.gz` or `NAME`, gzip or raw (told apart by content; the
/// `.gz` name wins if both exist). Requirements, each a [`DataError`] naming the file or flag:
/// `train_size >= 1` and `train_size + validation_size <=` the training file's count (60,000);
/// each images file has as many images as its labels file has labels; training and test images
/// have the same size (any size: 28×28 is not required, so small synthetic sets work too).
pub fn load_mnist(dir: &Path, train_size: usize, validation_size: usize) -> Result<Mnist, DataError> {
    let locate = |name: &str| {
        find_file(dir, name).ok_or_else(|| DataError::NotFound {
            path: dir.join(format!("{name}.gz")),
            dir: dir.to_path_buf(),
            name: name.to_string(),
        })
    };
    let (train_images, train_labels) = (locate(TRAIN_IMAGES)?, locate(TRAIN_LABELS)?);
    let (test_images, test_labels) = (locate(TEST_IMAGES)?, locate(TEST_LABELS)?);

    // Labels first: they are small, and a bad split is reported before the big read.
    let labels = read_idx_labels(&train_labels)?;
    check_split(&train_labels, labels.len(), train_size, validation_size)?;
    let full = with_labels(read_idx_images(&train_images)?, &train_images, labels, &train_labels)?;
    let test = with_labels(
        read_idx_images(&test_images)?,
        &test_images,
        read_idx_labels(&test_labels)?,
        &test_labels,
    )?;
    if (full.rows, full.cols) != (test.rows, test.cols) {
        return Err(DataError::ShapeMismatch {
            training: train_images,
            train_dims: (full.rows, full.cols),
            test: test_images,
            test_dims: (test.rows, test.cols),
        });
    }
    let (training, validation) = full.split(train_size, validation_size);
    Ok(Mnist { training, validation, test })
}

/// Convenience for the CLI: [`resolve_dir`]`(flag)`, [`ensure_present`] from [`MIRRORS`], then
/// [`load_mnist`].
pub fn load_or_download(
    flag: Option<&Path>,
    train_size: usize,
    validation_size: usize,
    progress: bool,
) -> Result<Mnist, DataError> {
    let dir = resolve_dir(flag);
    ensure_present(&dir, MIRRORS, progress)?;
    load_mnist(&dir, train_size, validation_size)
}

fn check_split(
    path: &Path,
    available: usize,
    train_size: usize,
    validation_size: usize,
) -> Result<(), DataError> {
    let reason = if train_size == 0 {
        "at least one training image is needed".to_string()
    } else if train_size.saturating_add(validation_size) > available {
        format!("{} > {available}", train_size.saturating_add(validation_size))
    } else {
        return Ok(());
    };
    Err(DataError::Split { train_size, validation_size, available, path: path.to_path_buf(), reason })
}

fn with_labels(
    mut images: Dataset,
    images_path: &Path,
    labels: Vec<u8>,
    labels_path: &Path,
) -> Result<Dataset, DataError> {
    if images.len() != labels.len() {
        return Err(DataError::CountMismatch {
            images: images_path.to_path_buf(),
            labels: labels_path.to_path_buf(),
            n_images: images.len(),
            n_labels: labels.len(),
        });
    }
    images.labels = labels;
    Ok(images)
}
