//! Image folders (`nndl::data::folder`): the real 8×8 digits from `../shared/data`, folders of
//! colour, grey, 16-bit and transparent images written here, and every bad input, each a
//! one-line error naming the folder or file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use image::{ExtendedColorType, ImageBuffer, ImageFormat, Luma, LumaA, Rgb, Rgba};
use nndl::data::folder::{FolderOptions, load, load_test};
use nndl::data::{DataError, Dataset};

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

fn mkdir(path: &Path) -> &Path {
    std::fs::create_dir_all(path).unwrap();
    path
}

fn grey_png(path: &Path, h: u32, w: u32, f: impl Fn(u32, u32) -> u8) {
    mkdir(path.parent().unwrap());
    ImageBuffer::from_fn(w, h, |x, y| Luma([f(x, y)])).save_with_format(path, ImageFormat::Png).unwrap();
}

fn rgb_image(path: &Path, h: u32, w: u32, format: ImageFormat, f: impl Fn(u32, u32) -> [u8; 3]) {
    mkdir(path.parent().unwrap());
    ImageBuffer::from_fn(w, h, |x, y| Rgb(f(x, y))).save_with_format(path, format).unwrap();
}

fn opts() -> FolderOptions {
    FolderOptions::default()
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

/// The examples of `data` whose bytes are `pixels`.
fn find(data: &Dataset, pixels: &[u8]) -> Vec<usize> {
    (0..data.len()).filter(|&i| data.bytes(i).unwrap() == pixels).collect()
}

/// Class names of each example.
fn names(data: &Dataset) -> Vec<&str> {
    data.labels.iter().map(|&l| data.classes[l as usize].as_str()).collect()
}

/// Two grey classes `a`, `b` of `n` 2×2 images each (pixel values distinct), in `dir/train`,
/// `dir/test`.
fn two_classes(dir: &Path, n: u8) {
    for (set, base) in [("train", 0u8), ("test", 100)] {
        for (c, class) in ["a", "b"].iter().enumerate() {
            for i in 0..n {
                let v = base + c as u8 * 40 + i;
                grey_png(&dir.join(set).join(class).join(format!("{i:02}.png")), 2, 2, |_, _| v);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real data

#[test]
fn digits_8x8_load_with_their_classes_and_a_shuffle_that_mixes_them() {
    let Some(data) = shared_data("digits_8x8") else { return };
    let dir = data.join("digits-8x8");
    let split = load(&dir, &FolderOptions { seed: 1, ..opts() }).unwrap();
    let (train, test) = (&split.train, &split.test);
    assert_eq!((train.len(), test.len()), (1347, 450));
    assert_eq!((train.shape.channels, train.shape.height, train.shape.width), (1, 8, 8));
    assert_eq!(test.shape, train.shape);
    let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    assert_eq!(train.classes, digits);
    assert_eq!(test.classes, digits);
    assert_eq!(train.labels.len(), 1347);

    // Labels match the folder of each file: a few files, found by their pixels.
    for (set, data) in [("train", train), ("test", test)] {
        for digit in ["0", "3", "7", "9"] {
            let folder = dir.join(set).join(digit);
            let mut files: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            for file in [files.first().unwrap(), files.last().unwrap()] {
                let pixels = image::open(file).unwrap().to_luma8().into_raw();
                let found = find(data, &pixels);
                assert!(!found.is_empty(), "{} not found in the {set} set", file.display());
                for i in found {
                    assert_eq!(names(data)[i], digit, "{}", file.display());
                }
            }
        }
    }

    // The first 200 training examples (after the shuffle) hold every class, and so does a
    // validation set of 200 carved from the end.
    for range in [0..200, 1147..1347] {
        let mut seen = [false; 10];
        train.labels[range].iter().for_each(|&l| seen[l as usize] = true);
        assert!(seen.iter().all(|&s| s), "{seen:?}");
    }
    // Unshuffled, the first 200 would all be 0s and 1s: the shuffle really happened, and the
    // test set stays in class order.
    assert!(test.labels.windows(2).all(|w| w[0] <= w[1]));

    // The same seed gives the same order; another seed another order of the same examples.
    let again = load(&dir, &FolderOptions { seed: 1, ..opts() }).unwrap();
    assert_eq!(again.train, split.train);
    let other = load(&dir, &FolderOptions { seed: 2, ..opts() }).unwrap();
    assert_ne!(other.train.labels, split.train.labels);
    let mut a: Vec<&[u8]> = (0..1347).map(|i| split.train.bytes(i).unwrap()).collect();
    let mut b: Vec<&[u8]> = (0..1347).map(|i| other.train.bytes(i).unwrap()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);

    // eval's path: only the test folder, labelled by a model's classes.
    let mut model: Vec<String> = digits.iter().rev().cloned().collect();
    model.push("x".into());
    let test_only = load_test(&dir, &model, &opts()).unwrap();
    assert_eq!(test_only.len(), 450);
    assert_eq!(test_only.classes, model);
    assert_eq!(names(&test_only), names(test));
    assert_eq!(test_only.all_bytes(), test.all_bytes());
}

// ---------------------------------------------------------------------------------------------
// Channels, bit depths, alpha

#[test]
fn colour_images_give_three_planar_channels_and_grey_ones_repeat_in_each() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 3×4 (H×W) images; pixel (y, x) = (10·y + x, 100 + 10·y + x, 200 + x) in class a.
    let pattern = |x: u32, y: u32| [(10 * y + x) as u8, (100 + 10 * y + x) as u8, (200 + x) as u8];
    rgb_image(&dir.join("train/a/one.png"), 3, 4, ImageFormat::Png, pattern);
    rgb_image(&dir.join("test/a/one.png"), 3, 4, ImageFormat::Png, pattern);
    // A JPEG (upper-case extension) of one colour, and a grey PNG, in class b.
    rgb_image(&dir.join("train/b/photo.JPG"), 3, 4, ImageFormat::Jpeg, |_, _| [200, 40, 90]);
    grey_png(&dir.join("train/b/grey.png"), 3, 4, |x, y| (50 + 10 * y + x) as u8);
    rgb_image(&dir.join("test/b/photo.jpeg"), 3, 4, ImageFormat::Jpeg, |_, _| [20, 160, 240]);

    let split = load(dir, &opts()).unwrap();
    let (train, test) = (split.train, split.test);
    assert_eq!((train.shape.channels, train.shape.height, train.shape.width), (3, 3, 4));
    assert_eq!((train.len(), test.len()), (3, 2));
    assert_eq!(train.classes, ["a", "b"]);

    // Planar: channel after channel, row-major in each. Test example 0 is a/one.png.
    assert_eq!(names(&test), ["a", "b"]);
    let a = test.bytes(0).unwrap();
    let (plane, at) = (12, 4 + 2); // pixel (y 1, x 2)
    assert_eq!([a[at], a[plane + at], a[2 * plane + at]], [12, 112, 202]);
    for y in 0..3u32 {
        for x in 0..4u32 {
            let i = (y * 4 + x) as usize;
            assert_eq!([a[i], a[plane + i], a[2 * plane + i]], pattern(x, y));
        }
    }
    // The JPEG, within its loss.
    let b = test.bytes(1).unwrap();
    for (k, want) in [20i32, 160, 240].into_iter().enumerate() {
        assert!(b[k * plane..(k + 1) * plane].iter().all(|&v| (i32::from(v) - want).abs() <= 6), "{b:?}");
    }
    // The grey PNG: the same values in each of the three channels.
    let grey: Vec<u8> = (0..12u32).map(|i| (50 + 10 * (i / 4) + i % 4) as u8).collect();
    let found = find(&train, &[grey.clone(), grey.clone(), grey].concat());
    assert_eq!(found.len(), 1);
    assert_eq!(names(&train)[found[0]], "b");

    // channels 1: everything as BT.601 luma, as image_io computes it.
    let split = load(dir, &FolderOptions { channels: Some(1), ..opts() }).unwrap();
    assert_eq!(split.train.shape.channels, 1);
    let a = split.test.bytes(0).unwrap();
    let luma = |[r, g, b]: [u8; 3]| {
        (0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b)).round() as u8
    };
    for y in 0..3u32 {
        for x in 0..4u32 {
            let got = a[(y * 4 + x) as usize];
            assert!(got.abs_diff(luma(pattern(x, y))) <= 1, "({y}, {x}): {got}");
        }
    }
    assert_eq!(a[6], 92); // pixel (1, 2): 0.299·12 + 0.587·112 + 0.114·202 = 92.36
}

#[test]
fn grey_images_give_one_channel_and_can_be_made_rgb() {
    let tmp = tempfile::tempdir().unwrap();
    two_classes(tmp.path(), 3);
    let split = load(tmp.path(), &opts()).unwrap();
    assert_eq!((split.train.shape.channels, split.train.shape.height, split.train.shape.width), (1, 2, 2));
    assert_eq!((split.train.len(), split.test.len()), (6, 6));
    assert_eq!(split.test.bytes(4).unwrap(), [141; 4]); // test/b/01.png
    let rgb = load(tmp.path(), &FolderOptions { channels: Some(3), ..opts() }).unwrap();
    assert_eq!(rgb.train.shape.channels, 3);
    assert_eq!(rgb.test.bytes(4).unwrap(), [141; 12]);
}

#[test]
fn sixteen_bit_images_are_scaled_to_bytes_and_alpha_is_composited_over_white() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    mkdir(&dir.join("train/deep"));
    // 16-bit grey: 257·v is v in 8 bits; 65535 → 255, 32896 (= 128·257) → 128.
    let deep: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(2, 1, |x, _| Luma([if x == 0 { 25_700 } else { 65_535 }]));
    deep.save_with_format(dir.join("train/deep/a.png"), ImageFormat::Png).unwrap();
    // Grey + alpha: transparent black is white; half-transparent black is mid grey.
    mkdir(&dir.join("train/clear"));
    let clear: ImageBuffer<LumaA<u8>, Vec<u8>> =
        ImageBuffer::from_fn(2, 1, |x, _| LumaA(if x == 0 { [0, 0] } else { [0, 128] }));
    clear.save_with_format(dir.join("train/clear/a.png"), ImageFormat::Png).unwrap();
    mkdir(&dir.join("test/deep"));
    std::fs::copy(dir.join("train/deep/a.png"), dir.join("test/deep/a.png")).unwrap();

    let split = load(dir, &opts()).unwrap();
    assert_eq!(split.train.shape.channels, 1, "16-bit grey and grey+alpha are grey");
    let train = &split.train;
    let of =
        |class: &str| train.bytes(names(train).iter().position(|n| *n == class).unwrap()).unwrap().to_vec();
    assert_eq!(of("deep"), [100, 255]);
    assert_eq!(of("clear"), [255, 127]); // 255 · (1 − 128/255)

    // RGBA (16-bit too): alpha over white per channel, and the folder turns RGB.
    mkdir(&dir.join("train/colour"));
    let rgba: ImageBuffer<Rgba<u16>, Vec<u16>> =
        ImageBuffer::from_fn(2, 1, |x, _| Rgba(if x == 0 { [65_535, 0, 0, 65_535] } else { [0, 0, 0, 0] }));
    rgba.save_with_format(dir.join("train/colour/a.png"), ImageFormat::Png).unwrap();
    let split = load(dir, &opts()).unwrap();
    let train = &split.train;
    assert_eq!(train.shape.channels, 3);
    let of =
        |class: &str| train.bytes(names(train).iter().position(|n| *n == class).unwrap()).unwrap().to_vec();
    assert_eq!(of("colour"), [255, 255, 0, 255, 0, 255]); // R plane, G plane, B plane
    assert_eq!(of("deep"), [100, 255, 100, 255, 100, 255]);
    assert_eq!(of("clear"), [255, 127, 255, 127, 255, 127]);
}

// ---------------------------------------------------------------------------------------------
// Sizes, order, split

#[test]
fn images_of_mixed_sizes_are_refused_unless_an_image_size_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_classes(dir, 2);
    let odd = dir.join("train/b/05.png");
    grey_png(&odd, 3, 5, |x, _| x as u8 * 60);
    let err = load(dir, &opts()).unwrap_err();
    assert!(matches!(err, DataError::ImageSizes { size: (3, 5), first_size: (2, 2), .. }), "{err:?}");
    check_message(
        &err,
        &odd,
        &["3x5", "2x2", "give an image size", &dir.join("train/a/00.png").display().to_string()],
    );

    let split = load(dir, &FolderOptions { image_size: Some((4, 3)), ..opts() }).unwrap();
    assert_eq!((split.train.shape.channels, split.train.shape.height, split.train.shape.width), (1, 4, 3));
    assert_eq!((split.train.len(), split.test.len()), (5, 4));
    // A plain image resized stays plain; the gradient stays a left-to-right gradient.
    assert_eq!(split.test.bytes(0).unwrap(), [100; 12]);
    let odd_px = (0..5).find_map(|i| {
        let b = split.train.bytes(i).unwrap();
        (b[0] != b[2]).then(|| b.to_vec())
    });
    let odd_px = odd_px.expect("the resized gradient");
    assert!(odd_px[0] < odd_px[1] && odd_px[1] < odd_px[2], "{odd_px:?}");
}

#[test]
fn one_folder_is_split_per_class_by_the_test_fraction_with_the_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for i in 0..10u8 {
        grey_png(&dir.join(format!("cat/{i}.png")), 2, 2, |_, _| i);
    }
    for i in 0..4u8 {
        grey_png(&dir.join(format!("dog/{i}.png")), 2, 2, |_, _| 100 + i);
    }
    grey_png(&dir.join("owl/0.png"), 2, 2, |_, _| 200);
    grey_png(&dir.join("owl/1.png"), 2, 2, |_, _| 201);
    let options = FolderOptions { test_fraction: Some(0.25), seed: 7, ..opts() };
    let split = load(dir, &options).unwrap();
    let count = |d: &Dataset, class: &str| names(d).iter().filter(|n| **n == class).count();
    // round(0.25 × 10) = 3 (2.5 rounds up), round(0.25 × 4) = 1, owl: 0.5 → 1 (at least 1 each).
    assert_eq!([count(&split.test, "cat"), count(&split.test, "dog"), count(&split.test, "owl")], [3, 1, 1]);
    assert_eq!(
        [count(&split.train, "cat"), count(&split.train, "dog"), count(&split.train, "owl")],
        [7, 3, 1]
    );
    // Every image once, in one set or the other.
    let mut all: Vec<u8> = [split.train.all_bytes().unwrap(), split.test.all_bytes().unwrap()].concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 16);
    // Reproducible with the seed; another seed draws other test images.
    assert_eq!(load(dir, &options).unwrap().test, split.test);
    let others: Vec<_> =
        (8..14).map(|seed| load(dir, &FolderOptions { seed, ..options.clone() }).unwrap().test).collect();
    assert!(others.iter().any(|t| *t != split.test));

    // DIR/train alone is split the same way; DIR/test is not needed.
    let tmp2 = tempfile::tempdir().unwrap();
    let train = tmp2.path().join("train");
    std::fs::rename(dir, &train).unwrap_or_else(|_| copy_dir(dir, &train));
    assert_eq!(load(tmp2.path(), &options).unwrap().test, split.test);

    // A split that leaves the test set empty: every class has one image.
    let tmp3 = tempfile::tempdir().unwrap();
    grey_png(&tmp3.path().join("a/0.png"), 2, 2, |_, _| 0);
    grey_png(&tmp3.path().join("b/0.png"), 2, 2, |_, _| 1);
    let err = load(tmp3.path(), &options).unwrap_err();
    assert!(matches!(err, DataError::SmallSplit { examples: 2, empty: "test", .. }), "{err:?}");
    check_message(&err, tmp3.path(), &["too few", "test fraction"]);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            mkdir(&target);
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn dot_files_other_files_and_dot_folders_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_classes(dir, 1);
    std::fs::write(dir.join("train/a/.DS_Store"), b"junk").unwrap();
    std::fs::write(dir.join("train/a/._00.png"), b"AppleDouble junk").unwrap(); // macOS metadata
    std::fs::write(dir.join("train/a/notes.txt"), b"hello").unwrap();
    std::fs::write(dir.join("train/README"), b"not a class").unwrap();
    grey_png(&dir.join("train/.ipynb_checkpoints/x.png"), 2, 2, |_, _| 0);
    let split = load(dir, &opts()).unwrap();
    assert_eq!(split.train.classes, ["a", "b"]);
    assert_eq!(split.train.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Bad inputs: each a one-line error naming the file or folder

#[test]
fn fewer_than_two_classes_is_an_error_naming_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    grey_png(&dir.join("train/only/0.png"), 2, 2, |_, _| 0);
    grey_png(&dir.join("test/only/0.png"), 2, 2, |_, _| 0);
    let err = load(dir, &opts()).unwrap_err();
    assert!(matches!(err, DataError::TooFewClasses { .. }), "{err:?}");
    check_message(&err, &dir.join("train"), &["1 class folder found (only)", "at least 2 classes"]);

    let empty = tempfile::tempdir().unwrap();
    mkdir(&empty.path().join("train"));
    mkdir(&empty.path().join("test"));
    let err = load(empty.path(), &opts()).unwrap_err();
    check_message(&err, &empty.path().join("train"), &["no class folders"]);
}

#[test]
fn an_empty_class_folder_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_classes(dir, 1);
    let empty = mkdir(&dir.join("train/c")).to_path_buf();
    std::fs::write(empty.join(".DS_Store"), b"junk").unwrap();
    std::fs::write(empty.join("labels.csv"), b"junk").unwrap();
    let err = load(dir, &opts()).unwrap_err();
    assert!(matches!(err, DataError::EmptyClass { .. }), "{err:?}");
    check_message(&err, &empty, &["no images", ".png, .jpg or .jpeg"]);
}

#[test]
fn a_test_class_without_training_images_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_classes(dir, 1);
    let stray = dir.join("test/zebra");
    grey_png(&stray.join("0.png"), 2, 2, |_, _| 0);
    let err = load(dir, &opts()).unwrap_err();
    assert!(matches!(&err, DataError::UnknownTestClass { class, .. } if class == "zebra"), "{err:?}");
    check_message(
        &err,
        &stray,
        &["'zebra'", "no training images", &dir.join("train/zebra").display().to_string()],
    );

    // load_test: a class the model does not know.
    let err = load_test(dir, &["a".into(), "b".into()], &opts()).unwrap_err();
    assert!(matches!(err, DataError::NotAModelClass { .. }), "{err:?}");
    check_message(&err, &stray, &["'zebra'", "model's 2 classes (a, b)"]);
}

#[test]
fn a_layout_without_a_test_set_asks_for_a_test_fraction() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    grey_png(&dir.join("a/0.png"), 2, 2, |_, _| 0);
    grey_png(&dir.join("b/0.png"), 2, 2, |_, _| 0);
    let err = load(dir, &opts()).unwrap_err();
    assert!(matches!(err, DataError::FolderLayout { .. }), "{err:?}");
    check_message(&err, dir, &["no train/ and test/", "test fraction"]);

    // train/ without test/, and test/ without train/.
    let t = tempfile::tempdir().unwrap();
    grey_png(&t.path().join("train/a/0.png"), 2, 2, |_, _| 0);
    check_message(&load(t.path(), &opts()).unwrap_err(), t.path(), &["no test/ folder", "test fraction"]);
    let t = tempfile::tempdir().unwrap();
    grey_png(&t.path().join("test/a/0.png"), 2, 2, |_, _| 0);
    check_message(&load(t.path(), &opts()).unwrap_err(), t.path(), &["no train/ folder"]);
    // Both, and a fraction that has nothing to split.
    let t = tempfile::tempdir().unwrap();
    two_classes(t.path(), 1);
    let fraction = FolderOptions { test_fraction: Some(0.2), ..opts() };
    check_message(&load(t.path(), &fraction).unwrap_err(), t.path(), &["give no test fraction"]);
    // Not a folder at all, and no folder.
    let file = t.path().join("train/a/00.png");
    check_message(&load(&file, &opts()).unwrap_err(), &file, &["not a folder"]);
    let none = t.path().join("nothing");
    check_message(&load(&none, &opts()).unwrap_err(), &none, &["cannot open the folder"]);
}

#[test]
fn bad_options_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    two_classes(tmp.path(), 1);
    for (o, flag) in [
        (FolderOptions { channels: Some(2), ..opts() }, "the channel count 2"),
        (FolderOptions { image_size: Some((0, 5)), ..opts() }, "the image size 0x5"),
        (FolderOptions { image_size: Some((9000, 5)), ..opts() }, "the image size 9000x5"),
        (FolderOptions { test_fraction: Some(1.5), ..opts() }, "the test fraction 1.5"),
        (FolderOptions { test_fraction: Some(0.0), ..opts() }, "the test fraction 0"),
        (FolderOptions { test_fraction: Some(f32::NAN), ..opts() }, "the test fraction NaN"),
    ] {
        let err = load(tmp.path(), &o).unwrap_err();
        assert!(matches!(err, DataError::BadOption { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with(flag) && !msg.contains('\n'), "{msg}");
    }
}

/// A PNG file that claims `width`×`height` pixels but holds only a few bytes of image data.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grey, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&[0; 64]).unwrap();
    chunk(&mut png, b"IDAT", &z.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn a_20000_square_png_is_refused_by_its_size_before_decoding() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_classes(dir, 1);
    let huge = dir.join("train/a/huge.png");
    let bytes = png_header_only(20_000, 20_000);
    assert!(bytes.len() < 200);
    std::fs::write(&huge, bytes).unwrap();
    let start = Instant::now();
    let err = load(dir, &opts()).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    assert!(matches!(err, DataError::ImageTooLarge { height: 20_000, width: 20_000, .. }), "{err:?}");
    check_message(&err, &huge, &["20000x20000", "8192x8192"]);
    // Also as load_test reads it, and with a resize asked for (the size is checked first).
    std::fs::rename(&huge, dir.join("test/a/huge.png")).unwrap();
    let sized = FolderOptions { image_size: Some((8, 8)), ..opts() };
    let err = load_test(dir, &["a".into(), "b".into()], &sized).unwrap_err();
    assert!(matches!(err, DataError::ImageTooLarge { .. }), "{err:?}");
}

#[test]
fn an_undecodable_image_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_classes(dir, 1);
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("text.png", b"this is not an image".to_vec(), "neither PNG nor JPEG"),
        ("empty.png", Vec::new(), "empty"),
        (
            "cut.png",
            {
                let mut png = Vec::new();
                ImageBuffer::from_fn(16, 16, |x, y| Luma([(x * y) as u8]))
                    .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
                    .unwrap();
                png.truncate(png.len() / 2);
                png
            },
            "",
        ),
        ("zero.png", png_header_only(0, 5), ""),
    ];
    // (Resized, so that the 16×16 image is not refused for its size before it is decoded.)
    let sized = FolderOptions { image_size: Some((2, 2)), ..opts() };
    for (name, bytes, part) in cases {
        let path = dir.join("train/b").join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = load(dir, &sized).unwrap_err();
        assert!(matches!(err, DataError::BadImage { .. }), "{name}: {err:?}");
        check_message(&err, &path, &["not a readable image", part]);
        std::fs::remove_file(&path).unwrap();
    }
    // A JPEG cut short.
    let path = dir.join("train/b/cut.jpg");
    let mut jpeg = Vec::new();
    image::write_buffer_with_format(
        &mut std::io::Cursor::new(&mut jpeg),
        &[128u8; 2 * 2 * 3],
        2,
        2,
        ExtendedColorType::Rgb8,
        ImageFormat::Jpeg,
    )
    .unwrap();
    jpeg.truncate(jpeg.len() / 3);
    std::fs::write(&path, jpeg).unwrap();
    let err = load(dir, &opts()).unwrap_err();
    check_message(&err, &path, &["not a readable image"]);
}

#[test]
fn a_fifo_or_a_folder_named_like_an_image_is_refused_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_classes(dir, 1);
    let fifo = dir.join("train/a/pipe.png");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let err = load(dir, &opts()).unwrap_err();
    assert!(matches!(err, DataError::BadImage { .. }), "{err:?}");
    check_message(&err, &fifo, &["FIFO", "not a regular file"]);
    std::fs::remove_file(&fifo).unwrap();

    let folder = mkdir(&dir.join("test/b/x.png")).to_path_buf();
    let err = load(dir, &opts()).unwrap_err();
    check_message(&err, &folder, &["a directory", "not a regular file"]);
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
fn images_beyond_the_data_limit_are_refused_before_they_are_decoded() {
    if !in_child(
        "images_beyond_the_data_limit_are_refused_before_they_are_decoded",
        &[("NNDL_MAX_DATA_BYTES", "110")],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_classes(dir, 2); // 8 images of 4 bytes: 32 bytes, within 110
    assert_eq!(load(dir, &opts()).unwrap().train.len(), 4);
    // A colour image makes every image take 12 bytes: 9 images fit (108), the 10th (120) not.
    rgb_image(&dir.join("test/b/colour.png"), 2, 2, ImageFormat::Png, |_, _| [1, 2, 3]);
    rgb_image(&dir.join("test/b/more.png"), 2, 2, ImageFormat::Png, |_, _| [1, 2, 3]);
    let err = load(dir, &opts()).unwrap_err();
    assert!(matches!(err, DataError::TooMuchData { bytes: 120, limit: 110, .. }), "{err:?}");
    check_message(&err, dir, &["more.png", "NNDL_MAX_DATA_BYTES"]);
    // Shrunk to 1×1 they fit.
    let small = load(dir, &FolderOptions { image_size: Some((1, 1)), ..opts() }).unwrap();
    assert_eq!((small.train.shape.channels, small.test.len()), (3, 6));
}
