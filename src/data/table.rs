//! Tables: a CSV file of numeric features and a label column, split into training and test
//! parts, and [`Standardize`] to put the features on one scale.
//!
//! ```no_run
//! # fn main() -> Result<(), nndl::data::DataError> {
//! use nndl::data::{CsvOptions, Standardize, load_csv};
//! let (mut split, info) = load_csv("wine.csv".as_ref(), &CsvOptions::default())?;
//! let scale = Standardize::fit(&split.train);
//! scale.apply(&mut split.train);
//! scale.apply(&mut split.test);
//! println!("{} features: {:?}; classes {:?}", info.feature_names.len(), info.feature_names, split.train.classes);
//! # Ok(()) }
//! ```
//!
//! The file format ([`load_csv`], [`read_rows`]):
//! - comma-separated, UTF-8 (a byte-order mark is ignored), fields may be quoted as usual;
//! - the first non-blank line is the header, naming every column (no empty name, no name
//!   twice);
//! - every other non-blank line is a row with one value per column; surrounding whitespace is
//!   trimmed, blank lines are skipped;
//! - one column is the label (any text; [`CsvOptions::label_column`], default the last), every
//!   other column is a feature and must hold finite numbers within `f32`'s range.
//!
//! A file is read whole, and only if it is a regular file of at most [`MAX_CSV_BYTES`] (a FIFO
//! or a device is refused); the numbers stay within [`max_data_bytes`],
//! checked row by row, with buffers reserved by `try_reserve`. Every error is one line naming
//! the file and, for a row or a cell, its line (1-based, as an editor shows it) and column.

use std::collections::HashMap;
use std::path::Path;

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, Features};
use super::error::{DataError, one_line};
use super::folder::{Split, check_fraction, permute, test_count};
use super::idx::max_data_bytes;
use crate::files::FileError;
use crate::layers::Shape;

/// The largest CSV file read: 1 GiB.
pub const MAX_CSV_BYTES: u64 = 1 << 30;

/// How to read a CSV table.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvOptions {
    /// The label column: a header name, or else a column number counted from 1; `None` is the
    /// last column. (A header name wins over a number: a column named `3` is found by name.)
    pub label_column: Option<String>,
    /// The fraction of each class given to the test part, in (0, 1). Default 0.25.
    pub test_fraction: f32,
    /// Seeds the split and the shuffle of the training part.
    pub seed: u64,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { label_column: None, test_fraction: 0.25, seed: 0 }
    }
}

/// What [`load_csv`] found in the header, beside the data.
#[derive(Clone, Debug, PartialEq)]
pub struct TableInfo {
    /// The feature columns' names, in the order of the features in each example (the file's
    /// order, the label column left out). [`read_rows`] finds them by these names.
    pub feature_names: Vec<String>,
    /// The label column's name.
    pub label_column: String,
}

/// Reads a CSV table (see the module doc) and splits it, stratified by class: each class
/// gives round(`test_fraction` × its rows) to the test part, at least one to each part from a
/// class of two rows or more; which rows is drawn with the seed. The training part is
/// shuffled (so a validation set carved from its end has every class); the test part keeps
/// the file's order.
///
/// Each example is the row's features as `f32` ([`Features::Floats`], shape
/// [`Shape::flat`]`(features)`); the classes are the label column's distinct values, sorted
/// numerically if every value is a number, else as text.
///
/// Errors (one-line [`DataError`]s naming the file, and the line and column where there is
/// one): not a regular file or larger than [`MAX_CSV_BYTES`]; empty, or a header only; an
/// unnamed or repeated column name; no such label column; no feature column; a row with
/// another number of fields than the header; a feature that is not a finite `f32`, or an
/// empty label; fewer than 2 classes; too few rows for the fraction; more numbers than
/// [`max_data_bytes`]; a test fraction outside (0, 1).
pub fn load_csv(path: &Path, opts: &CsvOptions) -> Result<(Split, TableInfo), DataError> {
    check_fraction(opts.test_fraction)?;
    let limit = max_data_bytes()?;
    let text = read_file(path)?;
    let mut rows = Rows::new(path, &text);
    let header = rows.header()?;
    let header_line = rows.line;
    if let Some((problem, fix)) = name_problem(&header) {
        return Err(DataError::CsvHeader { path: path.to_path_buf(), line: header_line, problem, fix });
    }
    let label = label_index(path, &header, opts.label_column.as_deref())?;
    if header.len() < 2 {
        return Err(DataError::CsvHeader {
            path: path.to_path_buf(),
            line: header_line,
            problem: format!(
                "the header has only the label column '{}', no feature column",
                crate::shorten(&header[label], 60)
            ),
            fix: "add feature columns; nndl reads comma-separated values (is the file separated by ';' or tabs?)",
        });
    }
    let columns: Vec<usize> = (0..header.len()).filter(|&j| j != label).collect();
    let p = columns.len();

    let mut features: Vec<f32> = Vec::new();
    let mut labels: Vec<u32> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut ids: HashMap<String, u32> = HashMap::new();
    while rows.next()? {
        let (line, record) = (rows.line, &rows.record);
        check_width(path, line, record.len(), header.len())?;
        let bytes = ((features.len() + p) * size_of::<f32>()) as u64;
        if bytes > limit {
            return Err(DataError::TooMuchData {
                path: path.to_path_buf(),
                what: format!("the numbers up to line {line}"),
                bytes,
                limit,
            });
        }
        let oom = |what: &str, bytes: usize| DataError::OutOfMemory {
            path: path.to_path_buf(),
            what: what.to_string(),
            bytes: bytes as u64,
        };
        features.try_reserve(p).map_err(|_| oom("the table's numbers", bytes as usize))?;
        for &j in &columns {
            features.push(number(path, line, &header[j], record.get(j).unwrap_or_default())?);
        }
        let value = record.get(label).unwrap_or_default();
        if value.is_empty() {
            return Err(DataError::CsvCell {
                path: path.to_path_buf(),
                line,
                column: header[label].clone(),
                value: String::new(),
                why: "an empty label: every row needs one",
            });
        }
        let id = match ids.get(value) {
            Some(&id) => id,
            None => {
                let id = names.len() as u32;
                names.push(value.to_string());
                ids.insert(value.to_string(), id);
                id
            }
        };
        labels.try_reserve(1).map_err(|_| oom("the labels", labels.len() * 4))?;
        labels.push(id);
    }
    if labels.is_empty() {
        return Err(DataError::CsvEmpty {
            path: path.to_path_buf(),
            what: "the header row has no data rows after it",
        });
    }
    if names.len() < 2 {
        return Err(DataError::TooFewClasses {
            path: path.to_path_buf(),
            classes: names,
            what: format!("distinct value of the label column '{}'", crate::shorten(&header[label], 60)),
            fix: "check which column is the label, or add rows of the other classes",
        });
    }

    // Classes in order; labels as indices into them.
    let classes = sorted_classes(names.clone());
    let rank: Vec<u32> =
        names.iter().map(|n| classes.iter().position(|c| c == n).unwrap_or(0) as u32).collect();
    labels.iter_mut().for_each(|l| *l = rank[*l as usize]);

    let split = stratified(path, (features, labels, classes, p), opts.test_fraction, opts.seed)?;
    let info = TableInfo {
        feature_names: columns.iter().map(|&j| header[j].clone()).collect(),
        label_column: header[label].clone(),
    };
    Ok((split, info))
}

/// Reads the rows of a CSV file to predict: a header naming at least the model's feature
/// columns `feature_names` (matched by name, in any order; other columns, e.g. the label, are
/// ignored), then one row per example. Returns each row's features in the order of
/// `feature_names`. Cell and row rules and errors as for [`load_csv`]; at least one row is
/// needed, and every feature name must appear once in the header
/// ([`DataError::CsvMissingColumns`] lists what is missing).
pub fn read_rows(path: &Path, feature_names: &[String]) -> Result<Vec<Vec<f32>>, DataError> {
    let limit = max_data_bytes()?;
    let text = read_file(path)?;
    let mut rows = Rows::new(path, &text);
    let header = rows.header()?;
    let header_line = rows.line;
    let mut columns = Vec::with_capacity(feature_names.len());
    let mut missing = Vec::new();
    for name in feature_names {
        let mut found = header.iter().enumerate().filter(|(_, h)| *h == name).map(|(j, _)| j);
        match (found.next(), found.next()) {
            (Some(j), None) => columns.push(j),
            (None, _) => missing.push(name.clone()),
            (Some(a), Some(b)) => {
                return Err(DataError::CsvHeader {
                    path: path.to_path_buf(),
                    line: header_line,
                    problem: format!(
                        "the column '{}' appears twice (columns {} and {})",
                        crate::shorten(name, 60),
                        a + 1,
                        b + 1
                    ),
                    fix: "keep one column of each name",
                });
            }
        }
    }
    if !missing.is_empty() {
        return Err(DataError::CsvMissingColumns {
            path: path.to_path_buf(),
            missing,
            needed: feature_names.to_vec(),
        });
    }
    let mut out: Vec<Vec<f32>> = Vec::new();
    let row_bytes = (feature_names.len().max(1) * size_of::<f32>() + size_of::<Vec<f32>>()) as u64;
    while rows.next()? {
        let (line, record) = (rows.line, &rows.record);
        check_width(path, line, record.len(), header.len())?;
        let bytes = (out.len() as u64 + 1).saturating_mul(row_bytes);
        if bytes > limit {
            return Err(DataError::TooMuchData {
                path: path.to_path_buf(),
                what: format!("the rows up to line {line}"),
                bytes,
                limit,
            });
        }
        let oom = || DataError::OutOfMemory { path: path.to_path_buf(), what: "the rows".into(), bytes };
        let mut row = Vec::new();
        row.try_reserve_exact(columns.len()).map_err(|_| oom())?;
        for (&j, name) in columns.iter().zip(feature_names) {
            row.push(number(path, line, name, record.get(j).unwrap_or_default())?);
        }
        out.try_reserve(1).map_err(|_| oom())?;
        out.push(row);
    }
    if out.is_empty() {
        return Err(DataError::CsvEmpty {
            path: path.to_path_buf(),
            what: "the header row has no data rows after it",
        });
    }
    Ok(out)
}

/// Standardisation: each feature shifted by its mean and divided by its standard deviation, both
/// measured on the training part, so that features of any scale count alike. The model file
/// keeps it, so that `predict` applies it to new rows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Standardize {
    /// Each feature's mean over the training examples.
    pub mean: Vec<f32>,
    /// Each feature's population standard deviation over the training examples (1 for a
    /// feature that is constant there, so that it is only shifted).
    pub std: Vec<f32>,
}

impl Standardize {
    /// Measures the mean and the population standard deviation of each feature of `train`
    /// (in `f64`, two passes). A feature with the same value in every example, or a data set
    /// with no examples, gets standard deviation 1.
    pub fn fit(train: &Dataset) -> Standardize {
        let (n, p) = (train.len(), train.input_size());
        let value = |i: usize, j: usize| -> f64 {
            match &train.features {
                Features::Floats(f) => f64::from(f[i * p + j]),
                Features::Bytes(b) => f64::from(b[i * p + j]) / 255.0,
            }
        };
        let mut mean = Vec::with_capacity(p);
        let mut std = Vec::with_capacity(p);
        for j in 0..p {
            if n == 0 || (1..n).all(|i| value(i, j) == value(0, j)) {
                mean.push(if n == 0 { 0.0 } else { value(0, j) as f32 });
                std.push(1.0);
                continue;
            }
            let m = (0..n).map(|i| value(i, j)).sum::<f64>() / n as f64;
            let var = (0..n).map(|i| (value(i, j) - m).powi(2)).sum::<f64>() / n as f64;
            let s = var.sqrt() as f32;
            mean.push(m as f32);
            std.push(if s > 0.0 && s.is_finite() { s } else { 1.0 });
        }
        Standardize { mean, std }
    }

    /// Number of features it scales.
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// Whether it scales no feature.
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }

    /// Whether it can scale examples of `features` numbers: as many means and deviations as
    /// that, all finite, every deviation positive. What to check on one read from a model
    /// file before using it; the message says what is wrong.
    pub fn check(&self, features: usize) -> Result<(), String> {
        if self.mean.len() != features || self.std.len() != features {
            return Err(format!(
                "{} means and {} standard deviations for {features} features",
                self.mean.len(),
                self.std.len()
            ));
        }
        if let Some(j) = (0..features).find(|&j| !self.mean[j].is_finite()) {
            return Err(format!("the mean of feature {} is {}", j + 1, self.mean[j]));
        }
        if let Some(j) = (0..features).find(|&j| !(self.std[j].is_finite() && self.std[j] > 0.0)) {
            return Err(format!("the standard deviation of feature {} is {}", j + 1, self.std[j]));
        }
        Ok(())
    }

    /// Standardises every example of `data` in place: feature j becomes
    /// (x − mean\[j\]) / std\[j\]. A data set of bytes (images) becomes one of `f32` (its
    /// values scaled to [0, 1] first, as a batch would see them). Only the first
    /// [`len`](Self::len) features of each example are scaled: check with
    /// [`check`](Self::check) that the sizes agree.
    pub fn apply(&self, data: &mut Dataset) {
        let p = data.input_size();
        if p == 0 {
            return;
        }
        if let Features::Bytes(b) = &data.features {
            data.features = Features::Floats(b.iter().map(|&v| f32::from(v) / 255.0).collect());
        }
        if let Features::Floats(f) = &mut data.features {
            f.chunks_exact_mut(p).for_each(|row| self.apply_row(row));
        }
    }

    /// Standardises one example's features in place (see [`apply`](Self::apply)).
    pub fn apply_row(&self, row: &mut [f32]) {
        for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
            *x = (*x - m) / s;
        }
    }
}

/// Reads the file whole, refusing anything but a regular file of at most [`MAX_CSV_BYTES`].
fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let bad = |why: String| DataError::CsvFile { path: path.to_path_buf(), why };
    let mut bytes = crate::files::read_input(path, MAX_CSV_BYTES, "a CSV table").map_err(|e| match e {
        FileError::Io { error, .. } => DataError::Io { path: path.to_path_buf(), op: "read", error },
        FileError::NotRegular { what, .. } => bad(format!("it is {what}, not a regular file")),
        FileError::TooLarge { size, limit, .. } => {
            bad(format!("it is {size} bytes, more than the {limit} bytes accepted for a table"))
        }
        other => bad(one_line(other)),
    })?;
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    Ok(bytes)
}

/// The records of a CSV text, blank ones skipped, with the line each starts on.
struct Rows<'a> {
    path: &'a Path,
    text: &'a [u8],
    reader: csv::Reader<&'a [u8]>,
    record: csv::StringRecord,
    /// The current record's line (1-based).
    line: u64,
    /// Line breaks counted in `text[..counted]` (the csv crate's own line numbers do not
    /// count the blank lines it skips).
    breaks: (usize, u64),
}

impl<'a> Rows<'a> {
    fn new(path: &'a Path, text: &'a [u8]) -> Self {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text);
        Rows { path, text, reader, record: csv::StringRecord::new(), line: 0, breaks: (0, 0) }
    }

    /// The line (1-based) of the record that the csv crate places at `offset`: the first byte
    /// from there that is not a line break (it places a record after the blank lines before
    /// it, at the end of the previous record).
    fn line_at(&mut self, offset: u64) -> u64 {
        let (counted, breaks) = &mut self.breaks;
        let mut to = usize::try_from(offset).unwrap_or(usize::MAX).min(self.text.len());
        while self.text.get(to).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            to += 1;
        }
        if to > *counted {
            *breaks += self.text[*counted..to].iter().filter(|&&b| b == b'\n').count() as u64;
            *counted = to;
        }
        *breaks + 1
    }

    /// Moves to the next non-blank record; false at the end.
    fn next(&mut self) -> Result<bool, DataError> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return Ok(false),
                Ok(true) => {
                    if self.record.iter().all(str::is_empty) {
                        continue;
                    }
                    self.line = match self.record.position().map(csv::Position::byte) {
                        Some(byte) => self.line_at(byte),
                        None => self.line + 1,
                    };
                    return Ok(true);
                }
                Err(e) => return Err(self.syntax(e)),
            }
        }
    }

    /// The header's names (the first non-blank record).
    fn header(&mut self) -> Result<Vec<String>, DataError> {
        if !self.next()? {
            return Err(DataError::CsvEmpty { path: self.path.to_path_buf(), what: "the file is empty" });
        }
        Ok(self.record.iter().map(str::to_string).collect())
    }

    fn syntax(&mut self, e: csv::Error) -> DataError {
        let line = match e.position().map(csv::Position::byte) {
            Some(byte) => self.line_at(byte),
            None => self.line + 1,
        };
        let why = match e.kind() {
            csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not UTF-8 text", err.field() + 1),
            _ => one_line(&e),
        };
        DataError::CsvSyntax { path: self.path.to_path_buf(), line, why }
    }
}

/// Why the header's names cannot be used (an empty name, or one name twice), and what to do,
/// if they cannot.
fn name_problem(header: &[String]) -> Option<(String, &'static str)> {
    if let Some(j) = header.iter().position(String::is_empty) {
        return Some((
            format!("column {} has no name", j + 1),
            "name every column (an unnamed first column is often a row index: remove it)",
        ));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (j, name) in header.iter().enumerate() {
        if let Some(first) = seen.insert(name, j) {
            return Some((
                format!(
                    "the column name '{}' appears twice (columns {} and {})",
                    crate::shorten(name, 60),
                    first + 1,
                    j + 1
                ),
                "give every column its own name",
            ));
        }
    }
    None
}

/// The label column's index: `column` as a header name, else as a number from 1; the last
/// column without it.
fn label_index(path: &Path, header: &[String], column: Option<&str>) -> Result<usize, DataError> {
    let Some(column) = column else { return Ok(header.len().saturating_sub(1)) };
    let column = column.trim();
    if let Some(j) = header.iter().position(|h| h == column) {
        return Ok(j);
    }
    match column.parse::<usize>() {
        Ok(k) if (1..=header.len()).contains(&k) => Ok(k - 1),
        _ => Err(DataError::CsvNoColumn {
            path: path.to_path_buf(),
            column: column.to_string(),
            columns: header.to_vec(),
        }),
    }
}

fn check_width(path: &Path, line: u64, found: usize, expected: usize) -> Result<(), DataError> {
    if found == expected {
        Ok(())
    } else {
        Err(DataError::CsvRagged { path: path.to_path_buf(), line, found, expected })
    }
}

/// A feature cell as `f32`: a finite number within `f32`'s range.
fn number(path: &Path, line: u64, column: &str, cell: &str) -> Result<f32, DataError> {
    let bad = |why: &'static str| DataError::CsvCell {
        path: path.to_path_buf(),
        line,
        column: column.to_string(),
        value: cell.to_string(),
        why,
    };
    let v: f64 = cell
        .parse()
        .map_err(|_| bad(if cell.is_empty() { "empty, not a number" } else { "not a number" }))?;
    if !v.is_finite() {
        return Err(bad("not a finite number"));
    }
    let x = v as f32;
    if !x.is_finite() {
        return Err(bad("beyond the range of 32-bit floating point (±3.4e38)"));
    }
    Ok(x)
}

/// The classes sorted: as numbers if every name is one, else as text.
fn sorted_classes(mut names: Vec<String>) -> Vec<String> {
    let numbers: Option<Vec<f64>> =
        names.iter().map(|n| n.parse::<f64>().ok().filter(|v| v.is_finite())).collect();
    if numbers.is_some() {
        names.sort_by(|a, b| {
            let (x, y) = (a.parse::<f64>().unwrap_or(0.0), b.parse::<f64>().unwrap_or(0.0));
            x.total_cmp(&y).then_with(|| a.cmp(b))
        });
    } else {
        names.sort();
    }
    names
}

/// Splits the rows (`p` features each) by class (see [`load_csv`]), in place: the rows are
/// reordered so that the shuffled training rows come first and the test rows (in file order)
/// last, and the test rows are copied off the end.
fn stratified(
    path: &Path,
    (mut features, mut labels, classes, p): (Vec<f32>, Vec<u32>, Vec<String>, usize),
    fraction: f32,
    seed: u64,
) -> Result<Split, DataError> {
    let n = labels.len();
    let mut rng = crate::seeded_rng(seed);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes.len()];
    for (i, &l) in labels.iter().enumerate() {
        if let Some(rows) = by_class.get_mut(l as usize) {
            rows.push(i);
        }
    }
    let (mut train, mut test) = (Vec::with_capacity(n), Vec::new());
    for mut rows in by_class {
        rows.shuffle(&mut rng);
        let k = test_count(rows.len(), fraction);
        test.extend_from_slice(&rows[..k]);
        train.extend_from_slice(&rows[k..]);
    }
    for (set, empty) in [(&train, "training"), (&test, "test")] {
        if set.is_empty() {
            return Err(DataError::SmallSplit { path: path.to_path_buf(), examples: n, fraction, empty });
        }
    }
    test.sort_unstable();
    train.shuffle(&mut rng);
    let n_train = train.len();
    let mut order = train;
    order.extend_from_slice(&test);
    permute(&mut features, p, &order);
    permute(&mut labels, 1, &order);
    let rest = features.len() - n_train * p;
    let mut test_features = Vec::new();
    test_features.try_reserve_exact(rest).map_err(|_| DataError::OutOfMemory {
        path: path.to_path_buf(),
        what: "a copy of the test rows".into(),
        bytes: (rest * size_of::<f32>()) as u64,
    })?;
    test_features.extend_from_slice(&features[n_train * p..]);
    features.truncate(n_train * p);
    let test_labels = labels.split_off(n_train);
    let shape = Shape::flat(p);
    Ok(Split {
        train: Dataset { shape, features: Features::Floats(features), labels, classes: classes.clone() },
        test: Dataset { shape, features: Features::Floats(test_features), labels: test_labels, classes },
    })
}
