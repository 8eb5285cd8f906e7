//! Where the examples come from, chosen by what the data path is (or a format given): IDX
//! files (MNIST and its kin), an image folder, or a CSV table. And [`InputInfo`], what a model
//! file keeps about its input so that new data is read as its training data was.

use super::folder::{self, FolderOptions};
use super::table::{self, CsvOptions, Standardize};
use super::{DataError, Dataset, TEST_IMAGES, TRAIN_IMAGES, find_file, numbered_classes};
use crate::layers::Shape;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::str::FromStr;

/// The kinds of data nndl reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// IDX files (`train-images-idx3-ubyte[.gz]` and the rest), as MNIST comes.
    Idx,
    /// An image folder: `DIR/train/<class>/*` and `DIR/test/<class>/*`, or `DIR/<class>/*`.
    Images,
    /// A CSV table: a header, numeric feature columns and a label column.
    Csv,
    /// A text, for the character-level language model.
    Text,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "idx" | "mnist" => Ok(Format::Idx),
            "images" | "folder" | "image-folder" => Ok(Format::Images),
            "csv" | "table" => Ok(Format::Csv),
            _ => Err(format!("'{s}' is not a data format (use idx, images or csv)")),
        }
    }
}

impl Format {
    /// What `path` holds: a file is a CSV table; a folder holding IDX files (or nothing yet:
    /// MNIST is downloaded there) is IDX; a folder of folders is an image folder.
    pub fn detect(path: &Path) -> Format {
        if path.is_file() {
            return Format::Csv;
        }
        let idx = [TRAIN_IMAGES, TEST_IMAGES].iter().any(|name| matches!(find_file(path, name), Ok(Some(_))));
        let subfolders =
            std::fs::read_dir(path).map(|d| d.flatten().any(|e| e.path().is_dir())).unwrap_or(false);
        if !idx && subfolders { Format::Images } else { Format::Idx }
    }
}

/// How the network's input is made from the data, kept in the model file: the format and the
/// shape of an example, the classes' names, and how the data was prepared (image size and
/// channels, the table's columns and their standardisation, the test split).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputInfo {
    pub format: Format,
    /// One example's input (`C × H × W`; a table's n features are `n × 1 × 1`).
    pub shape: Shape,
    /// The classes' names, in the order of the network's outputs.
    pub classes: Vec<String>,
    /// Image folders: every image was resized to (height, width).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<(usize, usize)>,
    /// Tables: the feature columns, in input order, and the label column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// Tables: each feature's standardisation, fitted on the training part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standardize: Option<Standardize>,
    /// Where the test set was split off the data (a CSV table, or one image folder): the
    /// fraction and the seed, so that the same test examples can be found again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f32>,
    #[serde(default)]
    pub split_seed: u64,
}

impl InputInfo {
    /// MNIST's: 1×28×28 IDX digits, classes "0" … "9" (what models saved before nndl recorded
    /// their input were trained on).
    pub fn mnist() -> Self {
        InputInfo {
            format: Format::Idx,
            shape: Shape::new(1, 28, 28),
            classes: numbered_classes(10),
            image_size: None,
            features: Vec::new(),
            label_column: None,
            standardize: None,
            test_fraction: None,
            split_seed: 0,
        }
    }

    /// Whether the input is an image of more than one pixel each way.
    pub fn is_image(&self) -> bool {
        matches!(self.format, Format::Idx | Format::Images) && self.shape.height > 1 && self.shape.width > 1
    }
}

/// How to read the data: the format (else [`Format::detect`]), and the options of the formats
/// that take them.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub format: Option<Format>,
    /// Image folders: resize every image to (height, width).
    pub image_size: Option<(usize, usize)>,
    /// Image folders: 1 (grey) or 3 (RGB) channels; default from the images.
    pub channels: Option<usize>,
    /// Image folders without `test/`, and tables: the fraction of each class for the test
    /// set (tables: 0.25 by default).
    pub test_fraction: Option<f32>,
    /// Tables: the label column, by header name or 1-based number (default: the last).
    pub label_column: Option<String>,
    /// Tables: standardise each feature (on by default).
    pub standardize: Option<bool>,
    /// Seeds the split and the order of the training examples.
    pub seed: u64,
}

/// Training examples (in an order whose end can be carved off for validation), test examples,
/// and how the input was made.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub train: Dataset,
    pub test: Dataset,
    pub input: InputInfo,
}

/// Reads the data at `path` as `opts` say (see the module doc).
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, DataError> {
    let format = opts.format.unwrap_or_else(|| Format::detect(path));
    let mut input = InputInfo { format, split_seed: opts.seed, ..InputInfo::mnist() };
    let (train, test) = match format {
        Format::Idx => {
            let (train, test) = super::load_idx(path)?;
            (train, test)
        }
        Format::Images => {
            let fo = folder_options(opts);
            let split = folder::load(path, &fo)?;
            input.image_size = opts.image_size;
            input.test_fraction = opts.test_fraction;
            (split.train, split.test)
        }
        Format::Csv => {
            let co = csv_options(opts);
            let (split, info) = table::load_csv(path, &co)?;
            let (mut train, mut test) = (split.train, split.test);
            input.features = info.feature_names;
            input.label_column = Some(info.label_column);
            input.test_fraction = Some(co.test_fraction);
            if opts.standardize.unwrap_or(true) {
                let stats = Standardize::fit(&train);
                stats.apply(&mut train);
                stats.apply(&mut test);
                input.standardize = Some(stats);
            }
            (train, test)
        }
        Format::Text => {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                why: "a text is read by train-text".into(),
            });
        }
    };
    input.shape = train.shape;
    input.classes = train.classes.clone();
    Ok(Loaded { train, test, input })
}

/// The test examples at `path` for a model whose input is `input`, prepared as its training
/// data was (same image size and channels, same test split, same standardisation) and
/// labelled by its classes. Reads only what the test set needs where the format allows.
pub fn load_test(path: &Path, input: &InputInfo) -> Result<Dataset, DataError> {
    let not_a_class = |class: String| DataError::NotAModelClass {
        path: path.to_path_buf(),
        class,
        known: input.classes.clone(),
    };
    match input.format {
        Format::Idx => super::load_test(path)?.relabel(&input.classes).map_err(not_a_class),
        Format::Images => {
            let opts = FolderOptions {
                image_size: input.image_size.or(Some((input.shape.height, input.shape.width))),
                channels: Some(input.shape.channels),
                test_fraction: input.test_fraction,
                seed: input.split_seed,
            };
            folder::load_test(path, &input.classes, &opts)
        }
        Format::Csv => {
            let opts = CsvOptions {
                label_column: input.label_column.clone(),
                test_fraction: input.test_fraction.unwrap_or(0.25),
                seed: input.split_seed,
            };
            let (split, info) = table::load_csv(path, &opts)?;
            if info.feature_names != input.features {
                return Err(DataError::Format {
                    path: path.to_path_buf(),
                    why: format!(
                        "its feature columns ({}) are not the model's ({})",
                        crate::shorten(&info.feature_names.join(", "), 200),
                        crate::shorten(&input.features.join(", "), 200)
                    ),
                });
            }
            let mut test = split.test.relabel(&input.classes).map_err(not_a_class)?;
            if let Some(stats) = &input.standardize {
                stats.apply(&mut test);
            }
            Ok(test)
        }
        Format::Text => Err(DataError::Format {
            path: path.to_path_buf(),
            why: "a language model has no test set to score here".into(),
        }),
    }
}

fn folder_options(opts: &LoadOptions) -> FolderOptions {
    FolderOptions {
        image_size: opts.image_size,
        channels: opts.channels,
        test_fraction: opts.test_fraction,
        seed: opts.seed,
    }
}

fn csv_options(opts: &LoadOptions) -> CsvOptions {
    CsvOptions {
        label_column: opts.label_column.clone(),
        test_fraction: opts.test_fraction.unwrap_or(0.25),
        seed: opts.seed,
    }
}
