//! Pictures: line charts (learning curves, gradient norms), grids of small images (weights,
//! filters, digits) and heat maps (confusion matrices).
//!
//! The file's extension picks the format: `.png` (drawn in memory, then encoded) or `.svg`.
//! Drawing is done by [plotters](https://docs.rs/plotters); text is set in DejaVu Sans, which
//! is built into the binary, so no system fonts are needed. Files are written atomically: a
//! failed plot leaves no partial file.

use crate::model_io::write_atomically;
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
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
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
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

/// One named line: `(x, y)` points in order of x.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { label: label.into(), points }
    }

    /// `ys[i]` at x = i + 1 (epochs count from 1).
    pub fn per_epoch(label: impl Into<String>, ys: &[f64]) -> Self {
        Self::new(label, ys.iter().enumerate().map(|(i, &y)| ((i + 1) as f64, y)).collect())
    }
}

/// One panel of line charts: axes, labels, and the lines in it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Logarithmic y axis (for costs and gradient norms that span decades).
    pub log_y: bool,
    /// Fixed y range; by default the data's range with a margin.
    pub y_range: Option<(f64, f64)>,
    /// Where the legend goes (top right unless the lines end there).
    pub legend: Corner,
}

/// A corner of a chart, for its legend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Corner {
    #[default]
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
}

impl Chart {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Chart { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), ..Default::default() }
    }

    /// Adds a line.
    pub fn with(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Switches to a logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Fixes the y range.
    pub fn y_range(mut self, low: f64, high: f64) -> Self {
        self.y_range = Some((low, high));
        self
    }

    /// Puts the legend in another corner.
    pub fn legend(mut self, corner: Corner) -> Self {
        self.legend = corner;
        self
    }
}

/// A small picture in a grid, with a caption under it. Values are read row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    pub values: Vec<f32>,
    pub width: usize,
    pub height: usize,
    pub caption: String,
}

/// How tile values become colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shading {
    /// Ink on paper: 0 is white, 1 is black (MNIST pixels).
    Ink,
    /// Weights: each tile scaled by its largest |value|; negative blue, zero white, positive red.
    Signed,
}

const PANEL: (u32, u32) = (640, 420);
const FONT: &str = "sans-serif";

/// Line charts, `columns` panels to a row, in one file.
pub fn charts(path: &Path, panels: &[Chart], columns: usize) -> Result<(), PlotError> {
    let empty = |why: &str| PlotError::Empty { path: path.to_path_buf(), why: why.into() };
    if panels.is_empty() {
        return Err(empty("no charts"));
    }
    for chart in panels {
        let points: Vec<_> = chart.series.iter().flat_map(|s| &s.points).collect();
        if points.is_empty() {
            return Err(empty(&format!("the chart '{}' has no points", chart.title)));
        }
        if !points.iter().any(|p| p.0.is_finite() && p.1.is_finite() && (!chart.log_y || p.1 > 0.0)) {
            return Err(empty(&format!("the chart '{}' has no finite points", chart.title)));
        }
    }
    let columns = columns.clamp(1, panels.len()) as u32;
    let rows = (panels.len() as u32).div_ceil(columns);
    let size = (PANEL.0 * columns, PANEL.1 * rows);
    render(path, size, &Picture::Charts { panels, rows: rows as usize, columns: columns as usize })
}

fn draw_charts<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Chart],
    rows: usize,
    columns: usize,
) -> DrawResult {
    let areas = root.split_evenly((rows, columns));
    for (chart, area) in panels.iter().zip(&areas) {
        draw_chart(area, chart)?;
    }
    Ok(())
}

/// A grid of tiles under a title, `columns` to a row.
pub fn image_grid(
    path: &Path,
    title: &str,
    tiles: &[Tile],
    columns: usize,
    shading: Shading,
) -> Result<(), PlotError> {
    if tiles.is_empty() {
        return Err(PlotError::Empty { path: path.to_path_buf(), why: "no images".into() });
    }
    if let Some(t) = tiles.iter().find(|t| t.values.len() != t.width * t.height || t.width == 0) {
        return Err(PlotError::Draw {
            path: path.to_path_buf(),
            why: format!("a {}×{} tile has {} values", t.width, t.height, t.values.len()),
        });
    }
    let columns = columns.clamp(1, tiles.len());
    let rows = tiles.len().div_ceil(columns);
    let (tw, th) =
        (tiles.iter().map(|t| t.width).max().unwrap(), tiles.iter().map(|t| t.height).max().unwrap());
    // Each image pixel becomes a square of `scale` screen pixels; cells leave room for captions.
    let scale = (84 / tw.max(th)).max(2) as u32;
    let captions = tiles.iter().any(|t| !t.caption.is_empty());
    let cell = (tw as u32 * scale + 12, th as u32 * scale + if captions { 26 } else { 10 });
    // Wide enough for the title too.
    register_font();
    let title_width = 24 + (FONT, 20).into_font().box_size(title).map_or(0, |(w, _)| w);
    let size = ((cell.0 * columns as u32).max(title_width), GRID_HEADER + cell.1 * rows as u32 + 6);
    render(path, size, &Picture::Grid { title, tiles, columns, shading, scale, cell })
}

const GRID_HEADER: u32 = 44;

fn draw_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (title, tiles, columns, shading): (&str, &[Tile], usize, Shading),
    scale: u32,
    cell: (u32, u32),
) -> DrawResult {
    let header = GRID_HEADER;
    {
        root.draw(&Text::new(title, (10, 12), (FONT, 20).into_font())).map_err(err)?;
        for (i, tile) in tiles.iter().enumerate() {
            let (col, row) = ((i % columns) as u32, (i / columns) as u32);
            let (x0, y0) = ((col * cell.0 + 6) as i32, (header + row * cell.1 + 4) as i32);
            let peak = tile.values.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            for (j, &v) in tile.values.iter().enumerate() {
                let (px, py) = ((j % tile.width) as i32, (j / tile.width) as i32);
                let colour = match shading {
                    Shading::Ink => {
                        let g = (255.0 * (1.0 - v.clamp(0.0, 1.0))) as u8;
                        RGBColor(g, g, g)
                    }
                    Shading::Signed => diverging(v / peak),
                };
                let s = scale as i32;
                let corner = (x0 + px * s, y0 + py * s);
                root.draw(&Rectangle::new([corner, (corner.0 + s, corner.1 + s)], colour.filled()))
                    .map_err(err)?;
            }
            let (w, h) = ((tile.width as u32 * scale) as i32, (tile.height as u32 * scale) as i32);
            root.draw(&Rectangle::new([(x0 - 1, y0 - 1), (x0 + w, y0 + h)], BLACK.mix(0.3))).map_err(err)?;
            if !tile.caption.is_empty() {
                root.draw(&Text::new(tile.caption.as_str(), (x0, y0 + h + 4), (FONT, 14).into_font()))
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}

/// A heat map of `matrix[row][col]` with each count written in its cell, e.g. a confusion
/// matrix with true digits as rows and predicted digits as columns.
pub fn heatmap(
    path: &Path,
    title: &str,
    matrix: &[Vec<f64>],
    labels: &[String],
    (row_axis, col_axis): (&str, &str),
) -> Result<(), PlotError> {
    let n = matrix.len();
    if n == 0 || matrix.iter().any(|r| r.len() != n) || labels.len() != n {
        return Err(PlotError::Empty { path: path.to_path_buf(), why: "the matrix must be square".into() });
    }
    let (cell, left, top) = (48u32, 90u32, 70u32);
    register_font();
    let title_width = 24 + (FONT, 20).into_font().box_size(title).map_or(0, |(w, _)| w);
    let size = ((left + cell * n as u32 + 30).max(title_width), top + cell * n as u32 + 60);
    // Shade off-diagonal cells by their share of the largest off-diagonal count, so the
    // confusions show even when the diagonal dwarfs them.
    let off_peak = (0..n).flat_map(|r| (0..n).filter(move |&c| c != r).map(move |c| (r, c)));
    let off_peak = off_peak.map(|(r, c)| matrix[r][c]).fold(0.0f64, f64::max).max(1e-12);
    render(path, size, &Picture::Heat { title, matrix, labels, axes: (row_axis, col_axis), off_peak })
}

fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (title, matrix, labels): (&str, &[Vec<f64>], &[String]),
    (row_axis, col_axis): (&str, &str),
    off_peak: f64,
) -> DrawResult {
    let n = matrix.len();
    let cell = 48u32;
    let (left, top) = (90u32, 70u32);
    {
        root.draw(&Text::new(title, (10, 12), (FONT, 20).into_font())).map_err(err)?;
        for (r, row) in matrix.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                let (x, y) = ((left + c as u32 * cell) as i32, (top + r as u32 * cell) as i32);
                let colour = if r == c {
                    RGBColor(200, 230, 201)
                } else {
                    let t = (v / off_peak).clamp(0.0, 1.0);
                    let fade = |full: f64| (255.0 - t * (255.0 - full)) as u8;
                    RGBColor(fade(211.0), fade(47.0), fade(47.0))
                };
                let corner = (x + cell as i32, y + cell as i32);
                root.draw(&Rectangle::new([(x, y), corner], colour.filled())).map_err(err)?;
                root.draw(&Rectangle::new([(x, y), corner], BLACK.mix(0.15))).map_err(err)?;
                let text = if v.fract() == 0.0 { format!("{v}") } else { format!("{v:.2}") };
                let style = (FONT, 13).into_font().color(&BLACK);
                root.draw(&Text::new(text, (x + 5, y + cell as i32 / 2 - 7), style)).map_err(err)?;
            }
        }
        for (i, label) in labels.iter().enumerate() {
            let along = (i as u32 * cell + cell / 2 - 4) as i32;
            let font = (FONT, 15).into_font();
            root.draw(&Text::new(label.as_str(), (left as i32 + along, top as i32 - 20), font.clone()))
                .map_err(err)?;
            root.draw(&Text::new(label.as_str(), (left as i32 - 22, top as i32 + along), font))
                .map_err(err)?;
        }
        let font = (FONT, 15).into_font();
        root.draw(&Text::new(col_axis, (left as i32, top as i32 - 42), font.clone())).map_err(err)?;
        let below = (top + cell * n as u32 + 16) as i32;
        root.draw(&Text::new(format!("rows: {row_axis}"), (10, below), font)).map_err(err)?;
        Ok(())
    }
}

/// The learning-curve panels of a training run, as in the book's chapter-3 figures: cost per
/// epoch, accuracy per epoch, and (if they were tracked) each layer's gradient norm ‖∂C/∂b^l‖
/// from epoch 0 (before training) on, on a log scale. Panels with nothing monitored are left out.
pub fn training_charts(epochs: &[crate::train::EpochMetrics], initial_norms: Option<&[f64]>) -> Vec<Chart> {
    let line = |label: &str, get: &dyn Fn(&crate::train::EpochMetrics) -> Option<f64>| {
        let points: Vec<_> = epochs.iter().filter_map(|e| get(e).map(|v| (e.epoch as f64, v))).collect();
        (!points.is_empty()).then(|| Series::new(label, points))
    };
    let mut cost = Chart::new("Cost", "epoch", "cost");
    cost.series.extend(line("training", &|e| e.training_cost));
    cost.series.extend(line("evaluation", &|e| e.evaluation_cost));
    let mut accuracy = Chart::new("Accuracy", "epoch", "accuracy (%)");
    accuracy.series.extend(line("training", &|e| e.training_accuracy.map(|a| 100.0 * a)));
    accuracy.series.extend(line("evaluation", &|e| e.evaluation_accuracy.map(|a| 100.0 * a)));
    let mut gradients = Chart::new("Speed of learning", "epoch", "‖∂C/∂b‖ per layer").log_y();
    let layers = epochs.iter().filter_map(|e| e.gradient_norms.as_ref().map(Vec::len)).max().unwrap_or(0);
    for l in 0..layers {
        let start = initial_norms.and_then(|n| n.get(l)).map(|&v| (0.0, v));
        let rest =
            epochs.iter().filter_map(|e| e.gradient_norms.as_ref()?.get(l).map(|&v| (e.epoch as f64, v)));
        gradients
            .series
            .push(Series::new(format!("layer {}", l + 1), start.into_iter().chain(rest).collect()));
    }
    [cost, accuracy, gradients].into_iter().filter(|c| !c.series.is_empty()).collect()
}

/// Blue (−1) through white (0) to red (+1).
fn diverging(t: f32) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let mix = |to: (f32, f32, f32), t: f32| {
        let c = |full: f32| (255.0 - t * (255.0 - full)) as u8;
        RGBColor(c(to.0), c(to.1), c(to.2))
    };
    if t < 0.0 { mix((33.0, 102.0, 172.0), -t) } else { mix((178.0, 24.0, 43.0), t) }
}

type DrawResult = Result<(), String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The colours of successive lines (a colour-blind-safe palette).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

fn draw_chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart) -> DrawResult {
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite() && (!chart.log_y || p.1 > 0.0);
    let points: Vec<(f64, f64)> =
        chart.series.iter().flat_map(|s| s.points.iter().filter(finite)).copied().collect();
    let (x0, x1) = span(points.iter().map(|p| p.0));
    let (y0, y1) = chart.y_range.unwrap_or_else(|| span(points.iter().map(|p| p.1)));
    let (y0, y1) = if chart.log_y {
        (y0.max(f64::MIN_POSITIVE) * 0.8, y1 * 1.25)
    } else {
        let pad = 0.05 * (y1 - y0);
        (y0 - pad, y1 + pad)
    };
    let mut builder = ChartBuilder::on(area);
    builder.caption(chart.title.as_str(), (FONT, 18)).margin(12).x_label_area_size(40).y_label_area_size(64);
    // The two axis kinds have different coordinate types, so each draws its own lines.
    if chart.log_y {
        let mut c = builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(err)?;
        mesh(&mut c, chart)?;
        lines(&mut c, chart, finite)
    } else {
        let mut c = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
        mesh(&mut c, chart)?;
        lines(&mut c, chart, finite)
    }
}

fn mesh<DB: DrawingBackend, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    c: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    chart: &Chart,
) -> DrawResult {
    // Epochs and iterations are whole numbers: label only whole ticks, about ten of them.
    let whole = chart.series.iter().flat_map(|s| &s.points).all(|p| p.0.fract() == 0.0);
    let x_tidy = move |v: &f64| if whole && v.fract() != 0.0 { String::new() } else { tidy(*v) };
    let std::ops::Range { start: lo, end: hi } = c.x_range();
    let x_labels = if whole { ((hi - lo) as usize + 1).clamp(2, 11) } else { 10 };
    c.configure_mesh()
        .x_labels(x_labels)
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&x_tidy)
        .y_label_formatter(&|v| tidy(*v))
        .draw()
        .map_err(err)
}

fn lines<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    c: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    chart: &Chart,
    finite: impl Fn(&&(f64, f64)) -> bool,
) -> DrawResult {
    for (i, s) in chart.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s.points.iter().filter(&finite).copied().collect();
        let drawn = c.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2))).map_err(err)?;
        if !s.label.is_empty() {
            drawn
                .label(s.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        }
        if pts.len() == 1 {
            c.draw_series(std::iter::once(Circle::new(pts[0], 3, colour.filled()))).map_err(err)?;
        }
    }
    if chart.series.iter().any(|s| !s.label.is_empty()) {
        c.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 13))
            .position(match chart.legend {
                Corner::UpperRight => SeriesLabelPosition::UpperRight,
                Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                Corner::LowerRight => SeriesLabelPosition::LowerRight,
                Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            })
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// A tick label: at most four significant digits, no trailing zeros (`5`, `0.25`), and powers
/// of ten written as such outside 0.001–10000 (`1e-4`, `1e6`), so a log axis reads evenly.
fn tidy(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    // (with a little slack: log-axis ticks arrive as 9999.999… for 10⁴)
    if !(1e-3 * (1.0 - 1e-9)..1e4 * (1.0 - 1e-9)).contains(&v.abs()) {
        return format!("{v:.0e}");
    }
    let decimals = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// `(min, max)` of finite values, widened when they are all equal.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo < hi { (lo, hi) } else { (lo - 0.5 * lo.abs().max(1.0), hi + 0.5 * hi.abs().max(1.0)) }
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
            Picture::Charts { panels, rows, columns } => draw_charts(root, panels, rows, columns),
            Picture::Grid { title, tiles, columns, shading, scale, cell } => {
                draw_grid(root, (title, tiles, columns, shading), scale, cell)
            }
            Picture::Heat { title, matrix, labels, axes, off_peak } => {
                draw_heatmap(root, (title, matrix, labels), axes, off_peak)
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
    write_atomically(path, &bytes).map_err(|source| PlotError::Io { path: path.to_path_buf(), source })
}

/// Makes DejaVu Sans, compiled into the binary, the font plotters draws "sans-serif" text in.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .unwrap_or_else(|_| panic!("the built-in DejaVu Sans font is valid"));
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn tick_labels_are_short() {
        let t = super::tidy;
        assert_eq!([t(5.0), t(0.25), t(2.5e-3), t(1234.6)], ["5", "0.25", "0.0025", "1235"]);
        assert_eq!([t(9999.999999), t(1e6), t(1e-4), t(-1e5)], ["1e4", "1e6", "1e-4", "-1e5"]);
    }
}
