//! `nndl download`, and the data flags shared by the commands that read examples.

use anyhow::{Context, bail};
use nndl::data::source::{self, Format, InputInfo, LoadOptions, Loaded};
use nndl::data::{self, Dataset};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Where the examples are, and how to read them.
#[derive(clap::Args, Clone, Default)]
pub struct DataArgs {
    /// The data: a folder of IDX files (MNIST's by default: $NNDL_DATA, else the user cache
    /// folder, downloaded there if missing), an image folder (DIR/train/<class>/*.png|jpg and
    /// DIR/test/<class>/*, or DIR/<class>/* with --test-fraction), or a CSV file
    #[arg(long, value_name = "PATH", help_heading = "Data")]
    pub data: Option<PathBuf>,
    /// How to read --data: idx, images or csv [default: a file is CSV, a folder of folders is
    /// an image folder, else IDX]
    #[arg(long, value_name = "FORMAT", help_heading = "Data")]
    pub format: Option<Format>,
    /// Resize every image of an image folder to HxW (without it, all must be one size)
    #[arg(long, value_name = "HxW", value_parser = parse_hxw, help_heading = "Data")]
    pub image_size: Option<(usize, usize)>,
    /// Channels for an image folder: 1 (grey) or 3 (colour) [default: 3 if any image is in colour]
    #[arg(long, value_name = "C", value_parser = parse_channels, help_heading = "Data")]
    pub channels: Option<usize>,
    /// The fraction of each class held out as the test set, for a CSV file or an image folder
    /// without test/ [default: 0.25 for CSV]
    #[arg(long, value_name = "F", value_parser = parse_fraction, help_heading = "Data")]
    pub test_fraction: Option<f32>,
    /// The CSV column holding the label, by header name or number from 1 [default: the last]
    #[arg(long, value_name = "COLUMN", help_heading = "Data")]
    pub label_column: Option<String>,
    /// Feed a CSV file's features as they are (by default each is standardised by the
    /// training part's mean and deviation, and the model keeps those)
    #[arg(long, help_heading = "Data")]
    pub no_standardize: bool,
}

/// Only where the examples are: for the commands that take the rest from the model.
#[derive(clap::Args, Clone)]
pub struct TestDataArgs {
    /// The data the model was trained on: MNIST's IDX folder by default ($NNDL_DATA, else the
    /// user cache folder), else the image folder or CSV file (only its test part is used)
    /// [default for those: the path recorded in the model]
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    data: TestDataArgs,
}

fn parse_hxw(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("'{s}' is not a size like 32x32");
    let (h, w) = s.split_once(['x', '×']).ok_or_else(bad)?;
    let (h, w): (usize, usize) = (h.trim().parse().map_err(|_| bad())?, w.trim().parse().map_err(|_| bad())?);
    if h == 0 || w == 0 || h > 8192 || w > 8192 {
        return Err(format!("'{s}': give sides from 1 to 8192"));
    }
    Ok((h, w))
}

fn parse_channels(s: &str) -> Result<usize, String> {
    match s {
        "1" | "grey" | "gray" => Ok(1),
        "3" | "rgb" | "colour" | "color" => Ok(3),
        _ => Err(format!("'{s}' is not a channel count (give 1 for grey or 3 for colour)")),
    }
}

fn parse_fraction(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(f) if f > 0.0 && f < 1.0 => Ok(f),
        _ => Err(format!("'{s}' is not a fraction between 0 and 1 (e.g. 0.25)")),
    }
}

pub fn download(args: DownloadArgs) -> anyhow::Result<()> {
    let dir = data::resolve_dir(args.data.data.as_deref());
    let fetched = data::ensure_present(&dir, data::MIRRORS, std::io::stderr().is_terminal())
        .with_context(|| format!("MNIST in {}", dir.display()))?;
    if fetched.is_empty() {
        println!("MNIST is already in {}", dir.display());
    } else {
        println!("downloaded and verified {} into {}", fetched.join(", "), dir.display());
    }
    Ok(())
}

impl DataArgs {
    /// The format `--data` will be read in, and its path: MNIST's folder when `--data` is
    /// not given. Reads nothing.
    pub fn resolve(&self) -> (Format, PathBuf) {
        let path = data::resolve_dir(self.data.as_deref());
        let format = self.format.unwrap_or_else(|| match &self.data {
            None => Format::Idx,
            Some(p) => Format::detect(p),
        });
        (format, path)
    }

    /// Options that make no sense for the format are refused (before any data is read).
    pub fn check(&self, format: Format) -> anyhow::Result<()> {
        let only = |flag: &str, for_what: &str| bail!("{flag}: applies to {for_what} only");
        if format != Format::Images && self.image_size.is_some() {
            return only("--image-size", "image folders");
        }
        if format != Format::Images && self.channels.is_some() {
            return only("--channels", "image folders");
        }
        if format != Format::Csv && self.label_column.is_some() {
            return only("--label-column", "CSV files");
        }
        if format != Format::Csv && self.no_standardize {
            return only("--no-standardize", "CSV files");
        }
        if format == Format::Idx && self.test_fraction.is_some() {
            return only("--test-fraction", "CSV files and image folders (IDX data has its own test files)");
        }
        Ok(())
    }

    /// Reads the examples (downloading MNIST first if that is what is asked for and it is
    /// missing); `seed` seeds the test split and the order of the training examples.
    pub fn load(&self, seed: u64) -> anyhow::Result<Loaded> {
        let (format, path) = self.resolve();
        if format == Format::Idx {
            data::locate_or_download(self.data.as_deref(), std::io::stderr().is_terminal())
                .map_err(data_error)?;
        }
        let opts = LoadOptions {
            format: Some(format),
            image_size: self.image_size,
            channels: self.channels,
            test_fraction: self.test_fraction,
            label_column: self.label_column.clone(),
            standardize: Some(!self.no_standardize),
            seed,
        };
        source::load(&path, &opts).map_err(data_error)
    }

    /// Whether the examples are already known to have MNIST's shape without reading them:
    /// IDX data that is not there yet (and will be downloaded: MNIST).
    pub fn is_mnist_to_download(&self) -> bool {
        let (format, path) = self.resolve();
        format == Format::Idx
            && !matches!(data::find_file(&path, data::TRAIN_IMAGES), Ok(Some(_)))
            && !matches!(data::find_file(&path, data::TEST_IMAGES), Ok(Some(_)))
    }
}

/// A data error as the CLI reports it: with the flag that can fix it (the library's messages
/// name files and values, not flags).
pub fn data_error(e: data::DataError) -> anyhow::Error {
    use data::DataError as E;
    let flag = match &e {
        E::ImageSizes { .. } => "--image-size",
        E::BadOption { option: "channel count", .. } => "--channels",
        E::BadOption { option: "image size", .. } => "--image-size",
        E::SmallSplit { .. } | E::BadOption { .. } => "--test-fraction",
        E::FolderLayout { .. } => "--data/--test-fraction",
        E::CsvNoColumn { .. } => "--label-column",
        E::Split { .. } => "--train-size/--validation-size",
        _ => "--data",
    };
    anyhow::Error::new(e).context(flag)
}

/// The test examples for a model whose input is `input`: from `--data`, else MNIST's folder
/// (IDX models), else the path recorded when the model was trained (`recorded`).
pub fn load_test(args: &TestDataArgs, input: &InputInfo, recorded: Option<&Path>) -> anyhow::Result<Dataset> {
    let path = match (&args.data, input.format) {
        (Some(p), _) => p.clone(),
        (None, Format::Idx) => {
            data::locate_or_download_test(None, std::io::stderr().is_terminal()).map_err(data_error)?;
            data::resolve_dir(None)
        }
        (None, format) => match recorded {
            Some(p) => p.to_path_buf(),
            None => bail!(
                "--data: give the {} the model was trained on",
                if format == Format::Csv { "CSV file" } else { "image folder" }
            ),
        },
    };
    if args.data.is_some() && input.format == Format::Idx {
        data::locate_or_download_test(Some(&path), std::io::stderr().is_terminal()).map_err(data_error)?;
    }
    source::load_test(&path, input).map_err(data_error)
}
