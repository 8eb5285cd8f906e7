//! The real MNIST files, found as the CLI finds them.

use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use nndl::data::{
    Mnist, TEST_IMAGES, TEST_LABELS, TRAIN_LABELS, find_file, load_mnist, locate_or_download,
    read_idx_images, read_idx_labels,
};

/// The real MNIST folder, found exactly as the CLI finds it (`$NNDL_DATA`, else the user cache
/// folder, downloading there if the files are missing).
fn real_dir() -> PathBuf {
    locate_or_download(None, false).unwrap_or_else(|e| panic!("{e}"))
}

/// Loaded once for the whole test binary, with the book's split.
fn mnist() -> &'static Mnist {
    static MNIST: OnceLock<Mnist> = OnceLock::new();
    MNIST.get_or_init(|| load_mnist(&real_dir(), 50_000, 10_000).unwrap())
}

/// The raw training labels, read once.
/// The training labels as class indices (MNIST's classes are the digits, so value = index).
fn train_labels() -> &'static [u32] {
    static LABELS: OnceLock<Vec<u32>> = OnceLock::new();
    LABELS.get_or_init(|| {
        let values = read_idx_labels(&find_file(&real_dir(), TRAIN_LABELS).unwrap().unwrap()).unwrap();
        values.into_iter().map(u32::from).collect()
    })
}

#[test]
fn real_files_have_the_standard_counts_and_shapes() {
    let dir = real_dir();
    assert_eq!(train_labels().len(), 60_000);
    assert_eq!(read_idx_labels(&find_file(&dir, TEST_LABELS).unwrap().unwrap()).unwrap().len(), 10_000);
    let test = read_idx_images(&find_file(&dir, TEST_IMAGES).unwrap().unwrap()).unwrap();
    assert_eq!(
        (test.len(), test.shape.height, test.shape.width, test.all_bytes().unwrap().len()),
        (10_000, 28, 28, 7_840_000)
    );
    let m = mnist();
    assert_eq!(m.test.len(), 10_000);
    assert_eq!(m.test.labels.len(), 10_000);
    assert_eq!(m.test.all_bytes().unwrap(), test.all_bytes().unwrap());
}

#[test]
fn real_first_training_labels_are_5_0_4_1_9_2_1_3() {
    assert_eq!(&train_labels()[..8], &[5, 0, 4, 1, 9, 2, 1, 3]);
    assert_eq!(&mnist().training.labels[..8], &[5, 0, 4, 1, 9, 2, 1, 3]);
}

#[test]
fn real_mean_training_pixel_is_0_1307() {
    // The published figure is over all 60,000 training images.
    let m = mnist();
    let sum: u64 = m
        .training
        .all_bytes()
        .unwrap()
        .iter()
        .chain(m.validation.all_bytes().unwrap())
        .map(|&b| u64::from(b))
        .sum();
    let mean = sum as f64 / 255.0 / (60_000.0 * 784.0);
    assert!((mean - 0.1307).abs() < 0.0005, "mean {mean}");
}

#[test]
fn real_split_is_first_50k_for_training_last_10k_for_validation() {
    let m = mnist();
    assert_eq!((m.training.len(), m.validation.len(), m.test.len()), (50_000, 10_000, 10_000));
    assert_eq!(
        (
            m.training.shape.height,
            m.training.shape.width,
            m.validation.shape.height,
            m.validation.shape.width
        ),
        (28, 28, 28, 28)
    );
    assert_eq!(m.training.all_bytes().unwrap().len(), 50_000 * 784);
    assert_eq!(m.validation.labels[0], train_labels()[50_000]);
    assert_eq!(m.validation.labels, train_labels()[50_000..]);
    assert_eq!(m.training.labels, train_labels()[..50_000]);

    // A smaller split still takes validation from the end.
    let small = load_mnist(&real_dir(), 1_000, 500).unwrap();
    assert_eq!((small.training.len(), small.validation.len()), (1_000, 500));
    assert_eq!(small.validation.labels, train_labels()[59_500..]);
    assert_eq!(small.validation.bytes(499).unwrap(), m.validation.bytes(9_999).unwrap());
    assert_eq!(small.training.bytes(999).unwrap(), m.training.bytes(999).unwrap());
}

#[test]
fn real_too_large_split_names_the_sizes() {
    let msg = load_mnist(&real_dir(), 55_000, 10_000).unwrap_err().to_string();
    assert!(msg.contains("55000 training + 10000 validation"), "{msg}");
    assert!(msg.contains("60000"), "{msg}");
}

#[test]
fn real_fill_batch_gives_unit_pixels_and_correct_one_hots() {
    let m = mnist();
    let idx = [0, 1, 49_999, 12_345, 7];
    let mut x = vec![0.0; idx.len() * 784];
    let mut y = vec![0.0; idx.len() * 10];
    m.training.fill_batch(&idx, &mut x, &mut y);
    assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(x.contains(&1.0) && x.contains(&0.0));
    for (k, &i) in idx.iter().enumerate() {
        let row = &y[k * 10..(k + 1) * 10];
        assert_eq!(row.iter().sum::<f32>(), 1.0);
        assert_eq!(row[m.training.labels[i] as usize], 1.0);
        let img = m.training.bytes(i).unwrap();
        assert!(x[k * 784..(k + 1) * 784].iter().zip(img).all(|(&v, &b)| v == f32::from(b) / 255.0));
    }
    let mut xr = vec![0.0; 100 * 784];
    let mut yr = vec![0.0; 100 * 10];
    m.test.fill_range(9_900..10_000, &mut xr, &mut yr);
    assert_eq!(yr.iter().sum::<f32>(), 100.0);
    assert_eq!(yr[99 * 10 + m.test.labels[9_999] as usize], 1.0);
}

#[test]
fn real_raw_file_reads_like_its_gzip() {
    let gz = find_file(&real_dir(), TEST_LABELS).unwrap().unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap()).read_to_end(&mut raw).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(TEST_LABELS);
    std::fs::write(&path, &raw).unwrap();
    assert_eq!(read_idx_labels(&path).unwrap(), read_idx_labels(&gz).unwrap());
}
