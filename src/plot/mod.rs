//! Pictures: line charts (learning curves, gradient norms), grids of small images (weights,
//! filters, digits) and heat maps (confusion matrices), one file per kind.
//!
//! The file's extension picks the format: `.png` (drawn in memory, then encoded) or `.svg`.
//! Drawing is done by [plotters](https://docs.rs/plotters); text is set in DejaVu Sans, which
//! is built into the binary, so no system fonts are needed. Files are written atomically: a
//! failed plot leaves no partial file.

mod chart;
mod grid;
mod heatmap;

pub use chart::{Chart, Corner, Series, charts, training_charts};
pub use grid::{Shading, Tile, image_grid};
pub use heatmap::heatmap;

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;
use thiserror::Error;

/// Why a plot could not be made. Each message names the file.
#[derive(Debug, Error)]
pub enum PlotError {
    #[error("{path}: plots are written as .png or .svg; give a file name ending in one of those")]
    Format { path: PathBuf },
    #[error("{path}: nothing to plot ({why})")]
    Empty { path: PathBuf, why: String },
    #[error("{path}: drawing failed: {why}")]
    Draw { path: PathBuf, why: String },
    #[error(transparent)]
    File(#[from] crate::files::FileError),
}

/// PNG or SVG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// The format a file name asks for, by its extension.
    pub fn of(path: &Path) -> Result<Format, PlotError> {
        match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(PlotError::Format { path: path.to_path_buf() }),
        }
    }
}

const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 20;

type DrawResult = Result<(), String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What [`render`] draws; one variant per kind of plot, so that each can be drawn on either
/// backend.
enum Picture<'a> {
    Charts {
        panels: &'a [Chart],
        rows: usize,
        columns: usize,
    },
    Grid {
        title: &'a str,
        tiles: &'a [Tile],
        columns: usize,
        shading: Shading,
        scale: u32,
        cell: (u32, u32),
    },
    Heat {
        title: &'a str,
        matrix: &'a [Vec<f64>],
        labels: &'a [String],
        axes: (&'a str, &'a str),
        off_peak: f64,
    },
}

impl Picture<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        match *self {
            Picture::Charts { panels, rows, columns } => chart::draw_charts(root, panels, rows, columns),
            Picture::Grid { title, tiles, columns, shading, scale, cell } => {
                grid::draw_grid(root, (title, tiles, columns, shading), scale, cell)
            }
            Picture::Heat { title, matrix, labels, axes, off_peak } => {
                heatmap::draw_heatmap(root, (title, matrix, labels), axes, off_peak)
            }
        }
    }
}

/// Sets up a white canvas of `size` pixels for `path`'s format, runs `draw` on it, and writes
/// the file atomically.
fn render(path: &Path, size: (u32, u32), picture: &Picture<'_>) -> Result<(), PlotError> {
    register_font();
    let failed = |why: String| PlotError::Draw { path: path.to_path_buf(), why };
    let bytes = match Format::of(path)? {
        Format::Png => {
            let mut rgb = vec![255u8; (size.0 * size.1 * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
                root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
                picture.draw(&root).map_err(failed)?;
                root.present().map_err(|e| failed(e.to_string()))?;
            }
            let mut png = Vec::new();
            image::RgbImage::from_raw(size.0, size.1, rgb)
                .expect("buffer sized for the image")
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .map_err(|e| failed(e.to_string()))?;
            png
        }
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
                picture.draw(&root).map_err(failed)?;
                root.present().map_err(|e| failed(e.to_string()))?;
            }
            svg.into_bytes()
        }
    };
    Ok(crate::files::write_atomically(path, &bytes)?)
}

/// Pixels a title at the top of a picture needs across (its text plus margins).
fn title_width(title: &str) -> u32 {
    register_font();
    24 + (FONT, TITLE_SIZE).into_font().box_size(title).map_or(0, |(w, _)| w)
}

/// A picture's title, at its top left.
fn draw_title<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str) -> DrawResult {
    root.draw(&Text::new(title, (10, 12), (FONT, TITLE_SIZE).into_font())).map_err(err)
}

/// Makes DejaVu Sans, compiled into the binary, the font plotters draws "sans-serif" text in.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .unwrap_or_else(|_| panic!("the built-in DejaVu Sans font is valid"));
    });
}
