//! MNIST: IDX files, the book's split, and download on demand.
//!
//! ```no_run
//! # fn main() -> Result<(), nndl::data::DataError> {
//! // --data, else $NNDL_DATA, else the user's cache folder; downloaded there if missing.
//! let dir = nndl::data::locate_or_download(None, true)?;
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
//!
//! One data file may hold at most 2 GiB after decompression, or `$NNDL_MAX_DATA_BYTES` bytes
//! if that is set (see [`max_data_bytes`]): a header claiming more is refused before anything
//! is allocated.

pub mod augment;
pub mod dataset;
pub mod download;
pub mod error;
pub mod examples;
pub mod folder;
pub mod idx;
pub mod source;
pub mod table;

use std::path::{Path, PathBuf};

pub use augment::{Augment, Distortion, expand};
pub use dataset::{Dataset, Features, Mnist, numbered_classes};
pub use download::{
    FILES, MIRRORS, MinRate, TEST_FILES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
    ensure_present, ensure_present_tuned, ensure_present_with, ensure_test_present, find_file,
};
pub use error::DataError;
pub use examples::Examples;
pub use folder::{FolderOptions, Split};
pub use idx::{
    DEFAULT_MAX_DATA_BYTES, max_data_bytes, read_idx_images, read_idx_images_limited, read_idx_labels,
    read_idx_labels_limited,
};
pub use table::{CsvOptions, Standardize, TableInfo, load_csv, read_rows};

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

/// Finds MNIST the one way nndl does, for the CLI and the tests alike: [`resolve_dir`]`(flag)`,
/// then [`ensure_present`] from [`MIRRORS`] (downloading whatever is missing, verified).
/// Returns the folder, which then holds all four files.
pub fn locate_or_download(flag: Option<&Path>, progress: bool) -> Result<PathBuf, DataError> {
    let dir = resolve_dir(flag);
    ensure_present(&dir, MIRRORS, progress)?;
    Ok(dir)
}

/// [`locate_or_download`] for the two test files only ([`ensure_test_present`]): what
/// evaluating a trained model needs.
pub fn locate_or_download_test(flag: Option<&Path>, progress: bool) -> Result<PathBuf, DataError> {
    let dir = resolve_dir(flag);
    ensure_test_present(&dir, MIRRORS, progress)?;
    Ok(dir)
}

/// Loads MNIST from `dir` with the book's split: the first `train_size` of the training file's
/// images for training, the LAST `validation_size` for validation, the t10k files for test.
///
/// Each of the four files may be `NAME.gz` or `NAME`, gzip or raw (told apart by content; the
/// `.gz` name wins if both exist). Requirements, each a [`DataError`] naming the file or flag:
/// every file is a regular file (see [`find_file`]) within [`max_data_bytes`];
/// the training and test files each hold at least one example; `train_size >= 1` and
/// `train_size + validation_size <=` the training file's count (60,000); each images file has
/// as many images as its labels file has labels; training and test images have the same size
/// (any size: 28×28 is not required, so small synthetic sets work too). The validation set may
/// be empty.
pub fn load_mnist(dir: &Path, train_size: usize, validation_size: usize) -> Result<Mnist, DataError> {
    let check = |labels: &Path, n: usize| check_split(labels, n, train_size, validation_size);
    let (full, test, train_images) = read_idx(dir, check)?;
    let bytes = (validation_size * full.input_size()) as u64;
    let (training, validation) =
        full.split(train_size, validation_size).map_err(|_| DataError::OutOfMemory {
            path: train_images.clone(),
            what: format!("a copy of the {validation_size} validation images"),
            bytes,
        })?;
    Ok(Mnist { training, validation, test })
}

/// All the training examples (in the file's order) and the test examples of the IDX files in
/// `dir`, with the classes found in both label files (see [`load_mnist`]).
pub fn load_idx(dir: &Path) -> Result<(Dataset, Dataset), DataError> {
    let (train, test, _) = read_idx(dir, |_, _| Ok(()))?;
    Ok((train, test))
}

/// Reads the four IDX files; `check` sees the training labels file and its count before the
/// big read. Returns the training set, the test set and the training images file.
fn read_idx(
    dir: &Path,
    check: impl FnOnce(&Path, usize) -> Result<(), DataError>,
) -> Result<(Dataset, Dataset, PathBuf), DataError> {
    let limit = max_data_bytes()?;
    let (train_images, train_labels) = (locate(dir, TRAIN_IMAGES)?, locate(dir, TRAIN_LABELS)?);
    let (test_images, test_labels) = (locate(dir, TEST_IMAGES)?, locate(dir, TEST_LABELS)?);

    // Labels first: they are small, and a bad split is reported before the big read.
    let labels = read_idx_labels_limited(&train_labels, limit)?;
    if labels.is_empty() {
        return Err(DataError::Empty { images: train_images, labels: train_labels, set: "training" });
    }
    check(&train_labels, labels.len())?;
    let test_values = read_idx_labels_limited(&test_labels, limit)?;
    let (values, classes) = label_classes(dir, [&labels[..], &test_values[..]])?;
    let full = with_labels(
        read_idx_images_limited(&train_images, limit)?,
        &train_images,
        &labels,
        &train_labels,
        (&values, &classes),
    )?;
    let test = read_test(&test_images, &test_labels, test_values, limit, (&values, &classes))?;
    if full.shape != test.shape {
        return Err(DataError::ShapeMismatch {
            training: train_images,
            train_dims: (full.shape.height, full.shape.width),
            test: test_images,
            test_dims: (test.shape.height, test.shape.width),
        });
    }
    Ok((full, test, train_images))
}

/// Loads only the test set (the t10k files) from `dir`: what `eval` and `plot errors` need.
/// Requirements as for [`load_mnist`]'s test files: both regular files within
/// [`max_data_bytes`], as many images as labels, at least one of each.
///
/// The classes are the label values found in the test labels (see [`load_mnist`]); to score a
/// model, map them onto the model's classes by name ([`Dataset::relabel`]).
pub fn load_test(dir: &Path) -> Result<Dataset, DataError> {
    let limit = max_data_bytes()?;
    let (images, labels) = (locate(dir, TEST_IMAGES)?, locate(dir, TEST_LABELS)?);
    let values = read_idx_labels_limited(&labels, limit)?;
    let (found, classes) = label_classes(dir, [&values[..], &[]])?;
    read_test(&images, &labels, values, limit, (&found, &classes))
}

/// The classes of IDX label values: every value that occurs in `sets`, in increasing order
/// (MNIST: 0–9; EMNIST letters: 1–26), named by the value, or by line `value + 1` of
/// `DIR/classes.txt` if that file exists (e.g. Fashion-MNIST's `T-shirt/top`, `Trouser`, …).
/// Returns the values and their names, index for index.
fn label_classes(dir: &Path, sets: [&[u8]; 2]) -> Result<(Vec<u8>, Vec<String>), DataError> {
    let mut seen = [false; 256];
    for &v in sets.iter().flat_map(|s| s.iter()) {
        seen[v as usize] = true;
    }
    let values: Vec<u8> = (0..=255u8).filter(|&v| seen[v as usize]).collect();
    let names_file = dir.join("classes.txt");
    let names: Option<Vec<String>> = match find_file(dir, "classes.txt")? {
        None => None,
        Some(_) => {
            let text = crate::files::read_input_text(&names_file, 1 << 20, "a list of class names")
                .map_err(|e| DataError::Names { path: names_file.clone(), why: e.to_string() })?;
            Some(text.lines().map(|l| l.trim().to_string()).collect())
        }
    };
    let classes = values
        .iter()
        .map(|&v| match &names {
            None => Ok(v.to_string()),
            Some(n) => n.get(v as usize).filter(|s| !s.is_empty()).cloned().ok_or_else(|| DataError::Names {
                path: names_file.clone(),
                why: format!("label {v} occurs but line {} names no class", v as usize + 1),
            }),
        })
        .collect::<Result<_, _>>()?;
    Ok((values, classes))
}

/// Convenience for the CLI: [`locate_or_download`]`(flag)`, then [`load_mnist`].
pub fn load_or_download(
    flag: Option<&Path>,
    train_size: usize,
    validation_size: usize,
    progress: bool,
) -> Result<Mnist, DataError> {
    let dir = locate_or_download(flag, progress)?;
    load_mnist(&dir, train_size, validation_size)
}

/// The path of `name` in `dir` ([`find_file`]), or [`DataError::NotFound`].
fn locate(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    find_file(dir, name)?.ok_or_else(|| DataError::NotFound {
        path: dir.join(format!("{name}.gz")),
        dir: dir.to_path_buf(),
        name: name.to_string(),
    })
}

/// Reads a test images/labels pair; an empty test set is refused (an accuracy of 0 / 0 would
/// otherwise be printed as 0.00% and the run would look like it succeeded).
fn read_test(
    images: &Path,
    labels: &Path,
    values: Vec<u8>,
    limit: u64,
    classes: (&[u8], &[String]),
) -> Result<Dataset, DataError> {
    let test = with_labels(read_idx_images_limited(images, limit)?, images, &values, labels, classes)?;
    if test.is_empty() {
        return Err(DataError::Empty {
            images: images.to_path_buf(),
            labels: labels.to_path_buf(),
            set: "test",
        });
    }
    Ok(test)
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

/// `images` with `labels` (label values) as class indices into `classes` (values, names).
fn with_labels(
    mut images: Dataset,
    images_path: &Path,
    labels: &[u8],
    labels_path: &Path,
    (values, classes): (&[u8], &[String]),
) -> Result<Dataset, DataError> {
    if images.len() != labels.len() {
        return Err(DataError::CountMismatch {
            images: images_path.to_path_buf(),
            labels: labels_path.to_path_buf(),
            n_images: images.len(),
            n_labels: labels.len(),
        });
    }
    let mut index = [0u32; 256];
    for (i, &v) in values.iter().enumerate() {
        index[v as usize] = i as u32;
    }
    images.labels = labels.iter().map(|&v| index[v as usize]).collect();
    images.classes = classes.to_vec();
    Ok(images)
}
