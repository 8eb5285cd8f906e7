//! Image folders, laid out as torchvision's `ImageFolder` expects: one folder per class,
//! named by the class, holding that class's images.
//!
//! ```text
//! DIR/train/<class>/*.png|jpg|jpeg      DIR/<class>/*.png|jpg|jpeg
//! DIR/test/<class>/*.png|jpg|jpeg       (with a test fraction, split per class)
//! ```
//!
//! ```no_run
//! # fn main() -> Result<(), nndl::data::DataError> {
//! use nndl::data::folder::{FolderOptions, load};
//! let split = load("digits".as_ref(), &FolderOptions::default())?;
//! println!("{} training images of {}, classes {:?}", split.train.len(), split.train.shape, split.train.classes);
//! # Ok(()) }
//! ```
//!
//! - **Classes** are the sub-folders' names, sorted (byte order, as torchvision does); folders
//!   whose name starts with `.` (e.g. `.ipynb_checkpoints`) and plain files beside them are not
//!   classes. A test class must also be a training class. At least 2 classes are needed.
//! - **Images** are the files of a class folder (not of its sub-folders) named `*.png`, `*.jpg`
//!   or `*.jpeg`, in any case; other files and dot-files (`.DS_Store`) are skipped. Each is told
//!   PNG or JPEG by its content, read only if it is a regular file of at most
//!   [`MAX_FILE_BYTES`], and refused from its header, before decoding, if a side exceeds
//!   [`MAX_SIDE`]. An empty class folder, or a file that cannot be decoded, is an error.
//! - **Pixels** are kept as bytes, channel-planar (C×H×W). One channel if every image is grey
//!   (with or without alpha), else three (RGB, grey images repeated in each); alpha is
//!   composited over white; 16-bit images are scaled to 8 bits. [`FolderOptions::channels`]
//!   forces 1 (BT.601 luma, as [`crate::image_io`] computes it) or 3. JPEG orientation tags are
//!   not applied (torchvision's PIL loader does not apply them either).
//! - **Sizes**: every image must have the size of the first (train before test, classes and
//!   files in sorted order), unless [`FolderOptions::image_size`] resizes each one (triangle
//!   filter).
//! - **Order**: the training examples are shuffled with the seed, so that a validation set
//!   carved from the end of the training set has every class; the test examples stay in class
//!   and file-name order.
//! - **Memory**: the pixels of both sets together stay within
//!   [`max_data_bytes`], checked before each image is decoded, and every
//!   buffer is reserved with `try_reserve`, so running out of memory is an error, not an abort.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{
    ColorType, DynamicImage, ImageBuffer, ImageDecoder, ImageFormat, ImageReader, Limits, Luma, Pixel,
    Primitive,
};
use rand::seq::SliceRandom;

use super::dataset::Dataset;
use super::error::{DataError, one_line};
use super::idx::max_data_bytes;
use crate::files::FileError;
use crate::image_io::{MAX_FILE_BYTES, MAX_SIDE};
use crate::layers::Shape;

/// The file extensions read as images (compared without regard to case).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// The most memory the decoder may take for one image (an 8192×8192 RGBA image at 16 bits).
const MAX_DECODE_BYTES: u64 = 512 << 20;

/// A training set and a test set, from an image folder or a table.
#[derive(Clone, Debug)]
pub struct Split {
    /// The training examples, shuffled with the seed (carve validation from the end).
    pub train: Dataset,
    /// The test examples.
    pub test: Dataset,
}

/// How to read an image folder. The default reads `DIR/train` and `DIR/test` as they are.
#[derive(Clone, Debug, Default)]
pub struct FolderOptions {
    /// Resize every image to (height, width); without it all images must be one size.
    pub image_size: Option<(usize, usize)>,
    /// 1 (grey) or 3 (RGB); without it, 1 if every image is grey, else 3.
    pub channels: Option<usize>,
    /// Read `DIR/<class>/*` (or `DIR/train/<class>/*` when there is no `DIR/test`) and give
    /// this fraction of each class to the test set; in (0, 1).
    pub test_fraction: Option<f32>,
    /// Seeds the shuffle of the training examples and the split by `test_fraction`.
    pub seed: u64,
}

/// Reads an image folder: `DIR/train/<class>/*` and `DIR/test/<class>/*`, or, with
/// `opts.test_fraction`, `DIR/<class>/*` split per class (round(fraction × count) of each
/// class to the test set, at least one to each set from a class of two images or more). See
/// the module doc for what is read and how.
///
/// Errors (each a one-line [`DataError`] naming the folder or file): a layout that is neither
/// (or both with a test fraction), fewer than 2 classes, an empty class folder, a test class
/// with no training images, an image that is not a regular file, cannot be decoded, or is
/// larger than [`MAX_SIDE`], images of different sizes without `image_size`, a split that
/// leaves a set empty, more pixels than [`max_data_bytes`], and bad
/// options.
pub fn load(dir: &Path, opts: &FolderOptions) -> Result<Split, DataError> {
    check_options(opts)?;
    let limit = max_data_bytes()?;
    let mut rng = crate::seeded_rng(opts.seed);
    let (classes, train_files, test_files) = match layout(dir, opts)? {
        Layout::Split { train, test } => {
            let train_classes = class_folders(&train)?;
            need_two(&train, &train_classes)?;
            let test_classes = class_folders(&test)?;
            if test_classes.is_empty() {
                return Err(no_class_folders(
                    &test,
                    "put the test images in one folder per class, named as in train/",
                ));
            }
            let names: Vec<String> = train_classes.iter().map(|(name, _)| name.clone()).collect();
            let mut test_labelled = Vec::with_capacity(test_classes.len());
            for (name, path) in test_classes {
                let Some(i) = names.iter().position(|n| *n == name) else {
                    return Err(DataError::UnknownTestClass { train: train.join(&name), path, class: name });
                };
                test_labelled.push((i, path));
            }
            let train_labelled: Vec<_> =
                train_classes.into_iter().enumerate().map(|(i, (_, p))| (i, p)).collect();
            (names, files_of(&train_labelled)?, files_of(&test_labelled)?)
        }
        Layout::One(folder) => {
            let found = class_folders(&folder)?;
            need_two(&folder, &found)?;
            let fraction = opts.test_fraction.unwrap_or(0.0);
            let (mut train, mut test) = (Vec::new(), Vec::new());
            for (i, (_, path)) in found.iter().enumerate() {
                let mut files = image_files(path)?;
                files.shuffle(&mut rng);
                let k = test_count(files.len(), fraction);
                let label = i as u32;
                test.extend(files.drain(..k).map(|f| (f, label)));
                train.extend(files.into_iter().map(|f| (f, label)));
            }
            if test.is_empty() {
                return Err(DataError::SmallSplit {
                    path: folder,
                    examples: train.len(),
                    fraction,
                    empty: "test",
                });
            }
            // Read in a fixed order (class, then file name): messages do not depend on the seed.
            train.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            test.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            (found.into_iter().map(|(name, _)| name).collect(), train, test)
        }
    };
    let mut reader = Reader::new(opts, dir, limit);
    reader.read_all(0, &train_files)?;
    reader.read_all(1, &test_files)?;
    let [mut train, test] = reader.finish(&classes);
    shuffle(&mut train, &mut rng, dir)?;
    Ok(Split { train, test })
}

/// Reads only the test images of an image folder, labelled by `classes` (a trained model's
/// class names, matched by folder name): what `eval` needs.
///
/// With `DIR/test` (and no `opts.test_fraction`), only `DIR/test/<class>/*` is read; without
/// it, `opts.test_fraction` repeats [`load`]'s split of `DIR/<class>/*` (the same files and
/// seed give the same test set) and keeps its test part. Give `opts.image_size` and
/// `opts.channels` from the model, so the images are made to fit it.
///
/// Errors as for [`load`], and [`DataError::NotAModelClass`] for a class folder whose name is
/// not among `classes`.
pub fn load_test(dir: &Path, classes: &[String], opts: &FolderOptions) -> Result<Dataset, DataError> {
    check_options(opts)?;
    let test = dir.join("test");
    if opts.test_fraction.is_some() || !is_dir(&test) {
        // Only the split of one folder can say which of its images are test images.
        let split = load(dir, opts)?;
        return split.test.relabel(classes).map_err(|class| DataError::NotAModelClass {
            path: layout_folder(dir).join(&class),
            class,
            known: classes.to_vec(),
        });
    }
    let limit = max_data_bytes()?;
    let found = class_folders(&test)?;
    if found.is_empty() {
        return Err(no_class_folders(&test, "put the test images in one folder per class"));
    }
    let mut labelled = Vec::with_capacity(found.len());
    for (name, path) in found {
        let Some(i) = classes.iter().position(|c| *c == name) else {
            return Err(DataError::NotAModelClass { path, class: name, known: classes.to_vec() });
        };
        labelled.push((i, path));
    }
    let files = files_of(&labelled)?;
    let mut reader = Reader::new(opts, dir, limit);
    reader.read_all(0, &files)?;
    let [test, _] = reader.finish(classes);
    Ok(test)
}

/// The class folder holding a one-folder layout's classes: `DIR/train` if it exists, else `DIR`.
fn layout_folder(dir: &Path) -> PathBuf {
    let train = dir.join("train");
    if is_dir(&train) { train } else { dir.to_path_buf() }
}

/// How many of a class's `n` examples go to the test set: round(fraction × n), but at least
/// one to each set when `n >= 2` (a class of one example goes to training).
pub(crate) fn test_count(n: usize, fraction: f32) -> usize {
    if n < 2 {
        return 0;
    }
    let k = (f64::from(fraction) * n as f64).round();
    if k.is_nan() { 1 } else { (k.max(1.0) as usize).min(n - 1) }
}

/// Reorders `data`, records of `p` elements, in place so that record `i` becomes the old
/// record `order[i]` (`order` a permutation of `0..data.len() / p`). Uses one record of
/// memory, not a second copy of the data.
pub(crate) fn permute<T: Copy>(data: &mut [T], p: usize, order: &[usize]) {
    let n = order.len();
    if p == 0 || data.len() != n * p {
        return;
    }
    let mut done = vec![false; n];
    for start in 0..n {
        if done[start] {
            continue;
        }
        let held = data[start * p..(start + 1) * p].to_vec();
        let mut i = start;
        loop {
            done[i] = true;
            let j = order[i];
            if j == start || done[j] {
                data[i * p..(i + 1) * p].copy_from_slice(&held);
                break;
            }
            data.copy_within(j * p..(j + 1) * p, i * p);
            i = j;
        }
    }
}

/// Shuffles the examples of `data` (features and labels alike) in place with `rng`.
pub(crate) fn shuffle(data: &mut Dataset, rng: &mut crate::Rng, path: &Path) -> Result<(), DataError> {
    let n = data.len();
    let mut order = Vec::new();
    order.try_reserve_exact(n).map_err(|_| DataError::OutOfMemory {
        path: path.to_path_buf(),
        what: "the order of the training examples".into(),
        bytes: (n * size_of::<usize>()) as u64,
    })?;
    order.extend(0..n);
    order.shuffle(rng);
    let p = data.input_size();
    match &mut data.features {
        super::Features::Bytes(b) => permute(b, p, &order),
        super::Features::Floats(f) => permute(f, p, &order),
    }
    if data.labels.len() == n {
        permute(&mut data.labels, 1, &order);
    }
    Ok(())
}

fn check_options(opts: &FolderOptions) -> Result<(), DataError> {
    if let Some(f) = opts.test_fraction {
        check_fraction(f)?;
    }
    if let Some(c) = opts.channels
        && c != 1
        && c != 3
    {
        return Err(DataError::BadOption {
            option: "channel count",
            value: c.to_string(),
            why: "give 1 (grey) or 3 (RGB)",
        });
    }
    if let Some((h, w)) = opts.image_size {
        let side = MAX_SIDE as usize;
        if h == 0 || w == 0 || h > side || w > side {
            return Err(DataError::BadOption {
                option: "image size",
                value: format!("{h}x{w}"),
                why: "give a height and a width from 1 to 8192, e.g. 28x28",
            });
        }
    }
    Ok(())
}

/// A test fraction must lie strictly between 0 and 1.
pub(crate) fn check_fraction(f: f32) -> Result<(), DataError> {
    if f.is_finite() && f > 0.0 && f < 1.0 {
        Ok(())
    } else {
        Err(DataError::BadOption {
            option: "test fraction",
            value: f.to_string(),
            why: "give a fraction between 0 and 1 (both excluded), e.g. 0.25",
        })
    }
}

/// Where the images are.
enum Layout {
    /// `DIR/train` and `DIR/test`.
    Split { train: PathBuf, test: PathBuf },
    /// One folder of class folders, split by the test fraction.
    One(PathBuf),
}

fn is_dir(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_dir())
}

fn layout(dir: &Path, opts: &FolderOptions) -> Result<Layout, DataError> {
    let meta = std::fs::metadata(dir).map_err(DataError::io(dir, "open the folder"))?;
    let bad = |problem: &str, fix: &str| DataError::FolderLayout {
        dir: dir.to_path_buf(),
        problem: problem.to_string(),
        fix: fix.to_string(),
    };
    if !meta.is_dir() {
        return Err(bad(
            "is not a folder",
            "give a folder of images: train/<class>/ and test/<class>/ in it, or <class>/ and a test fraction",
        ));
    }
    let (train, test) = (dir.join("train"), dir.join("test"));
    Ok(match (is_dir(&train), is_dir(&test), opts.test_fraction) {
        (true, true, None) => Layout::Split { train, test },
        (true, true, Some(_)) => {
            return Err(bad(
                "it has train/ and test/ folders, so there is nothing for a test fraction to split",
                "give no test fraction, to use them as they are",
            ));
        }
        (true, false, Some(_)) => Layout::One(train),
        (true, false, None) => {
            return Err(bad(
                "it has a train/ folder but no test/ folder",
                "add test/<class>/ folders of test images, or give a test fraction (e.g. 0.2) to split train/",
            ));
        }
        (false, true, _) => {
            return Err(bad(
                "it has a test/ folder but no train/ folder",
                "add train/<class>/ folders of training images",
            ));
        }
        (false, false, Some(_)) => Layout::One(dir.to_path_buf()),
        (false, false, None) => {
            return Err(bad(
                "no train/ and test/ folders in it",
                "give a test fraction (e.g. 0.2) to split its class folders into training and test images, or make train/<class>/ and test/<class>/ in it",
            ));
        }
    })
}

/// The class folders in `dir` (sub-folders, or links to folders, whose name does not start
/// with `.`), sorted by name.
fn class_folders(dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let list = |e| DataError::io(dir, "list the folder")(e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list)? {
        let entry = entry.map_err(list)?;
        let name = entry.file_name();
        if name.as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // a dangling link
            Err(e) => return Err(DataError::io(&path, "look at")(e)),
        }
        let Some(name) = name.to_str() else {
            return Err(DataError::FolderLayout {
                dir: path,
                problem: "the class folder's name is not UTF-8 text, so it cannot name a class".into(),
                fix: "rename the folder".into(),
            });
        };
        out.push((name.to_string(), path));
    }
    out.sort();
    Ok(out)
}

fn need_two(dir: &Path, found: &[(String, PathBuf)]) -> Result<(), DataError> {
    if found.is_empty() {
        return Err(no_class_folders(dir, "put the images in one folder per class, named by the class"));
    }
    if found.len() < 2 {
        return Err(DataError::TooFewClasses {
            path: dir.to_path_buf(),
            classes: found.iter().map(|(name, _)| name.clone()).collect(),
            what: "class folder".into(),
            fix: "add a folder of images for each other class",
        });
    }
    Ok(())
}

fn no_class_folders(dir: &Path, fix: &str) -> DataError {
    DataError::FolderLayout {
        dir: dir.to_path_buf(),
        problem: "no class folders in it".into(),
        fix: fix.to_string(),
    }
}

/// Whether `name` is an image file's name: not a dot-file, extension png, jpg or jpeg.
fn is_image_name(name: &std::ffi::OsStr) -> bool {
    let path = Path::new(name);
    name.as_encoded_bytes().first() != Some(&b'.')
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// The image files in the class folder `dir`, sorted; none is an error.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let list = |e| DataError::io(dir, "list the folder")(e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list)? {
        let entry = entry.map_err(list)?;
        if is_image_name(&entry.file_name()) {
            out.push(entry.path());
        }
    }
    if out.is_empty() {
        return Err(DataError::EmptyClass { path: dir.to_path_buf() });
    }
    out.sort();
    Ok(out)
}

/// The image files of each (label, class folder), in that order.
fn files_of(classes: &[(usize, PathBuf)]) -> Result<Vec<(PathBuf, u32)>, DataError> {
    let mut out = Vec::new();
    for (label, dir) in classes {
        out.extend(image_files(dir)?.into_iter().map(|f| (f, *label as u32)));
    }
    Ok(out)
}

/// Decodes images into the pixels of two sets (training 0, test 1), keeping the channels and
/// the size common and the total within the limit.
struct Reader<'a> {
    opts: &'a FolderOptions,
    dir: &'a Path,
    limit: u64,
    /// Channels of the images stored so far (1 until a colour image comes, without
    /// `opts.channels`).
    channels: usize,
    /// The stored images' (height, width), and the first image read.
    size: Option<((usize, usize), PathBuf)>,
    bytes: [Vec<u8>; 2],
    labels: [Vec<u32>; 2],
}

impl<'a> Reader<'a> {
    fn new(opts: &'a FolderOptions, dir: &'a Path, limit: u64) -> Self {
        Reader {
            opts,
            dir,
            limit,
            channels: opts.channels.unwrap_or(1),
            size: None,
            bytes: [Vec::new(), Vec::new()],
            labels: [Vec::new(), Vec::new()],
        }
    }

    fn read_all(&mut self, part: usize, files: &[(PathBuf, u32)]) -> Result<(), DataError> {
        for (path, label) in files {
            self.read(part, path, *label)?;
        }
        Ok(())
    }

    fn stored(&self) -> u64 {
        (self.bytes[0].len() + self.bytes[1].len()) as u64
    }

    fn oom(&self, what: &str, bytes: usize) -> DataError {
        DataError::OutOfMemory { path: self.dir.to_path_buf(), what: what.to_string(), bytes: bytes as u64 }
    }

    /// Reads one image into `part` with `label`.
    fn read(&mut self, part: usize, path: &Path, label: u32) -> Result<(), DataError> {
        let bad = |why: String| DataError::BadImage { path: path.to_path_buf(), why };
        let file = crate::files::read_input(path, MAX_FILE_BYTES, "an image").map_err(|e| match e {
            FileError::NotRegular { what, .. } => bad(format!("it is {what}, not a regular file")),
            FileError::TooLarge { size, limit, .. } => {
                bad(format!("it is {size} bytes, more than the {limit} bytes accepted for an image file"))
            }
            FileError::Io { error, .. } => bad(one_line(error)),
            other => bad(one_line(other)),
        })?;
        if file.is_empty() {
            return Err(bad("the file is empty".into()));
        }
        let mut reader =
            ImageReader::new(Cursor::new(&file[..])).with_guessed_format().map_err(|e| bad(one_line(e)))?;
        if !matches!(reader.format(), Some(ImageFormat::Png | ImageFormat::Jpeg)) {
            return Err(bad("neither PNG nor JPEG data".into()));
        }
        // No limit on the sides here: they are checked below, with a message that gives them.
        let mut limits = Limits::default();
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        reader.limits(limits);
        let decode_error = |e: image::ImageError| match e {
            image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                bad("the file ends too early, is it truncated?".into())
            }
            other => bad(one_line(other).trim().to_string()),
        };
        let mut decoder = crate::image_io::contain_decoder_panic(
            || reader.into_decoder().map_err(decode_error),
            || bad(crate::image_io::DECODER_FAILED.into()),
        )?;
        let (width, height) = decoder.dimensions();
        if width == 0 || height == 0 {
            return Err(bad(format!("it has no pixels ({height}x{width})")));
        }
        if width > MAX_SIDE || height > MAX_SIDE {
            return Err(DataError::ImageTooLarge { path: path.to_path_buf(), height, width, max: MAX_SIDE });
        }
        if decoder.total_bytes() > MAX_DECODE_BYTES {
            return Err(bad(format!("decoding it would take {} bytes", decoder.total_bytes())));
        }
        let grey =
            matches!(decoder.color_type(), ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16);
        let (h, w) = (height as usize, width as usize);
        let out = self.opts.image_size.unwrap_or((h, w));
        match &self.size {
            None => self.size = Some((out, path.to_path_buf())),
            Some((size, first)) if *size != out => {
                return Err(DataError::ImageSizes {
                    path: path.to_path_buf(),
                    size: (h, w),
                    first: first.clone(),
                    first_size: *size,
                });
            }
            Some(_) => {}
        }
        let channels = match self.opts.channels {
            Some(c) => c,
            None if grey => self.channels,
            None => 3,
        };
        // Check the memory before decoding: this image, and the stored ones if they widen.
        let per_image = channels * out.0 * out.1;
        let stored = self.stored().saturating_mul((channels / self.channels) as u64);
        let total = stored.saturating_add(per_image as u64);
        if total > self.limit {
            return Err(DataError::TooMuchData {
                path: self.dir.to_path_buf(),
                what: format!("the images up to {}", one_line(path.display())),
                bytes: total,
                limit: self.limit,
            });
        }
        if channels != self.channels {
            self.widen(channels)?;
        }
        // The decoder enforces the sides too, and the memory it may take.
        let mut limits = Limits::default();
        (limits.max_image_width, limits.max_image_height) = (Some(MAX_SIDE), Some(MAX_SIDE));
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        decoder.set_limits(limits).map_err(decode_error)?;
        let img = crate::image_io::contain_decoder_panic(
            || DynamicImage::from_decoder(decoder).map_err(decode_error),
            || bad(crate::image_io::DECODER_FAILED.into()),
        )?;
        let mut pixels =
            planes(&img, channels).ok_or_else(|| self.oom("an image's pixels", channels * h * w))?;
        drop(img);
        if out != (h, w) {
            pixels =
                resize(&pixels, channels, (h, w), out).ok_or_else(|| bad("it cannot be resized".into()))?;
        }
        self.bytes[part].try_reserve(pixels.len()).map_err(|_| self.oom("the images", total as usize))?;
        self.bytes[part].extend_from_slice(&pixels);
        self.labels[part].try_reserve(1).map_err(|_| self.oom("the labels", self.labels[part].len() * 4))?;
        self.labels[part].push(label);
        Ok(())
    }

    /// Turns the stored grey images into RGB (each channel the grey one), when the first
    /// colour image comes.
    fn widen(&mut self, channels: usize) -> Result<(), DataError> {
        let from = self.channels;
        let Some(((h, w), _)) = &self.size else { return Ok(()) };
        let p = from * h * w;
        for part in 0..2 {
            let old = &self.bytes[part];
            let mut wide = Vec::new();
            let len = old.len() / from * channels;
            if wide.try_reserve_exact(len).is_err() {
                return Err(self.oom("the images in colour", len));
            }
            for image in old.chunks_exact(p) {
                for _ in 0..channels / from {
                    wide.extend_from_slice(image);
                }
            }
            self.bytes[part] = wide;
        }
        self.channels = channels;
        Ok(())
    }

    /// The two sets, named by `classes`.
    fn finish(self, classes: &[String]) -> [Dataset; 2] {
        let ((h, w), _) = self.size.unwrap_or(((1, 1), PathBuf::new()));
        let shape = Shape::new(self.channels, h, w);
        let [train_bytes, test_bytes] = self.bytes;
        let [train_labels, test_labels] = self.labels;
        [
            Dataset::images(shape, train_bytes, train_labels, classes.to_vec()),
            Dataset::images(shape, test_bytes, test_labels, classes.to_vec()),
        ]
    }
}

/// A zeroed buffer of `n` bytes, or `None` if memory runs out.
fn zeroed(n: usize) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    v.resize(n, 0);
    Some(v)
}

/// The image's pixels as `channels` planes of bytes (see the module doc), or `None` if memory
/// runs out.
fn planes(img: &DynamicImage, channels: usize) -> Option<Vec<u8>> {
    match img {
        DynamicImage::ImageLuma8(b) if channels == 1 => {
            let mut v = Vec::new();
            v.try_reserve_exact(b.as_raw().len()).ok()?;
            v.extend_from_slice(b.as_raw());
            Some(v)
        }
        DynamicImage::ImageLuma8(b) => fill(b, channels),
        DynamicImage::ImageLumaA8(b) => fill(b, channels),
        DynamicImage::ImageRgb8(b) => fill(b, channels),
        DynamicImage::ImageRgba8(b) => fill(b, channels),
        DynamicImage::ImageLuma16(b) => fill(b, channels),
        DynamicImage::ImageLumaA16(b) => fill(b, channels),
        DynamicImage::ImageRgb16(b) => fill(b, channels),
        DynamicImage::ImageRgba16(b) => fill(b, channels),
        DynamicImage::ImageRgb32F(b) => fill(b, channels),
        DynamicImage::ImageRgba32F(b) => fill(b, channels),
        other => fill(&other.to_rgba32f(), channels),
    }
}

/// [`planes`] for any pixel layout of 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA) channels.
fn fill<P>(buffer: &ImageBuffer<P, Vec<P::Subpixel>>, channels: usize) -> Option<Vec<u8>>
where
    P: Pixel,
    P::Subpixel: Into<f32>,
{
    let n = buffer.width() as usize * buffer.height() as usize;
    let mut out = zeroed(channels * n)?;
    let max: f32 = <P::Subpixel as Primitive>::DEFAULT_MAX_VALUE.into();
    let byte = |v: f32| (v * 255.0).round().clamp(0.0, 255.0) as u8;
    for (i, p) in buffer.pixels().enumerate() {
        let c = p.channels();
        let v = |k: usize| {
            let x = c.get(k).map_or(0.0, |&s| s.into() / max);
            if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) } // NaN: float images only
        };
        let (rgb, alpha) = match c.len() {
            1 => ([v(0); 3], 1.0),
            2 => ([v(0); 3], v(1)),
            3 => ([v(0), v(1), v(2)], 1.0),
            _ => ([v(0), v(1), v(2)], v(3)),
        };
        let over_white = |x: f32| alpha * x + (1.0 - alpha);
        if channels == 1 {
            let y = if c.len() <= 2 { rgb[0] } else { 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] };
            out[i] = byte(over_white(y));
        } else {
            for (k, &x) in rgb.iter().enumerate().take(channels) {
                out[k * n + i] = byte(over_white(x));
            }
        }
    }
    Some(out)
}

/// Each of the `channels` planes of `pixels`, `from` (height, width), resized to `to` with a
/// triangle filter; `None` if the planes do not have that size or memory runs out.
fn resize(pixels: &[u8], channels: usize, from: (usize, usize), to: (usize, usize)) -> Option<Vec<u8>> {
    let (p, q) = (from.0 * from.1, to.0 * to.1);
    if pixels.len() != channels * p {
        return None;
    }
    let mut out = Vec::new();
    out.try_reserve_exact(channels * q).ok()?;
    for plane in pixels.chunks_exact(p) {
        let buffer: ImageBuffer<Luma<u8>, &[u8]> =
            ImageBuffer::from_raw(from.1 as u32, from.0 as u32, plane)?;
        let small = imageops::resize(&buffer, to.1 as u32, to.0 as u32, FilterType::Triangle);
        out.extend_from_slice(small.as_raw());
    }
    Some(out)
}
