//! IDX parsing, the split and batches, on small synthetic files the tests write.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use nndl::data::{
    DEFAULT_MAX_DATA_BYTES, DataError, Dataset, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
    load_mnist, load_test, read_idx_images, read_idx_images_limited, read_idx_labels,
    read_idx_labels_limited,
};

/// An IDX images file: magic 0x803, count, rows, cols, then `pixels`.
fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for n in [0x803, count, rows, cols] {
        v.extend_from_slice(&n.to_be_bytes());
    }
    v.extend_from_slice(pixels);
    v
}

/// An IDX labels file: magic 0x801, count, then `labels`.
fn idx_labels(count: u32, labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for n in [0x801, count] {
        v.extend_from_slice(&n.to_be_bytes());
    }
    v.extend_from_slice(labels);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Deterministic "random" bytes (incompressible enough for gzip tests).
fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// The error's message: one line, naming `path`.
fn message_naming(err: &DataError, path: &Path) -> String {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "message is not one line: {msg}");
    assert!(msg.contains(&path.display().to_string()), "message does not name {}: {msg}", path.display());
    msg
}

#[test]
fn gzip_and_raw_are_told_apart_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let pixels = noise(3 * 4 * 5, 1);
    let raw = idx_images(3, 4, 5, &pixels);
    // Deliberately misleading names.
    let a = write(dir.path(), "raw-named.gz", &raw);
    let b = write(dir.path(), "gzip-named-raw", &gz(&raw));
    for path in [a, b] {
        let d = read_idx_images(&path).unwrap();
        assert_eq!((d.len(), d.shape.height, d.shape.width, d.input_size()), (3, 4, 5, 20));
        assert_eq!(d.all_bytes().unwrap(), pixels);
        assert!(d.labels.is_empty());
        assert_eq!(d.bytes(2).unwrap(), &pixels[40..60]);
    }
    let labels = [3, 1, 4, 1, 5, 9, 2, 6];
    let l = write(dir.path(), "labels", &gz(&idx_labels(8, &labels)));
    assert_eq!(read_idx_labels(&l).unwrap(), labels);
    let l = write(dir.path(), "labels.raw", &idx_labels(8, &labels));
    assert_eq!(read_idx_labels(&l).unwrap(), labels);
}

#[test]
fn wrong_magic_is_rejected_with_both_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let labels_as_images = write(dir.path(), "x.gz", &gz(&idx_labels(2, &[1, 2])));
    let err = read_idx_images(&labels_as_images).unwrap_err();
    assert!(matches!(err, DataError::BadMagic { found: 0x801, expected: 0x803, .. }), "{err:?}");
    let msg = message_naming(&err, &labels_as_images);
    assert!(msg.contains("0x00000801") && msg.contains("0x00000803"), "{msg}");

    let zeros = write(dir.path(), "zeros", &[0u8; 64]);
    let err = read_idx_labels(&zeros).unwrap_err();
    assert!(matches!(err, DataError::BadMagic { found: 0, expected: 0x801, .. }), "{err:?}");
    message_naming(&err, &zeros);

    let html = write(dir.path(), "page.gz", b"<html><body>404 Not Found</body></html>");
    let err = read_idx_images(&html).unwrap_err();
    assert!(matches!(err, DataError::BadMagic { .. }), "{err:?}");
}

#[test]
fn truncated_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let full = idx_images(4, 3, 3, &noise(36, 2));
    // Short data, both raw and gzip.
    for (name, bytes) in
        [("short", full[..full.len() - 5].to_vec()), ("short.gz", gz(&full[..full.len() - 5]))]
    {
        let path = write(dir.path(), name, &bytes);
        let err = read_idx_images(&path).unwrap_err();
        assert!(matches!(err, DataError::Truncated { expected: 36, found: 31, .. }), "{name}: {err:?}");
        let msg = message_naming(&err, &path);
        assert!(msg.contains("4 images of 3x3"), "{msg}");
    }
    // Short header, and an empty file.
    for (name, bytes) in [("head", full[..10].to_vec()), ("empty", Vec::new()), ("head.gz", gz(&full[..7]))] {
        let path = write(dir.path(), name, &bytes);
        let err = read_idx_images(&path).unwrap_err();
        assert!(matches!(err, DataError::Truncated { expected: 16, .. }), "{name}: {err:?}");
        message_naming(&err, &path);
    }
    let path = write(dir.path(), "labels", &idx_labels(10, &[1; 9]));
    assert!(matches!(read_idx_labels(&path), Err(DataError::Truncated { expected: 10, found: 9, .. })));
}

#[test]
fn more_data_than_the_header_says_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = idx_images(2, 3, 3, &noise(27, 3)); // three images' worth, header says two
    for (name, bytes) in [("long", bytes.clone()), ("long.gz", gz(&bytes))] {
        let path = write(dir.path(), name, &bytes);
        let err = read_idx_images(&path).unwrap_err();
        assert!(matches!(err, DataError::TooLong { expected: 18, .. }), "{name}: {err:?}");
        message_naming(&err, &path);
    }
    let path = write(dir.path(), "labels.gz", &gz(&idx_labels(3, &[1, 2, 3, 4])));
    assert!(matches!(read_idx_labels(&path), Err(DataError::TooLong { expected: 3, .. })));
}

#[test]
fn corrupt_gzip_stream_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let good = gz(&idx_images(50, 10, 10, &noise(5000, 4)));
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 16] {
        *b ^= 0x5a;
    }
    let path = write(dir.path(), "bad.gz", &bad);
    let err = read_idx_images(&path).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    let msg = message_naming(&err, &path);
    assert!(msg.contains("gzip"), "{msg}");

    // A damaged CRC in the trailer alone must be caught too.
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 1;
    let path = write(dir.path(), "crc.gz", &bad_crc);
    assert!(matches!(read_idx_images(&path), Err(DataError::Gzip { .. })));
}

#[test]
fn truncated_gzip_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let good = gz(&idx_images(50, 10, 10, &noise(5000, 5)));
    for cut in [good.len() / 2, good.len() - 4, 12] {
        let path = write(dir.path(), "cut.gz", &good[..cut]);
        let err = read_idx_images(&path).unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "cut at {cut}: {err:?}");
        message_naming(&err, &path);
    }
}

#[test]
fn huge_header_claims_fail_fast_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    // Raw: 4 billion 28x28 images claimed by a 1 KB file.
    let path = write(dir.path(), "raw", &idx_images(u32::MAX, 28, 28, &noise(1000, 6)));
    let err = read_idx_images(&path).unwrap_err();
    assert!(matches!(err, DataError::Truncated { found: 1000, .. }), "{err:?}");
    message_naming(&err, &path);
    // Gzip: more than any deflate stream of that size can expand to.
    let path = write(dir.path(), "big.gz", &gz(&idx_images(u32::MAX, 28, 28, &noise(1000, 6))));
    let err = read_idx_images(&path).unwrap_err();
    assert!(matches!(err, DataError::BadHeader { .. }), "{err:?}");
    let msg = message_naming(&err, &path);
    assert!(msg.contains(&format!("{} images of 28x28", u32::MAX)), "{msg}");
    // Gzip: a claim the ratio allows but the stream does not hold; read with a hard cap.
    let path = write(dir.path(), "plausible.gz", &gz(&idx_images(1_000_000, 1, 1, &noise(1000, 7))));
    let err = read_idx_images(&path).unwrap_err();
    assert!(matches!(err, DataError::Truncated { expected: 1_000_000, found: 1000, .. }), "{err:?}");
    // Dimensions whose product overflows u64, and a labels file claiming billions.
    let path = write(dir.path(), "overflow", &idx_images(u32::MAX, u32::MAX, u32::MAX, &[0; 8]));
    assert!(matches!(read_idx_images(&path), Err(DataError::BadHeader { .. })));
    let path = write(dir.path(), "labels.gz", &gz(&idx_labels(u32::MAX, &[1; 100])));
    assert!(matches!(read_idx_labels(&path), Err(DataError::BadHeader { .. })));
    assert!(started.elapsed().as_secs_f64() < 1.0, "took {:?}", started.elapsed());
}

#[test]
fn zero_sized_images_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "zero", &idx_images(5, 0, 28, &[]));
    let err = read_idx_images(&path).unwrap_err();
    assert!(matches!(err, DataError::BadHeader { .. }), "{err:?}");
    message_naming(&err, &path);
}

#[test]
fn any_label_values_are_classes_named_by_their_value() {
    // EMNIST letters use 1–26: the classes are the values that occur, in order.
    let dir = tempfile::tempdir().unwrap();
    let write_pair = |prefix: &str, labels: &[u8]| {
        let n = labels.len() as u32;
        let pixels: Vec<u8> = (0..n * 6).map(|i| i as u8).collect();
        write(dir.path(), &format!("{prefix}-images-idx3-ubyte"), &idx_images(n, 2, 3, &pixels));
        write(dir.path(), &format!("{prefix}-labels-idx1-ubyte"), &idx_labels(n, labels));
    };
    write_pair("train", &[26, 1, 12, 200, 1]);
    write_pair("t10k", &[12, 7]);
    let m = load_mnist(dir.path(), 5, 0).unwrap();
    assert_eq!(m.training.classes, ["1", "7", "12", "26", "200"]);
    assert_eq!(m.training.labels, [3, 0, 2, 4, 0]);
    assert_eq!((m.test.labels.clone(), m.test.classes.clone()), (vec![2, 1], m.training.classes.clone()));
    // classes.txt names them, line k for value k − 1
    let names: String = (0..=200).map(|v| format!("class-{v}\n")).collect();
    write(dir.path(), "classes.txt", names.as_bytes());
    let m = load_mnist(dir.path(), 5, 0).unwrap();
    assert_eq!(m.test.classes[1], "class-7");
    // a value without a name is an error naming the file and the line
    write(dir.path(), "classes.txt", b"zero\none\n");
    let err = load_mnist(dir.path(), 5, 0).unwrap_err().to_string();
    assert!(err.contains("classes.txt") && err.contains("label 7"), "{err}");
}

/// Writes a small MNIST-shaped set into `dir`: `n_train` and `n_test` images of 2x3, labels
/// `i % 10`, pixel values derived from the index so that images are recognisable.
fn write_set(dir: &Path, n_train: u32, n_test: u32) {
    let make = |n: u32, salt: u8| -> (Vec<u8>, Vec<u8>) {
        let pixels = (0..n)
            .flat_map(|i| (0..6u8).map(move |j| (i as u8).wrapping_mul(7) ^ j ^ salt))
            .collect::<Vec<_>>();
        let labels = (0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>();
        (idx_images(n, 2, 3, &pixels), idx_labels(n, &labels))
    };
    let (ti, tl) = make(n_train, 0);
    let (ei, el) = make(n_test, 0x80);
    write(dir, &format!("{TRAIN_IMAGES}.gz"), &gz(&ti));
    write(dir, TRAIN_LABELS, &tl); // raw on purpose
    write(dir, &format!("{TEST_IMAGES}.gz"), &gz(&ei));
    write(dir, &format!("{TEST_LABELS}.gz"), &gz(&el));
}

#[test]
fn load_mnist_splits_first_for_training_and_last_for_validation() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 12, 5);
    let full = read_idx_images(&dir.path().join(format!("{TRAIN_IMAGES}.gz"))).unwrap();
    let m = load_mnist(dir.path(), 7, 3).unwrap();
    assert_eq!((m.training.len(), m.validation.len(), m.test.len()), (7, 3, 5));
    assert_eq!(m.training.labels, [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(m.validation.labels, [9, 0, 1]); // indices 9, 10, 11
    assert_eq!(m.training.all_bytes().unwrap(), &full.all_bytes().unwrap()[..7 * 6]);
    assert_eq!(m.validation.all_bytes().unwrap(), &full.all_bytes().unwrap()[9 * 6..]);
    assert_eq!(m.validation.bytes(0).unwrap(), full.bytes(9).unwrap());
    assert_eq!((m.test.shape.height, m.test.shape.width), (2, 3));
    assert_eq!(m.test.labels, [0, 1, 2, 3, 4]);
    // All of it, and none for validation.
    let m = load_mnist(dir.path(), 12, 0).unwrap();
    assert_eq!((m.training.len(), m.validation.len()), (12, 0));
    assert!(m.validation.is_empty());
}

#[test]
fn load_mnist_prefers_the_gz_name_when_both_exist() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 4, 2);
    write(dir.path(), TRAIN_IMAGES, b"garbage that would fail to parse");
    write(dir.path(), &format!("{TRAIN_LABELS}.gz"), &gz(&idx_labels(4, &[7, 7, 7, 7])));
    let m = load_mnist(dir.path(), 4, 0).unwrap();
    let names: Vec<&str> =
        m.training.labels.iter().map(|&l| m.training.classes[l as usize].as_str()).collect();
    assert_eq!(names, ["7", "7", "7", "7"]);
}

#[test]
fn load_mnist_rejects_a_split_that_does_not_fit_naming_the_sizes() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 10, 2);
    for (t, v) in [(8, 3), (11, 0), (0, 5), (usize::MAX, 1)] {
        let err = load_mnist(dir.path(), t, v).unwrap_err();
        assert!(matches!(err, DataError::Split { .. }), "{err:?}");
        let msg = message_naming(&err, &dir.path().join(TRAIN_LABELS));
        // The library names the sizes; the CLI adds its flags.
        assert!(msg.contains(&format!("{t} training + {v} validation")) && !msg.contains("--"), "{msg}");
    }
}

#[test]
fn load_mnist_rejects_count_and_shape_mismatches_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 10, 4);
    let labels = write(dir.path(), &format!("{TEST_LABELS}.gz"), &gz(&idx_labels(3, &[1, 2, 3])));
    let err = load_mnist(dir.path(), 5, 5).unwrap_err();
    assert!(matches!(err, DataError::CountMismatch { n_images: 4, n_labels: 3, .. }), "{err:?}");
    let msg = message_naming(&err, &labels);
    assert!(msg.contains(&dir.path().join(format!("{TEST_IMAGES}.gz")).display().to_string()), "{msg}");

    write(dir.path(), &format!("{TEST_LABELS}.gz"), &gz(&idx_labels(4, &[1, 2, 3, 4])));
    let images = write(dir.path(), &format!("{TEST_IMAGES}.gz"), &gz(&idx_images(4, 3, 2, &[0; 24])));
    let err = load_mnist(dir.path(), 5, 5).unwrap_err();
    assert!(matches!(err, DataError::ShapeMismatch { train_dims: (2, 3), test_dims: (3, 2), .. }), "{err:?}");
    message_naming(&err, &images);

    std::fs::remove_file(&images).unwrap();
    let err = load_mnist(dir.path(), 5, 5).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    let msg = message_naming(&err, &images);
    assert!(msg.contains("download them") && msg.contains(&dir.path().display().to_string()), "{msg}");
}

#[test]
fn an_empty_test_set_is_refused_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 12, 0);
    let images = dir.path().join(format!("{TEST_IMAGES}.gz"));
    let labels = dir.path().join(format!("{TEST_LABELS}.gz"));
    for err in [load_mnist(dir.path(), 7, 3).unwrap_err(), load_test(dir.path()).unwrap_err()] {
        assert!(matches!(err, DataError::Empty { set: "test", .. }), "{err:?}");
        let msg = message_naming(&err, &images);
        assert!(msg.contains(&labels.display().to_string()) && msg.contains("0 test examples"), "{msg}");
    }
}

#[test]
fn an_empty_training_file_is_refused_as_empty_not_as_a_bad_split() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 0, 5);
    let images = dir.path().join(format!("{TRAIN_IMAGES}.gz"));
    for (t, v) in [(50_000, 10_000), (1, 0), (0, 0)] {
        let err = load_mnist(dir.path(), t, v).unwrap_err();
        assert!(matches!(err, DataError::Empty { set: "training", .. }), "{err:?}");
        let msg = message_naming(&err, &images);
        assert!(msg.contains(&dir.path().join(TRAIN_LABELS).display().to_string()), "{msg}");
        assert!(!msg.contains("--train-size") && msg.contains("0 training examples"), "{msg}");
    }
    // The test set alone is still there.
    assert_eq!(load_test(dir.path()).unwrap().len(), 5);
}

#[test]
fn the_test_set_loads_alone_and_its_errors_name_no_split_flag() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 12, 5);
    for name in [format!("{TRAIN_IMAGES}.gz"), TRAIN_LABELS.to_string()] {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    let test = load_test(dir.path()).unwrap();
    assert_eq!((test.len(), test.shape.height, test.shape.width), (5, 2, 3));
    assert_eq!(test.labels, [0, 1, 2, 3, 4]);
    assert_eq!(test.bytes(1).unwrap(), load_mnist_test_image(1));

    // Mismatched counts, then a missing file: named, and no flag this path does not have.
    let labels = write(dir.path(), &format!("{TEST_LABELS}.gz"), &gz(&idx_labels(3, &[1, 2, 3])));
    let err = load_test(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::CountMismatch { n_images: 5, n_labels: 3, .. }), "{err:?}");
    let msg = message_naming(&err, &labels);
    assert!(!msg.contains("--train-size") && !msg.contains("--validation-size"), "{msg}");
    std::fs::remove_file(&labels).unwrap();
    let err = load_test(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    let msg = message_naming(&err, &labels);
    assert!(!msg.contains("--train-size") && !msg.contains("--validation-size"), "{msg}");
}

/// Test image `i` as `write_set` makes it.
fn load_mnist_test_image(i: u8) -> Vec<u8> {
    (0..6u8).map(|j| i.wrapping_mul(7) ^ j ^ 0x80).collect()
}

#[test]
fn a_sparse_raw_file_as_big_as_its_header_claims_is_refused_by_the_limit() {
    // 90,000 images of 1000x1000: 90 GB, matching the file's length (sparse: no disk used).
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "huge", &idx_images(90_000, 1000, 1000, &[]));
    let claimed = 16 + 90_000u64 * 1000 * 1000;
    std::fs::File::options().write(true).open(&path).unwrap().set_len(claimed).unwrap();
    let started = std::time::Instant::now();
    let err = read_idx_images(&path).unwrap_err();
    assert!(started.elapsed().as_secs_f64() < 1.0, "took {:?}", started.elapsed());
    assert!(matches!(err, DataError::TooBig { limit: DEFAULT_MAX_DATA_BYTES, .. }), "{err:?}");
    let msg = message_naming(&err, &path);
    for part in [
        "90000 images of 1000x1000".to_string(),
        format!("{claimed} bytes"),
        format!("limit of {DEFAULT_MAX_DATA_BYTES} bytes"),
        format!("NNDL_MAX_DATA_BYTES={claimed}"),
    ] {
        assert!(msg.contains(&part), "no {part:?} in {msg}");
    }
    assert_eq!(DEFAULT_MAX_DATA_BYTES, 2 << 30);
}

#[test]
fn a_gzip_that_inflates_past_the_limit_is_refused_and_one_within_it_read() {
    let dir = tempfile::tempdir().unwrap();
    // 64 images of 128x128 of zeros: 1 MiB + 16 bytes of IDX in a ~1 KB gzip.
    let raw = idx_images(64, 128, 128, &vec![0; 64 * 128 * 128]);
    let path = write(dir.path(), "bomb.gz", &gz(&raw));
    assert!(std::fs::metadata(&path).unwrap().len() < 4096);
    let err = read_idx_images_limited(&path, 1 << 20).unwrap_err();
    assert!(
        matches!(err, DataError::TooBig { claimed, limit: 1048576, .. } if claimed == raw.len() as u64),
        "{err:?}"
    );
    let msg = message_naming(&err, &path);
    assert!(msg.contains("64 images of 128x128") && msg.contains("NNDL_MAX_DATA_BYTES"), "{msg}");
    // Exactly at the limit is allowed.
    let d = read_idx_images_limited(&path, raw.len() as u64).unwrap();
    assert_eq!(d.len(), 64);
    // Labels too.
    let path = write(dir.path(), "labels.gz", &gz(&idx_labels(5000, &[3; 5000])));
    assert!(matches!(read_idx_labels_limited(&path, 5000), Err(DataError::TooBig { claimed: 5008, .. })));
    assert_eq!(read_idx_labels_limited(&path, 5008).unwrap().len(), 5000);
}

fn tiny() -> Dataset {
    Dataset::images(
        nndl::layers::Shape::new(1, 2, 2),
        vec![0, 255, 51, 102, 1, 2, 3, 4, 128, 64, 32, 16],
        vec![3, 9, 0],
        nndl::data::numbered_classes(10),
    )
}

#[test]
fn fill_batch_scales_to_unit_interval_and_one_hots_labels() {
    let d = tiny();
    assert_eq!((d.len(), d.input_size(), d.is_empty()), (3, 4, false));
    let mut x = vec![f32::NAN; 3 * 4];
    let mut y = vec![f32::NAN; 3 * 10];
    d.fill_batch(&[1, 0, 0], &mut x, &mut y);
    assert_eq!(&x[4..8], &[0.0, 1.0, 0.2, 0.4]);
    assert_eq!(&x[8..12], &x[4..8]);
    assert_eq!(x[0], 1.0 / 255.0);
    assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
    for (row, label) in y.chunks(10).zip([9, 3, 3]) {
        let hot: Vec<_> = row.iter().enumerate().filter(|&(_, &v)| v != 0.0).collect();
        assert_eq!(hot, [(label, &1.0)]);
    }
    let mut x2 = vec![0.0; 2 * 4];
    let mut y2 = vec![0.0; 2 * 10];
    d.fill_range(1..3, &mut x2, &mut y2);
    assert_eq!(&x2[..4], &x[..4]);
    assert_eq!(y2[10], 1.0);
    assert_eq!(y2.iter().sum::<f32>(), 2.0);
    d.fill_batch(&[], &mut [], &mut []);
    assert_eq!(d.slice(1..3).labels, [9, 0]);
    assert_eq!(d.slice(1..3).bytes(1).unwrap(), d.bytes(2).unwrap());
}

#[test]
#[should_panic(expected = "x must hold")]
fn fill_batch_panics_on_a_wrong_buffer_size() {
    tiny().fill_batch(&[0, 1], &mut [0.0; 7], &mut [0.0; 20]);
}
