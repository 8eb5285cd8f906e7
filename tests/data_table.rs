//! CSV tables (`nndl::data::table`): the real wine table from `../shared/data`, tables written
//! here, standardisation, rows to predict, and every bad input, each a one-line error naming
//! the file and, for a row or a cell, its line and column.

use std::path::{Path, PathBuf};
use std::process::Command;

use nndl::data::{CsvOptions, DataError, Dataset, Features, Standardize, load_csv, read_rows};

// ---------------------------------------------------------------------------------------------
// Helpers

/// `../shared/data` beside the crate, or `None` (and a line saying the test is skipped).
fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("{test}: skipped: {} is absent (a fresh clone has no ../shared)", dir.display());
        None
    }
}

/// `text` written to `name` in a new temporary folder.
fn csv(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn opts() -> CsvOptions {
    CsvOptions::default()
}

fn floats(d: &Dataset) -> &[f32] {
    match &d.features {
        Features::Floats(f) => f,
        Features::Bytes(_) => panic!("a table holds floats"),
    }
}

fn rows_of(d: &Dataset) -> Vec<Vec<f32>> {
    floats(d).chunks(d.input_size()).map(<[f32]>::to_vec).collect()
}

fn names(d: &Dataset) -> Vec<&str> {
    d.labels.iter().map(|&l| d.classes[l as usize].as_str()).collect()
}

fn count(d: &Dataset, class: &str) -> usize {
    names(d).iter().filter(|n| **n == class).count()
}

/// The error's message: one line, naming `path`, holding each of `parts`.
fn check_message(err: &DataError, path: &Path, parts: &[&str]) -> String {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "not one line: {msg}");
    assert!(msg.contains(&path.display().to_string()), "does not name {}: {msg}", path.display());
    for part in parts {
        assert!(msg.contains(part), "no '{part}' in: {msg}");
    }
    msg
}

/// `load_csv` of `text` with `o`: the error, checked to be one line naming the file and `parts`.
fn load_err(text: &str, o: &CsvOptions, parts: &[&str]) -> DataError {
    let (_dir, path) = csv("t.csv", text);
    let err = load_csv(&path, o).unwrap_err();
    check_message(&err, &path, parts);
    err
}

// ---------------------------------------------------------------------------------------------
// Real data

#[test]
fn wine_loads_split_stratified_and_standardises() {
    let Some(data) = shared_data("wine") else { return };
    let path = data.join("wine.csv");
    let (split, info) = load_csv(&path, &CsvOptions { seed: 3, ..opts() }).unwrap();
    let (train, test) = (&split.train, &split.test);
    assert_eq!((train.len(), test.len()), (133, 45));
    assert_eq!(train.input_size(), 13);
    assert!(train.shape.is_flat() && test.shape == train.shape);
    assert_eq!(info.feature_names.len(), 13);
    assert_eq!((info.feature_names[0].as_str(), info.feature_names[12].as_str()), ("alcohol", "proline"));
    assert_eq!(info.label_column, "class");
    assert_eq!(train.classes, ["class_0", "class_1", "class_2"]);
    // Stratified: 59, 71, 48 rows give round(¼ of each) = 15, 18, 12 to the test part.
    assert_eq!([count(test, "class_0"), count(test, "class_1"), count(test, "class_2")], [15, 18, 12]);
    assert_eq!([count(train, "class_0"), count(train, "class_1"), count(train, "class_2")], [44, 53, 36]);
    // The training part is shuffled: a validation set of 20 from its end has every class.
    let tail = &names(train)[113..];
    assert!(["class_0", "class_1", "class_2"].iter().all(|c| tail.contains(c)), "{tail:?}");

    // Every row of the file is in one part or the other, with its own label: read_rows gives
    // the file's rows in order, row 0 as written.
    let all = read_rows(&path, &info.feature_names).unwrap();
    assert_eq!(all.len(), 178);
    let row0 = [14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0];
    assert_eq!(all[0], row0);
    let mut parts: Vec<Vec<f32>> = [rows_of(train), rows_of(test)].concat();
    let mut rows = all.clone();
    let key = |a: &Vec<f32>, b: &Vec<f32>| {
        a.iter().zip(b).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
    };
    parts.sort_by(key);
    rows.sort_by(key);
    assert_eq!(parts, rows);
    // The test part keeps the file's order; the first rows of the file are class_0.
    let test_rows = rows_of(test);
    let positions: Vec<usize> = test_rows.iter().map(|r| all.iter().position(|a| a == r).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(names(test)[0], "class_0");
    // Features found by name, in any order.
    let reversed: Vec<String> = info.feature_names.iter().rev().cloned().collect();
    let back = read_rows(&path, &reversed).unwrap();
    assert_eq!(back[0], row0.iter().rev().copied().collect::<Vec<f32>>());

    // Reproducible for a seed, another split for another seed.
    let (again, _) = load_csv(&path, &CsvOptions { seed: 3, ..opts() }).unwrap();
    assert_eq!((&again.train, &again.test), (train, test));
    let (other, _) = load_csv(&path, &CsvOptions { seed: 4, ..opts() }).unwrap();
    assert_ne!(other.test, *test);
    assert_eq!(other.test.len(), 45);

    // Standardised on the training part: mean 0 and deviation 1 there, for every feature
    // (their raw scales differ 1,000-fold: proline is ~750, hue ~1).
    let scale = Standardize::fit(train);
    assert!(scale.std[12] > 100.0 && scale.std[10] < 1.0, "{scale:?}");
    let mut scaled = train.clone();
    scale.apply(&mut scaled);
    let f = floats(&scaled);
    for j in 0..13 {
        let column: Vec<f64> = f.chunks(13).map(|r| f64::from(r[j])).collect();
        let mean = column.iter().sum::<f64>() / 133.0;
        let std = (column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 133.0).sqrt();
        assert!(mean.abs() < 1e-5 && (std - 1.0).abs() < 1e-4, "feature {j}: mean {mean}, std {std}");
    }
    assert_eq!(scaled.labels, train.labels);
    // apply_row does to one row what apply does to a data set: row 0 of the file, wherever
    // the split put it.
    let mut row = all[0].clone();
    scale.apply_row(&mut row);
    let mut scaled_test = test.clone();
    scale.apply(&mut scaled_test);
    let (raw, done) =
        ([rows_of(train), rows_of(test)].concat(), [rows_of(&scaled), rows_of(&scaled_test)].concat());
    let at = raw.iter().position(|r| *r == all[0]).unwrap();
    assert_eq!(row, done[at]);
    assert!(row.iter().all(|v| v.abs() < 5.0) && row != all[0], "{row:?}");
}

// ---------------------------------------------------------------------------------------------
// Tables written here

#[test]
fn the_label_column_is_the_last_by_default_or_named_or_numbered() {
    let text = "a,kind,b\n1,x,2\n3,y,4\n5,x,6\n7,y,8\n";
    let (_d, path) = csv("t.csv", text);
    // Default: the last column, 'b'; then 'kind' is a feature, and its text is refused.
    let err = load_csv(&path, &opts()).unwrap_err();
    check_message(&err, &path, &["line 2, column 'kind': 'x' is not a number"]);
    for column in ["kind", "2", " kind "] {
        let (split, info) =
            load_csv(&path, &CsvOptions { label_column: Some(column.into()), test_fraction: 0.5, ..opts() })
                .unwrap();
        assert_eq!(info.label_column, "kind");
        assert_eq!(info.feature_names, ["a", "b"]);
        assert_eq!(split.train.classes, ["x", "y"]);
        assert_eq!((split.train.len(), split.test.len()), (2, 2));
        // Each row's features with its own label.
        for d in [&split.train, &split.test] {
            for (row, name) in rows_of(d).iter().zip(names(d)) {
                assert_eq!(name, if row[0] == 1.0 || row[0] == 5.0 { "x" } else { "y" }, "{row:?}");
                assert_eq!(row[1], row[0] + 1.0);
            }
        }
    }
}

#[test]
fn classes_sort_as_numbers_when_they_all_are() {
    let mut text = String::from("f,label\n");
    for (i, l) in ["10", "2", "1", "2", "10", "1", "1.5", "1.5"].iter().enumerate() {
        text += &format!("{i},{l}\n");
    }
    let (_d, path) = csv("t.csv", &text);
    let (split, _) = load_csv(&path, &CsvOptions { test_fraction: 0.5, ..opts() }).unwrap();
    assert_eq!(split.train.classes, ["1", "1.5", "2", "10"]);
    for d in [&split.train, &split.test] {
        for (row, name) in rows_of(d).iter().zip(names(d)) {
            let want = ["10", "2", "1", "2", "10", "1", "1.5", "1.5"][row[0] as usize];
            assert_eq!(name, want);
        }
    }
    let text = text.replace("10\n", "ten\n");
    let (_d, path) = csv("t.csv", &text);
    let (split, _) = load_csv(&path, &CsvOptions { test_fraction: 0.5, ..opts() }).unwrap();
    assert_eq!(split.train.classes, ["1", "1.5", "2", "ten"]);
}

#[test]
fn blank_lines_whitespace_quotes_crlf_and_a_bom_are_read() {
    let text = "\u{feff}\"width\", height ,class\r\n\r\n 1.5 ,\"2\",  cat \r\n   \r\n , , \r\n3,4e0,dog\r\n-5,+6,cat\r\n7,8,\"dog\"";
    let (_d, path) = csv("t.csv", text);
    let (split, info) = load_csv(&path, &CsvOptions { test_fraction: 0.5, ..opts() }).unwrap();
    assert_eq!(info.feature_names, ["width", "height"]);
    assert_eq!(info.label_column, "class");
    assert_eq!(split.train.classes, ["cat", "dog"]);
    let mut rows: Vec<Vec<f32>> = [rows_of(&split.train), rows_of(&split.test)].concat();
    rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
    assert_eq!(rows, [vec![-5.0, 6.0], vec![1.5, 2.0], vec![3.0, 4.0], vec![7.0, 8.0]]);
    assert_eq!(
        read_rows(&path, &info.feature_names).unwrap(),
        [[1.5, 2.0], [3.0, 4.0], [-5.0, 6.0], [7.0, 8.0]]
    );
}

#[test]
fn the_split_is_stratified_seeded_and_refused_when_too_small() {
    let mut text = String::from("x,y\n");
    for i in 0..12 {
        text += &format!("{i},{}\n", if i < 8 { "big" } else { "small" });
    }
    let (_d, path) = csv("t.csv", &text);
    let (split, _) = load_csv(&path, &opts()).unwrap();
    assert_eq!([count(&split.test, "big"), count(&split.test, "small")], [2, 1]);
    assert_eq!([count(&split.train, "big"), count(&split.train, "small")], [6, 3]);
    let tests: Vec<Dataset> =
        (0..6).map(|seed| load_csv(&path, &CsvOptions { seed, ..opts() }).unwrap().0.test).collect();
    assert!(tests.iter().any(|t| *t != tests[0]), "every seed drew the same test rows");

    // One row of each class: nothing can go to the test part.
    let err = load_err("x,y\n1,a\n2,b\n", &opts(), &["2 examples are too few", "test part would be empty"]);
    assert!(matches!(err, DataError::SmallSplit { examples: 2, empty: "test", .. }), "{err:?}");
    for bad in [0.0, 1.0, -0.5, f32::INFINITY] {
        let (_d, path) = csv("t.csv", "x,y\n1,a\n2,b\n");
        let err = load_csv(&path, &CsvOptions { test_fraction: bad, ..opts() }).unwrap_err();
        assert!(matches!(err, DataError::BadOption { option: "test fraction", .. }), "{err:?}");
    }
}

#[test]
fn standardize_measures_the_training_part_and_keeps_constant_features() {
    let data = Dataset {
        shape: nndl::layers::Shape::flat(3),
        features: Features::Floats(vec![1.0, 5.0, 0.1, 3.0, 5.0, 0.1, 5.0, 5.0, 0.1, 7.0, 5.0, 0.1]),
        labels: vec![0, 1, 0, 1],
        classes: vec!["a".into(), "b".into()],
    };
    let s = Standardize::fit(&data);
    // Feature 0: mean 4, population variance (9 + 1 + 1 + 9) / 4 = 5.
    assert_eq!(s.mean, [4.0, 5.0, 0.1]);
    assert!((s.std[0] - 5f32.sqrt()).abs() < 1e-6);
    assert_eq!(&s.std[1..], [1.0, 1.0], "constant features keep a deviation of 1");
    assert!(s.check(3).is_ok());
    let mut row = vec![4.0 + 5f32.sqrt(), 6.0, 0.1];
    s.apply_row(&mut row);
    assert!((row[0] - 1.0).abs() < 1e-6 && row[1] == 1.0 && row[2] == 0.0, "{row:?}");
    // It travels in a model file as JSON (or any serde format).
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<Standardize>(&json).unwrap(), s);
    // What a crafted model file could hold is caught by check.
    assert!(s.check(4).unwrap_err().contains("3 means"));
    let zero = Standardize { mean: vec![0.0], std: vec![0.0] };
    assert!(zero.check(1).unwrap_err().contains("standard deviation of feature 1"));
    let nan = Standardize { mean: vec![f32::NAN], std: vec![1.0] };
    assert!(nan.check(1).is_err());
    // An empty data set: nothing to measure, nothing broken.
    let empty = Dataset { features: Features::Floats(Vec::new()), labels: Vec::new(), ..data.clone() };
    let s = Standardize::fit(&empty);
    assert_eq!((s.mean, s.std), (vec![0.0; 3], vec![1.0; 3]));
}

// ---------------------------------------------------------------------------------------------
// Bad inputs: each a one-line error naming the file, and the line and column where there is one

#[test]
fn a_ragged_row_is_named_by_its_line_and_counts() {
    let err = load_err("a,b,c\n1,2,x\n\n3,4\n", &opts(), &["line 4 has 2 fields but the header has 3"]);
    assert!(matches!(err, DataError::CsvRagged { line: 4, found: 2, expected: 3, .. }), "{err:?}");
    load_err("a,b,c\n1,2,x\n3,4,y,5\n", &opts(), &["line 3 has 4 fields but the header has 3"]);
    // read_rows too.
    let (_d, path) = csv("rows.csv", "a,b\n1,2\n3\n");
    let err = read_rows(&path, &["a".into(), "b".into()]).unwrap_err();
    check_message(&err, &path, &["line 3 has 1 fields"]);
}

#[test]
fn a_cell_that_is_not_a_finite_number_is_named_by_line_column_and_value() {
    let err = load_err(
        "alpha,beta,class\n1,2,x\n\n3, abc ,y\n",
        &opts(),
        &["line 4, column 'beta': 'abc' is not a number"],
    );
    assert!(matches!(err, DataError::CsvCell { line: 4, .. }), "{err:?}");
    for (cell, why) in [
        ("NaN", "not a finite number"),
        ("nan", "not a finite number"),
        ("inf", "not a finite number"),
        ("-Infinity", "not a finite number"),
        ("1e39", "beyond the range"),
        ("", "empty, not a number"),
        ("1,5", ""), // a comma makes two fields: ragged
    ] {
        let text = format!("alpha,beta,class\n1,2,x\n3,{cell},y\n");
        let (_d, path) = csv("t.csv", &text);
        let err = load_csv(&path, &opts()).unwrap_err();
        let msg = check_message(&err, &path, &["line 3", why]);
        if !why.is_empty() {
            assert!(msg.contains(&format!("column 'beta': '{cell}' is {why}")), "{msg}");
        }
    }
    // A long value is shortened in the message; the message stays one line.
    let long = format!("{}\nmore", "z".repeat(5000));
    let text = format!("alpha,beta,class\n1,\"{long}\",x\n2,3,y\n");
    let (_d, path) = csv("t.csv", &text);
    let msg = check_message(&load_csv(&path, &opts()).unwrap_err(), &path, &["line 2", "…"]);
    assert!(msg.len() < 600, "{msg}");
    // An empty label.
    load_err("a,class\n1,x\n2,\n3,y\n", &opts(), &["line 3, column 'class'", "empty label"]);
    // read_rows: the same rules.
    let (_d, path) = csv("rows.csv", "b,a\n1,2\n3,inf\n");
    let err = read_rows(&path, &["a".into(), "b".into()]).unwrap_err();
    check_message(&err, &path, &["line 3, column 'a': 'inf' is not a finite number"]);
}

#[test]
fn one_class_only_is_refused() {
    let err = load_err(
        "a,b,class\n1,2,x\n3,4,x\n",
        &opts(),
        &["1 distinct value of the label column 'class' found (x)"],
    );
    assert!(matches!(err, DataError::TooFewClasses { .. }), "{err:?}");
}

#[test]
fn an_unknown_label_column_is_refused_with_the_header() {
    for column in ["kind", "0", "4", "-1"] {
        let o = CsvOptions { label_column: Some(column.into()), ..opts() };
        let err = load_err(
            "a,b,class\n1,2,x\n3,4,y\n",
            &o,
            &[&format!("no column '{column}'"), "3 columns: a, b, class", "from 1 to 3"],
        );
        assert!(matches!(err, DataError::CsvNoColumn { .. }), "{err:?}");
    }
}

#[test]
fn empty_files_header_only_and_bad_headers_are_refused() {
    for text in ["", "\n\n  \n"] {
        let err = load_err(text, &opts(), &["the file is empty", "header row"]);
        assert!(matches!(err, DataError::CsvEmpty { .. }), "{err:?}");
    }
    for text in ["a,b,class\n", "a,b,class\n\n\n"] {
        load_err(text, &opts(), &["no data rows"]);
        let (_d, path) = csv("rows.csv", text);
        check_message(&read_rows(&path, &["a".into()]).unwrap_err(), &path, &["no data rows"]);
    }
    load_err(",a,class\n0,1,x\n1,2,y\n", &opts(), &["line 1: column 1 has no name", "row index"]);
    load_err("a,b,a\n0,1,x\n1,2,y\n", &opts(), &["line 1", "'a' appears twice (columns 1 and 3)"]);
    load_err("a;b;class\n0;1;x\n1;2;y\n", &opts(), &["only the label column 'a;b;class'", "comma-separated"]);
}

#[test]
fn rows_to_predict_need_every_feature_column() {
    let (_d, path) = csv("rows.csv", "b,extra,label\n1,2,x\n");
    let needed: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let err = read_rows(&path, &needed).unwrap_err();
    assert!(
        matches!(&err, DataError::CsvMissingColumns { missing, .. } if *missing == ["a", "c"]),
        "{err:?}"
    );
    check_message(&err, &path, &["no column 'a' (nor 1 more", "(a, b, c)"]);
    let (_d, path) = csv("rows.csv", "b,a,b\n1,2,3\n");
    check_message(
        &read_rows(&path, &needed[..2]).unwrap_err(),
        &path,
        &["'b' appears twice (columns 1 and 3)"],
    );
    // Extra columns, duplicated or not, are ignored.
    let (_d, path) = csv("rows.csv", "x,b,x,a\n9,1,9,2\n");
    assert_eq!(read_rows(&path, &needed[..2]).unwrap(), [[2.0, 1.0]]);
}

#[test]
fn not_a_regular_file_or_not_utf8_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.csv");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let err = load_csv(&fifo, &opts()).unwrap_err();
    assert!(matches!(err, DataError::CsvFile { .. }), "{err:?}");
    check_message(&err, &fifo, &["FIFO", "not a regular file"]);
    check_message(&read_rows(&fifo, &[]).unwrap_err(), &fifo, &["FIFO"]);
    let folder = dir.path().join("folder.csv");
    std::fs::create_dir(&folder).unwrap();
    check_message(&load_csv(&folder, &opts()).unwrap_err(), &folder, &["a directory"]);
    let missing = dir.path().join("missing.csv");
    check_message(&load_csv(&missing, &opts()).unwrap_err(), &missing, &["cannot read"]);

    let latin1 = dir.path().join("latin1.csv");
    std::fs::write(&latin1, b"a,class\n1,x\n2,caf\xe9\n").unwrap();
    let err = load_csv(&latin1, &opts()).unwrap_err();
    assert!(matches!(err, DataError::CsvSyntax { line: 3, .. }), "{err:?}");
    check_message(&err, &latin1, &["line 3", "field 2 is not UTF-8", "UTF-8 text"]);
}

/// Runs the test `name` again in a child process with `vars` set (the environment is the
/// process's: a test that changes it must not share the process with others).
fn in_child(name: &str, vars: &[(&str, &str)]) -> bool {
    if std::env::var_os("NNDL_TEST_CHILD").is_some() {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("NNDL_TEST_CHILD", "1")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child {name}: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    false
}

#[test]
fn a_table_beyond_the_data_limit_is_refused_at_the_row_that_crosses_it() {
    if !in_child(
        "a_table_beyond_the_data_limit_is_refused_at_the_row_that_crosses_it",
        &[("NNDL_MAX_DATA_BYTES", "40")],
    ) {
        return;
    }
    // Two features of 4 bytes: 5 rows fit in 40 bytes, the 6th (line 7) does not.
    let mut text = String::from("a,b,class\n");
    for i in 0..5 {
        text += &format!("{i},{i},{}\n", i % 2);
    }
    let (_d, path) = csv("t.csv", &text);
    assert_eq!(load_csv(&path, &CsvOptions { test_fraction: 0.4, ..opts() }).unwrap().0.train.len(), 3);
    text += "5,5,1\n";
    let (_d, path) = csv("t.csv", &text);
    let err = load_csv(&path, &opts()).unwrap_err();
    assert!(matches!(err, DataError::TooMuchData { bytes: 48, limit: 40, .. }), "{err:?}");
    check_message(&err, &path, &["up to line 7", "NNDL_MAX_DATA_BYTES"]);
}
