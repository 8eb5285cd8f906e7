//! PNG digits to MNIST-like inputs, and greyscale PNGs back out.
//!
//! A network trained on MNIST expects 784 numbers in [0, 1]: a 28×28 image, row by row,
//! of a white digit on a black background, its ink fitted into a 20×20 box and its centre
//! of mass at the centre of the field. [`load_digit`] makes that out of any PNG (grey,
//! grey+alpha, RGB or RGBA, 8 or 16 bits per channel, any size up to 8192×8192), the way
//! MNIST itself was made from NIST's scans:
//!
//! 1. **Decode.** Where the image has an alpha channel it is composited over white, so a
//!    transparent PNG drawn in black ink reads as black ink on white paper.
//! 2. **Luminance.** Each pixel becomes its luma, Y = 0.299 R + 0.587 G + 0.114 B
//!    (ITU-R BT.601), scaled to [0, 1].
//! 3. **Polarity.** MNIST is white on black. If the mean of the outermost ring of pixels
//!    (the border) is brighter than 0.5, the image is inverted (v → 1 − v), so black-on-white
//!    drawings work.
//! 4. **Contrast.** The background level, the median of the border ring, is mapped to 0 and
//!    the brightest pixel to 1 (values clamped to [0, 1]), so grey paper and grey ink count
//!    as black and white. For a clean image this changes nothing.
//! 5. **Crop** to the bounding box of the pixels above 0.1. An image with no such pixel
//!    (nothing stands out from the background by more than 0.1) is blank: an error.
//! 6. **Resize** the box, keeping its aspect ratio, so that its longer side is 20 pixels
//!    (the image crate's triangle filter, which averages over the covered area when
//!    shrinking).
//! 7. **Centre.** Paste it into a black 28×28 canvas, shifted so that the centre of mass of
//!    the pixel intensities lands on pixel (14, 14) (the shift is rounded to whole pixels;
//!    anything shifted past the edge is clipped).
//!
//! [`save_grey_png`] goes the other way: pixels in [0, 1] to an 8-bit greyscale PNG.

use std::io::Cursor;
use std::path::Path;

use image::codecs::png::PngEncoder;
use image::imageops::{self, FilterType};
use image::{
    DynamicImage, ExtendedColorType, ImageBuffer, ImageEncoder, ImageFormat, ImageReader, Limits, Luma,
    Pixel, Primitive,
};

/// Side of the square MNIST field, in pixels.
pub const SIDE: usize = 28;
/// Longer side of the box the digit's ink is fitted into.
pub const BOX: u32 = 20;
/// Widest and tallest image accepted, in pixels.
pub const MAX_SIDE: u32 = 8192;
/// A pixel brighter than this (after inversion and contrast) is ink.
const INK: f32 = 0.1;
/// The most memory the PNG decoder may allocate (an 8192×8192 RGBA image at 16 bits).
const MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// The largest PNG file read (an 8192×8192 RGBA image at 16 bits, uncompressed, is 512 MiB).
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// Why a PNG could not be turned into a digit, or written. Each message is one line that
/// names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file is not a regular file, is too large, or could not be read or written.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    /// The bytes are not a PNG the decoder can read.
    #[error("{name}: not a decodable PNG ({reason}); give a PNG image of one digit")]
    NotPng {
        /// The file, as given.
        name: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The image has no pixels.
    #[error("{name}: the image is empty ({width}×{height} pixels); give a PNG image of one digit")]
    Empty {
        /// The file, as given.
        name: String,
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
    },
    /// The image is wider or taller than [`MAX_SIDE`].
    #[error(
        "{name}: the image is {width}×{height} pixels, larger than the {MAX_SIDE}×{MAX_SIDE} accepted; scale it down"
    )]
    TooLarge {
        /// The file, as given.
        name: String,
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
    },
    /// Nothing in the image stands out from its background.
    #[error(
        "{name}: no digit found, the image is blank; give a PNG of one digit drawn on a plain background"
    )]
    Blank {
        /// The file, as given.
        name: String,
    },
    /// `save_grey_png` was given a pixel count that does not fit the size.
    #[error("{name}: {len} pixels given for a {rows}×{cols} image; give rows × cols pixels")]
    Shape {
        /// The file, as given.
        name: String,
        /// How many pixels were given.
        len: usize,
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
    },
    /// The PNG encoder failed.
    #[error("{name}: cannot write the PNG ({reason})")]
    Encode {
        /// The file, as given.
        name: String,
        /// What the encoder said.
        reason: String,
    },
}

/// Load a PNG file as 784 MNIST-like pixels (row-major 28×28, f32 in [0,1]).
///
/// Only a regular file of at most [`MAX_FILE_BYTES`] is read (a FIFO or `/dev/zero` named as
/// an image is refused, see [`crate::files::read_input`]).
pub fn load_digit(path: &Path) -> Result<Vec<f32>, ImageError> {
    let name = path.display().to_string();
    let bytes = crate::files::read_input(path, MAX_FILE_BYTES, "a PNG image")?;
    digit_from_bytes(&bytes, &name)
}

/// Same from bytes already in memory (`name` only for messages).
pub fn digit_from_bytes(bytes: &[u8], name: &str) -> Result<Vec<f32>, ImageError> {
    convert(&decode_image(bytes, name)?, name, SIDE, SIDE)
}

/// [`load_digit`] for a field of `height × width` (a net trained on 16×16 digits): the ink is
/// fitted into a box of 20/28 of the field's shorter side and centred the same way.
pub fn load_digit_sized(path: &Path, height: usize, width: usize) -> Result<Vec<f32>, ImageError> {
    let name = path.display().to_string();
    let bytes = crate::files::read_input(path, MAX_FILE_BYTES, "an image")?;
    digit_from_bytes_sized(&bytes, &name, height, width)
}

/// [`load_digit_sized`] from bytes already in memory (`name` only for messages).
pub fn digit_from_bytes_sized(
    bytes: &[u8],
    name: &str,
    height: usize,
    width: usize,
) -> Result<Vec<f32>, ImageError> {
    convert(&decode_image(bytes, name)?, name, height, width)
}

/// A grey picture given as numbers (`pixels`: `pic_height × pic_width`, row-major, in [0, 1])
/// made into a digit of `height × width` by steps 3–7 of the module doc, as if it had been
/// decoded from a PNG of those greys (a canvas drawn on in a web page, say). Ink may be light
/// or dark: the polarity step decides, as for a file.
pub fn digit_from_pixels(
    pixels: &[f32],
    pic_height: usize,
    pic_width: usize,
    name: &str,
    height: usize,
    width: usize,
) -> Result<Vec<f32>, ImageError> {
    let side = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    check_size(side(pic_width), side(pic_height), name)?;
    if pic_height * pic_width != pixels.len() {
        return Err(ImageError::Shape {
            name: name.into(),
            len: pixels.len(),
            rows: pic_height,
            cols: pic_width,
        });
    }
    let px = pixels.iter().map(|&v| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) }).collect();
    convert_grey(Grey { width: pic_width, height: pic_height, px }, name, height, width)
}

/// Image bytes (PNG or JPEG) as the input of a model that reads `input`: a digit for
/// one-channel IDX data (MNIST-like, [`digit_from_bytes_sized`]), else resized to the shape
/// ([`image_from_bytes`]), as `nndl predict` reads an image file. `name` only for messages.
pub fn input_from_bytes(
    bytes: &[u8],
    name: &str,
    input: &crate::data::source::InputInfo,
) -> Result<Vec<f32>, ImageError> {
    let s = input.shape;
    if is_digit_input(input) {
        digit_from_bytes_sized(bytes, name, s.height, s.width)
    } else {
        image_from_bytes(bytes, name, s)
    }
}

/// Whether a model reading `input` reads pictures the way MNIST was made (cropped, fitted and
/// centred, see the module doc) rather than resized as a whole.
pub fn is_digit_input(input: &crate::data::source::InputInfo) -> bool {
    input.format != crate::data::source::Format::Images && input.shape.channels == 1
}

/// An image (PNG or JPEG) as a network trained on an image folder reads it: `shape.channels`
/// channels (1: BT.601 luma; 3: RGB; alpha composited over white, as the folder reader does),
/// resized to `shape.height × shape.width` (triangle filter), values in [0, 1], channel after
/// channel, each row-major. No cropping or inversion: the training images had none.
pub fn load_image(path: &Path, shape: crate::layers::Shape) -> Result<Vec<f32>, ImageError> {
    let name = path.display().to_string();
    let bytes = crate::files::read_input(path, MAX_FILE_BYTES, "an image")?;
    image_from_bytes(&bytes, &name, shape)
}

/// [`load_image`] from bytes already in memory (`name` only for messages).
pub fn image_from_bytes(
    bytes: &[u8],
    name: &str,
    shape: crate::layers::Shape,
) -> Result<Vec<f32>, ImageError> {
    let img = decode_image(bytes, name)?;
    let (w, h) = (shape.width as u32, shape.height as u32);
    let rgb = img.to_rgba32f();
    let rgb = imageops::resize(&rgb, w, h, FilterType::Triangle);
    let plane = shape.height * shape.width;
    let mut out = vec![0.0f32; shape.channels * plane];
    for (i, p) in rgb.pixels().enumerate() {
        let alpha = p.0[3].clamp(0.0, 1.0);
        let over_white = |c: f32| alpha * (if c.is_nan() { 0.0 } else { c.clamp(0.0, 1.0) }) + (1.0 - alpha);
        let [r, g, b] = [over_white(p.0[0]), over_white(p.0[1]), over_white(p.0[2])];
        if shape.channels == 1 {
            out[i] = 0.299 * r + 0.587 * g + 0.114 * b;
        } else {
            for (c, v) in [r, g, b].into_iter().enumerate().take(shape.channels) {
                out[c * plane + i] = v;
            }
        }
    }
    Ok(out)
}

/// Runs an image decoder, turning a panic inside it into `Err(on_panic())`. The JPEG decoder
/// (zune-jpeg, under the `image` crate) has a history of assertion panics on damaged files
/// (zune-image issues #148, #172, #202, #236, #281), and nndl's fuzzer found another in
/// zune-jpeg 0.5.15 (an upsampler's assertion, on a progressive JPEG with odd sampling factors):
/// a damaged file must be an error naming it, not a crash. The decoder's state is local to the
/// call, so nothing outlives the panic; while it runs, [`inside_decoder`] is true, so that the
/// binary's panic hook keeps the panic's message off the terminal.
pub fn contain_decoder_panic<T, E>(
    decode: impl FnOnce() -> Result<T, E>,
    on_panic: impl FnOnce() -> E,
) -> Result<T, E> {
    let was = DECODING.with(|d| d.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode));
    DECODING.with(|d| d.set(was));
    result.unwrap_or_else(|_| Err(on_panic()))
}

/// Installs a panic hook that stays quiet about the panics [`contain_decoder_panic`] catches
/// and hands every other panic to the hook that was there before.
pub fn quiet_contained_decoder_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !inside_decoder() {
            report(info);
        }
    }));
}

thread_local! {
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside [`contain_decoder_panic`] (for a panic hook).
pub fn inside_decoder() -> bool {
    DECODING.with(|d| d.get())
}

/// What a decoder's contained panic is reported as.
pub const DECODER_FAILED: &str = "the decoder gave up on this damaged or unusual file";

/// Decodes a PNG or JPEG (told apart by content), refusing oversized images before decoding.
fn decode_image(bytes: &[u8], name: &str) -> Result<DynamicImage, ImageError> {
    if bytes.starts_with(b"\x89PNG") || bytes.is_empty() {
        return decode_png(bytes, name);
    }
    let not_image = |reason: String| ImageError::NotPng { name: name.into(), reason };
    // A reader of the guessed format with the size limits (`into_dimensions` consumes one).
    let reader = || -> Result<ImageReader<Cursor<&[u8]>>, ImageError> {
        let mut r = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| not_image(e.to_string()))?;
        if r.format().is_none() {
            return Err(not_image("neither a PNG nor a JPEG".into()));
        }
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_ALLOC);
        r.limits(limits);
        Ok(r)
    };
    let (w, h) = contain_decoder_panic(
        || reader()?.into_dimensions().map_err(|e| not_image(e.to_string())),
        || not_image(DECODER_FAILED.into()),
    )?;
    check_size(w, h, name)?;
    let reader = reader()?;
    contain_decoder_panic(
        || reader.decode().map_err(|e| not_image(e.to_string())),
        || not_image(DECODER_FAILED.into()),
    )
}

/// The conversion from a decoded image (for tests and other callers); see the module doc.
/// Errors name the image "image".
pub fn to_mnist(img: &DynamicImage) -> Result<Vec<f32>, ImageError> {
    convert(img, "image", SIDE, SIDE)
}

/// Write 784 (or rows*cols) pixels in [0,1] as an 8-bit greyscale PNG (used to export test
/// digits and by tests). Values are clamped to [0, 1] and rounded to the nearest 1/255.
pub fn save_grey_png(path: &Path, pixels: &[f32], rows: usize, cols: usize) -> Result<(), ImageError> {
    let name = path.display().to_string();
    if rows.checked_mul(cols) != Some(pixels.len()) {
        return Err(ImageError::Shape { name, len: pixels.len(), rows, cols });
    }
    let side = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let (width, height) = (side(cols), side(rows));
    check_size(width, height, &name)?;
    // NaN clamps to NaN, which `as u8` turns into 0.
    let bytes: Vec<u8> = pixels.iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&bytes, width, height, ExtendedColorType::L8)
        .map_err(|e| ImageError::Encode { name: name.clone(), reason: e.to_string() })?;
    Ok(crate::files::write_atomically(path, &png)?)
}

/// Decode PNG bytes, refusing oversized images before anything large is allocated.
fn decode_png(bytes: &[u8], name: &str) -> Result<DynamicImage, ImageError> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let not_png = |reason: &str| ImageError::NotPng { name: name.into(), reason: reason.into() };
    if bytes.is_empty() {
        return Err(not_png("the file is empty"));
    }
    if !bytes.starts_with(SIGNATURE) {
        return Err(not_png("no PNG signature at the start"));
    }
    // The size stands in the IHDR chunk right after the signature: check it here, so the
    // message can give it; the decoder's limits below enforce it again.
    if bytes.len() >= 24 && &bytes[12..16] == b"IHDR" {
        let be = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        check_size(be(16), be(20), name)?;
    }
    // A palette (PLTE) of whole RGB entries, 1 to 256 of them: the png crate (0.18.1) panics
    // on one whose length is not a multiple of 3 (image-rs/image-png#694, fixed upstream but
    // not yet released). Found by fuzzing.
    let mut at = SIGNATURE.len();
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        if &bytes[at + 4..at + 8] == b"PLTE" && (len == 0 || !len.is_multiple_of(3) || len > 768) {
            return Err(not_png(&format!("its palette holds {len} bytes, not 1 to 256 RGB entries")));
        }
        if &bytes[at + 4..at + 8] == b"IDAT" {
            break; // the palette comes before the image data
        }
        at = at.saturating_add(12).saturating_add(len);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Png);
    reader.limits(limits);
    contain_decoder_panic(
        || {
            reader.decode().map_err(|e| match e {
                image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                    not_png("the file ends too early, is it truncated?")
                }
                other => not_png(&other.to_string()),
            })
        },
        || not_png(DECODER_FAILED),
    )
}

fn check_size(width: u32, height: u32, name: &str) -> Result<(), ImageError> {
    let name = name.to_string();
    if width == 0 || height == 0 {
        Err(ImageError::Empty { name, width, height })
    } else if width > MAX_SIDE || height > MAX_SIDE {
        Err(ImageError::TooLarge { name, width, height })
    } else {
        Ok(())
    }
}

/// A greyscale image of f32 values, row-major.
struct Grey {
    width: usize,
    height: usize,
    px: Vec<f32>,
}

/// Steps 1–7 of the module doc, into a field of `height × width` (28 × 28 for MNIST).
fn convert(img: &DynamicImage, name: &str, height: usize, width: usize) -> Result<Vec<f32>, ImageError> {
    check_size(img.width(), img.height(), name)?;
    convert_grey(luma_over_white(img), name, height, width)
}

/// Steps 3–7 of the module doc, on luminances in [0, 1].
fn convert_grey(mut grey: Grey, name: &str, height: usize, width: usize) -> Result<Vec<f32>, ImageError> {
    let blank = || ImageError::Blank { name: name.to_string() };

    // 3. Polarity, from the mean of the border ring.
    let mut ring = border_ring(&grey);
    if ring.iter().sum::<f32>() / ring.len() as f32 > 0.5 {
        grey.px.iter_mut().for_each(|v| *v = 1.0 - *v);
        ring.iter_mut().for_each(|v| *v = 1.0 - *v);
    }

    // 4. Contrast: the median of the border ring to 0, the brightest pixel to 1.
    ring.sort_by(f32::total_cmp);
    let background = ring[ring.len() / 2];
    let brightest = grey.px.iter().copied().fold(0.0_f32, f32::max);
    if brightest - background <= INK {
        return Err(blank());
    }
    let scale = 1.0 / (brightest - background);
    grey.px.iter_mut().for_each(|v| *v = ((*v - background) * scale).clamp(0.0, 1.0));

    // 5. Crop to the bounding box of the ink.
    let (x0, y0, x1, y1) = ink_box(&grey).ok_or_else(blank)?;
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let cropped: Vec<f32> =
        (y0..=y1).flat_map(|y| grey.px[y * grey.width + x0..=y * grey.width + x1].iter().copied()).collect();

    // 6. Resize so that the longer side is BOX pixels (BOX/SIDE of the field's shorter side).
    let long = bw.max(bh) as f32;
    let fit_box = ((height.min(width) as f32 * BOX as f32 / SIDE as f32).round() as u32).max(1);
    let fit = |side: usize| ((side as f32 * fit_box as f32 / long).round() as u32).clamp(1, fit_box);
    let (nw, nh) = (fit(bw), fit(bh));
    let buffer: ImageBuffer<Luma<f32>, Vec<f32>> =
        ImageBuffer::from_raw(bw as u32, bh as u32, cropped).expect("the crop is bw × bh");
    let small = imageops::resize(&buffer, nw, nh, FilterType::Triangle);

    // 7. Centre the mass on (14, 14).
    let nw = nw as usize;
    let (mut mass, mut mx, mut my) = (0.0_f64, 0.0_f64, 0.0_f64);
    for (i, &v) in small.as_raw().iter().enumerate() {
        let v = f64::from(v.clamp(0.0, 1.0));
        mass += v;
        mx += v * (i % nw) as f64;
        my += v * (i / nw) as f64;
    }
    if mass <= 0.0 {
        return Err(blank());
    }
    let dx = (width as f64 / 2.0 - mx / mass).round() as isize;
    let dy = (height as f64 / 2.0 - my / mass).round() as isize;
    let mut out = vec![0.0_f32; height * width];
    for (i, &v) in small.as_raw().iter().enumerate() {
        let x = (i % nw) as isize + dx;
        let y = (i / nw) as isize + dy;
        if (0..width as isize).contains(&x) && (0..height as isize).contains(&y) {
            out[y as usize * width + x as usize] = v.clamp(0.0, 1.0);
        }
    }
    Ok(out)
}

/// Steps 1–2: luminance in [0, 1], alpha composited over white.
fn luma_over_white(img: &DynamicImage) -> Grey {
    let px = match img {
        DynamicImage::ImageLuma8(b) => luma_of(b),
        DynamicImage::ImageLumaA8(b) => luma_of(b),
        DynamicImage::ImageRgb8(b) => luma_of(b),
        DynamicImage::ImageRgba8(b) => luma_of(b),
        DynamicImage::ImageLuma16(b) => luma_of(b),
        DynamicImage::ImageLumaA16(b) => luma_of(b),
        DynamicImage::ImageRgb16(b) => luma_of(b),
        DynamicImage::ImageRgba16(b) => luma_of(b),
        DynamicImage::ImageRgb32F(b) => luma_of(b),
        other => luma_of(&other.to_rgba32f()),
    };
    Grey { width: img.width() as usize, height: img.height() as usize, px }
}

/// Luma over white for any pixel layout of 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA) channels.
fn luma_of<P>(buffer: &ImageBuffer<P, Vec<P::Subpixel>>) -> Vec<f32>
where
    P: Pixel,
    P::Subpixel: Into<f32>,
{
    let max: f32 = <P::Subpixel as Primitive>::DEFAULT_MAX_VALUE.into();
    buffer
        .pixels()
        .map(|p| {
            let c = p.channels();
            let v = |i: usize| {
                let x = c[i].into() / max;
                if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) } // NaN: float images only
            };
            let bt601 = || 0.299 * v(0) + 0.587 * v(1) + 0.114 * v(2);
            let (y, alpha) = match c.len() {
                1 => (v(0), 1.0),
                2 => (v(0), v(1)),
                3 => (bt601(), 1.0),
                _ => (bt601(), v(3)),
            };
            alpha * y + (1.0 - alpha)
        })
        .collect()
}

/// The outermost ring of pixels (each once).
fn border_ring(g: &Grey) -> Vec<f32> {
    let (w, h) = (g.width, g.height);
    let mut ring = Vec::with_capacity(2 * (w + h));
    ring.extend_from_slice(&g.px[..w]);
    if h > 1 {
        ring.extend_from_slice(&g.px[(h - 1) * w..]);
    }
    for y in 1..h.saturating_sub(1) {
        ring.push(g.px[y * w]);
        if w > 1 {
            ring.push(g.px[y * w + w - 1]);
        }
    }
    ring
}

/// The inclusive box (x0, y0, x1, y1) of the pixels above [`INK`], if any.
fn ink_box(g: &Grey) -> Option<(usize, usize, usize, usize)> {
    let mut found: Option<(usize, usize, usize, usize)> = None;
    for (i, &v) in g.px.iter().enumerate() {
        if v > INK {
            let (x, y) = (i % g.width, i / g.width);
            found = Some(match found {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            });
        }
    }
    found
}
