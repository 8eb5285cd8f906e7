//! PNG digits to MNIST-like inputs: the same digit in every PNG flavour gives the same input,
//! and bad files give errors that name them.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgb, Rgba};
use nndl::image_io::{self, ImageError, digit_from_bytes, load_digit, save_grey_png, to_mnist};

/// A "7" in design units (a 28×28 field): a top bar and a stroke down its right end,
/// rectangles (x0, y0, x1, y1) with exclusive ends. Its mass sits up and to the right of
/// its box centre, so centring has work to do.
const SEVEN: [(f32, f32, f32, f32); 2] = [(3.0, 2.0, 17.0, 6.0), (13.0, 2.0, 17.0, 24.0)];

/// Ink coverage in [0, 1] of each pixel of a `width`×`height` canvas holding SEVEN at
/// `scale` pixels per design unit, shifted by (`ox`, `oy`) pixels; 4×4 samples a pixel.
fn seven(width: u32, height: u32, scale: f32, ox: f32, oy: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity((width * height) as usize);
    for y in 0..height {
        for x in 0..width {
            let mut hits = 0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let u = (x as f32 + (sx as f32 + 0.5) / 4.0 - ox) / scale;
                    let v = (y as f32 + (sy as f32 + 0.5) / 4.0 - oy) / scale;
                    let inside =
                        |&(x0, y0, x1, y1): &(f32, f32, f32, f32)| u >= x0 && u < x1 && v >= y0 && v < y1;
                    if SEVEN.iter().any(inside) {
                        hits += 1;
                    }
                }
            }
            out.push(hits as f32 / 16.0);
        }
    }
    out
}

fn u8_of(v: f32) -> u8 {
    (v * 255.0).round() as u8
}

/// White on black, 8-bit grey, 28×28, placed off-centre.
fn white_on_black() -> DynamicImage {
    let ink = seven(28, 28, 1.0, 4.0, 2.0);
    let px = ink.iter().map(|&v| u8_of(v)).collect();
    DynamicImage::ImageLuma8(ImageBuffer::from_raw(28, 28, px).unwrap())
}

fn png_bytes(img: &DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

fn mean_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

fn centre_of_mass(px: &[f32]) -> (f32, f32) {
    let (mut m, mut mx, mut my) = (0.0, 0.0, 0.0);
    for (i, &v) in px.iter().enumerate() {
        m += v;
        mx += v * (i % 28) as f32;
        my += v * (i / 28) as f32;
    }
    (mx / m, my / m)
}

/// Width and height of the box of pixels above `t`.
fn box_size(px: &[f32], t: f32) -> (usize, usize) {
    let ink: Vec<(usize, usize)> = (0..px.len()).filter(|&i| px[i] > t).map(|i| (i % 28, i / 28)).collect();
    let xs = ink.iter().map(|p| p.0);
    let ys = ink.iter().map(|p| p.1);
    (xs.clone().max().unwrap() - xs.min().unwrap() + 1, ys.clone().max().unwrap() - ys.min().unwrap() + 1)
}

fn reference() -> Vec<f32> {
    digit_from_bytes(&png_bytes(&white_on_black()), "seven.png").unwrap()
}

#[test]
fn white_on_black_digit_is_centred_and_fitted_to_20_pixels() {
    let out = reference();
    assert_eq!(out.len(), 784);
    assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
    let (cx, cy) = centre_of_mass(&out);
    assert!((cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0, "centre of mass ({cx}, {cy})");
    let (w, h) = box_size(&out, 0.0);
    assert!((19..=21).contains(&h), "box {w}×{h}");
    assert!(w < h, "aspect ratio kept: box {w}×{h}");
    // The input's mass was at about (17.6, 9.7): centring moved it.
    let (ix, iy) = centre_of_mass(&white_on_black().to_luma32f().into_raw());
    assert!((ix - 14.0).abs() > 2.0 || (iy - 14.0).abs() > 2.0, "input at ({ix}, {iy})");
    // The stroke interior stays full white, the corners stay black.
    assert!(out.iter().cloned().fold(0.0, f32::max) > 0.99);
    assert_eq!(out[0], 0.0);
    assert_eq!(out[783], 0.0);
}

#[test]
fn thick_vertical_bar_becomes_20_tall_and_centred() {
    let mut px = vec![0u8; 28 * 28];
    for y in 3..27 {
        for x in 2..8 {
            px[y * 28 + x] = 255;
        }
    }
    let img = DynamicImage::ImageLuma8(ImageBuffer::from_raw(28, 28, px).unwrap());
    let out = to_mnist(&img).unwrap();
    let (w, h) = box_size(&out, 0.1);
    assert_eq!(h, 20, "box {w}×{h}");
    assert_eq!(w, 5, "24×6 scaled to 20 tall is 5 wide: box {w}×{h}");
    let (cx, cy) = centre_of_mass(&out);
    assert!((cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0, "centre of mass ({cx}, {cy})");
}

/// Each flavour of the same digit, through PNG bytes, lands within `tol` of the reference.
fn assert_close(img: DynamicImage, what: &str) {
    let out = digit_from_bytes(&png_bytes(&img), what).unwrap_or_else(|e| panic!("{e}"));
    let d = mean_abs_diff(&out, &reference());
    assert!(d < 0.05, "{what}: mean absolute difference {d}");
}

#[test]
fn black_on_white_matches_white_on_black() {
    let px = seven(28, 28, 1.0, 4.0, 2.0).iter().map(|&v| u8_of(1.0 - v)).collect();
    assert_close(DynamicImage::ImageLuma8(ImageBuffer::from_raw(28, 28, px).unwrap()), "bow.png");
}

#[test]
fn rgb_with_coloured_ink_matches() {
    // Dark blue ink on white paper: luma of (0, 0, 0.4) is about 0.05.
    let img = ImageBuffer::from_fn(28, 28, |x, y| {
        let v = seven(28, 28, 1.0, 4.0, 2.0)[(y * 28 + x) as usize];
        Rgb([u8_of(1.0 - v), u8_of(1.0 - v), u8_of(1.0 - 0.6 * v)])
    });
    assert_close(DynamicImage::ImageRgb8(img), "rgb.png");
}

#[test]
fn rgb_is_read_as_bt601_luma() {
    // Any one colour of ink on one of paper reads the same under any channel weights (the
    // contrast step undoes them), so use two inks: a blue bar (luma 0.114, dark) and a
    // yellow stroke (luma 0.886, faint) on white. The result must match a grey image of
    // the BT.601 lumas.
    let (blue, yellow, white) = ([0u8, 0, 255], [255u8, 255, 0], [255u8, 255, 255]);
    let colour = |x: u32, y: u32| {
        let (u, v) = (x as f32 - 4.0, y as f32 - 2.0);
        let inside = |r: &(f32, f32, f32, f32)| u >= r.0 && u < r.2 && v >= r.1 && v < r.3;
        if inside(&SEVEN[0]) {
            blue
        } else if inside(&SEVEN[1]) {
            yellow
        } else {
            white
        }
    };
    let luma = |c: [u8; 3]| {
        let y = 0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2]);
        y.round() as u8
    };
    let rgb = ImageBuffer::from_fn(28, 28, |x, y| Rgb(colour(x, y)));
    let grey = ImageBuffer::from_fn(28, 28, |x, y| Luma([luma(colour(x, y))]));
    let from_rgb = digit_from_bytes(&png_bytes(&DynamicImage::ImageRgb8(rgb)), "rgb.png").unwrap();
    let from_grey = to_mnist(&DynamicImage::ImageLuma8(grey)).unwrap();
    let d = mean_abs_diff(&from_rgb, &from_grey);
    assert!(d < 0.01, "mean absolute difference {d}");
    // And the faint yellow stroke really is fainter than the blue bar.
    let bright = from_rgb.iter().filter(|&&v| v > 0.9).count();
    assert!(bright > 20 && bright < 100, "{bright} full-ink pixels");
}

#[test]
fn rgba_black_ink_on_transparent_matches() {
    let ink = seven(28, 28, 1.0, 4.0, 2.0);
    let img = ImageBuffer::from_fn(28, 28, |x, y| Rgba([0, 0, 0, u8_of(ink[(y * 28 + x) as usize])]));
    assert_close(DynamicImage::ImageRgba8(img), "rgba.png");
}

#[test]
fn grey_alpha_16_bit_matches() {
    let ink = seven(28, 28, 1.0, 4.0, 2.0);
    let img = ImageBuffer::from_fn(28, 28, |x, y| {
        LumaA([0u16, (ink[(y * 28 + x) as usize] * 65535.0).round() as u16])
    });
    assert_close(DynamicImage::ImageLumaA16(img), "la16.png");
}

#[test]
fn grey_16_bit_matches() {
    // Light ink (0.9) on dark grey (0.3): only a right reading of 16-bit levels separates them.
    let ink = seven(28, 28, 1.0, 4.0, 2.0);
    let img = ImageBuffer::from_fn(28, 28, |x, y| {
        let v = 0.3 + 0.6 * ink[(y * 28 + x) as usize];
        Luma([(v * 65535.0).round() as u16])
    });
    assert_close(DynamicImage::ImageLuma16(img), "grey16.png");
}

#[test]
fn shrinking_averages_fine_detail() {
    // A 200×200 square of one-pixel stripes, shrunk tenfold: each output pixel covers ten
    // stripes, half of them ink, so the square comes out mid-grey, not striped.
    let img = ImageBuffer::from_fn(240, 240, |x, y| {
        let inside = (20..220).contains(&x) && (20..220).contains(&y);
        Luma([if inside && x % 2 == 0 { 255u8 } else { 0 }])
    });
    let out = to_mnist(&DynamicImage::ImageLuma8(img)).unwrap();
    for y in 6..22 {
        for x in 6..22 {
            let v = out[y * 28 + x];
            assert!((0.35..0.65).contains(&v), "pixel ({x}, {y}) is {v}");
        }
    }
}

#[test]
fn large_non_square_drawing_matches() {
    // 280×200, ten times the size, black on white, far from the centre.
    let ink = seven(280, 200, 7.0, 150.0, 10.0);
    let px = ink.iter().map(|&v| u8_of(1.0 - v)).collect();
    assert_close(DynamicImage::ImageLuma8(ImageBuffer::from_raw(280, 200, px).unwrap()), "big.png");
}

#[test]
fn small_drawing_is_scaled_up() {
    let ink = seven(40, 30, 0.5, 20.0, 3.0);
    let px = ink.iter().map(|&v| u8_of(v)).collect();
    let img = DynamicImage::ImageLuma8(ImageBuffer::from_raw(40, 30, px).unwrap());
    let out = to_mnist(&img).unwrap();
    let (_, h) = box_size(&out, 0.0);
    assert!((19..=21).contains(&h), "height {h}");
    // Scaling a 11-pixel-tall drawing up blurs it, so compare loosely.
    let d = mean_abs_diff(&out, &reference());
    assert!(d < 0.1, "mean absolute difference {d}");
}

#[test]
fn grey_ink_on_grey_paper_is_stretched_to_black_and_white() {
    // Ink at 0.3, paper at 0.75: after inversion the paper is 0.25, above the ink threshold,
    // unless the background level is taken out.
    let px = seven(28, 28, 1.0, 4.0, 2.0).iter().map(|&v| u8_of(0.75 - 0.45 * v)).collect();
    assert_close(DynamicImage::ImageLuma8(ImageBuffer::from_raw(28, 28, px).unwrap()), "paper.png");
}

#[test]
fn an_mnist_like_digit_is_left_as_it_is() {
    let once = reference();
    let img = DynamicImage::ImageLuma8(ImageBuffer::from_fn(28, 28, |x, y| {
        Luma([u8_of(once[(y * 28 + x) as usize])])
    }));
    let twice = to_mnist(&img).unwrap();
    let d = mean_abs_diff(&once, &twice);
    assert!(d < 0.01, "mean absolute difference {d}");
}

fn err_of(result: Result<Vec<f32>, ImageError>) -> ImageError {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn assert_names(e: &ImageError, name: &str) {
    let msg = e.to_string();
    assert!(msg.contains(name), "message {msg:?} does not name {name}");
    assert!(!msg.contains('\n'), "message {msg:?} is more than one line");
}

#[test]
fn bad_files_give_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = png_bytes(&white_on_black());
    let blank = png_bytes(&DynamicImage::ImageLuma8(ImageBuffer::from_pixel(28, 28, Luma([255]))));
    let cases: [(&str, &[u8]); 4] = [
        ("garbage.png", b"this is not an image at all, just some text"),
        ("truncated.png", &good[..good.len() / 2]),
        ("zero.png", b""),
        ("blank.png", &blank),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let e = err_of(load_digit(&path));
        assert_names(&e, name);
        let expected = if name == "blank.png" {
            matches!(e, ImageError::Blank { .. })
        } else {
            matches!(e, ImageError::NotPng { .. })
        };
        assert!(expected, "{name}: {e:?}");
    }
    let e = err_of(load_digit(&dir.path().join("missing.png")));
    assert_names(&e, "missing.png");
    assert!(matches!(e, ImageError::File(_)), "{e:?}");
}

#[test]
fn blank_images_of_every_shade_are_errors() {
    for shade in [0u8, 40, 128, 200, 255] {
        let img = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(30, 20, Luma([shade])));
        let e = err_of(to_mnist(&img));
        assert!(matches!(e, ImageError::Blank { .. }), "shade {shade}: {e:?}");
    }
    // Faint noise (below 0.1) is no digit either.
    let img =
        DynamicImage::ImageLuma8(ImageBuffer::from_fn(30, 20, |x, y| Luma([((x * 7 + y * 3) % 20) as u8])));
    assert!(matches!(err_of(to_mnist(&img)), ImageError::Blank { .. }));
    // A fully transparent image is blank paper.
    let img = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(10, 10, Rgba([0, 0, 0, 0])));
    assert!(matches!(err_of(to_mnist(&img)), ImageError::Blank { .. }));
}

#[test]
fn tiny_images_do_not_panic() {
    let one = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(1, 1, Luma([255])));
    assert!(to_mnist(&one).is_err(), "a single pixel is its own background");
    let empty = DynamicImage::ImageLuma8(ImageBuffer::new(0, 0));
    assert!(matches!(err_of(to_mnist(&empty)), ImageError::Empty { .. }));
    // A dot in a 3×3 field, and a line one pixel thick.
    let dot = DynamicImage::ImageLuma8(ImageBuffer::from_fn(3, 3, |x, y| {
        Luma([if (x, y) == (1, 1) { 255 } else { 0 }])
    }));
    let out = to_mnist(&dot).unwrap();
    assert_eq!(box_size(&out, 0.5), (20, 20));
    let line =
        DynamicImage::ImageLuma8(ImageBuffer::from_fn(50, 5, |_, y| Luma([if y == 2 { 255 } else { 0 }])));
    let out = to_mnist(&line).unwrap();
    assert_eq!(box_size(&out, 0.5), (20, 1));
}

#[test]
fn float_images_with_nan_give_finite_pixels() {
    let img = ImageBuffer::from_fn(28, 28, |x, y| {
        let v = seven(28, 28, 1.0, 4.0, 2.0)[(y * 28 + x) as usize];
        let v = if (x, y) == (10, 10) { f32::NAN } else { v };
        Rgb([v, v, v])
    });
    let out = to_mnist(&DynamicImage::ImageRgb32F(img)).unwrap();
    assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(mean_abs_diff(&out, &reference()) < 0.05);
}

/// A 1×1 PNG with its IHDR size bytes overwritten (the CRC no longer matches).
fn forged_header(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = png_bytes(&DynamicImage::ImageLuma8(ImageBuffer::new(1, 1)));
    assert_eq!(&bytes[12..16], b"IHDR");
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    bytes
}

#[test]
fn huge_and_empty_headers_are_refused_before_decoding() {
    let e = err_of(digit_from_bytes(&forged_header(1 << 30, 1 << 30), "huge.png"));
    assert!(matches!(e, ImageError::TooLarge { .. }), "{e:?}");
    assert_names(&e, "huge.png");
    assert!(e.to_string().contains("1073741824×1073741824"), "{e}");
    let e = err_of(digit_from_bytes(&forged_header(0, 5), "flat.png"));
    assert!(matches!(e, ImageError::Empty { .. }), "{e:?}");
    assert_names(&e, "flat.png");
    // A real, valid PNG that is too wide (it compresses to almost nothing).
    let wide = png_bytes(&DynamicImage::ImageLuma8(ImageBuffer::new(image_io::MAX_SIDE + 1, 1)));
    let e = err_of(digit_from_bytes(&wide, "wide.png"));
    assert!(matches!(e, ImageError::TooLarge { .. }), "{e:?}");
}

#[test]
fn every_truncation_and_corruption_is_an_error_not_a_panic() {
    let good = png_bytes(&white_on_black());
    // Every cut before the closing IEND chunk (its last 12 bytes) loses image data.
    assert_eq!(&good[good.len() - 8..good.len() - 4], b"IEND");
    for len in 0..good.len() - 12 {
        let e = err_of(digit_from_bytes(&good[..len], "cut.png"));
        assert_names(&e, "cut.png");
    }
    // Flip bytes all over the file with a fixed pseudo-random sequence: any result is fine
    // except a panic.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % bytes.len() as u64) as usize;
            bytes[at] ^= (state >> 32) as u8 | 1;
        }
        if let Ok(out) = digit_from_bytes(&bytes, "flipped.png") {
            assert_eq!(out.len(), 784);
        }
    }
}

#[test]
fn save_grey_png_writes_the_pixels_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ramp.png");
    let (rows, cols) = (28, 30);
    let pixels: Vec<f32> = (0..rows * cols).map(|i| (i % 256) as f32 / 255.0 + 0.001).collect();
    save_grey_png(&path, &pixels, rows, cols).unwrap();
    let back = image::open(&path).unwrap();
    assert_eq!((back.width(), back.height()), (cols as u32, rows as u32));
    let back = back.into_luma8();
    for (i, (&want, got)) in pixels.iter().zip(back.pixels()).enumerate() {
        let got = f32::from(got.0[0]) / 255.0;
        assert!((want - got).abs() <= 1.0 / 255.0, "pixel {i}: {want} vs {got}");
    }
}

#[test]
fn saved_mnist_digit_loads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digit.png");
    let once = reference();
    save_grey_png(&path, &once, 28, 28).unwrap();
    let back = load_digit(&path).unwrap();
    let d = mean_abs_diff(&once, &back);
    assert!(d < 0.01, "mean absolute difference {d}");
}

#[test]
fn save_grey_png_refuses_a_wrong_shape_and_a_bad_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.png");
    let e = save_grey_png(&path, &[0.5; 10], 28, 28).unwrap_err();
    assert!(matches!(e, ImageError::Shape { .. }), "{e:?}");
    assert_names(&e, "short.png");
    assert!(!path.exists());
    let e = save_grey_png(&path, &[], 0, 0).unwrap_err();
    assert!(matches!(e, ImageError::Empty { .. }), "{e:?}");
    let bad = dir.path().join("no_such_dir").join("out.png");
    let e = save_grey_png(&bad, &[0.5; 4], 2, 2).unwrap_err();
    assert!(matches!(e, ImageError::File(_)), "{e:?}");
    assert_names(&e, "out.png");
    // Out-of-range and NaN values are clamped, not a panic.
    let odd = dir.path().join("odd.png");
    save_grey_png(&odd, &[-1.0, 2.0, f32::NAN, 0.5], 2, 2).unwrap();
    let back = image::open(&odd).unwrap().into_luma8().into_raw();
    assert_eq!(back, vec![0, 255, 0, 128]);
}

#[test]
fn load_digit_on_a_path_without_png_extension_still_reads_png() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digit.bin");
    std::fs::write(&path, png_bytes(&white_on_black())).unwrap();
    let out = load_digit(Path::new(&path)).unwrap();
    assert!(mean_abs_diff(&out, &reference()) < 1e-6);
}
