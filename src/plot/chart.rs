//! Line charts: learning curves, cost and gradient-norm curves, in panels.

use super::{DrawResult, FONT, Picture, PlotError, err, render};
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use std::path::Path;

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

const PANEL: (u32, u32) = (640, 420);

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

pub(super) fn draw_charts<DB: DrawingBackend>(
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

/// Points further from 0 than this (or, on a log axis, closer to it than its inverse) are not
/// drawn: far beyond any cost, accuracy or gradient norm, and plotters' tick placement does not
/// end on ranges near f64's limits (a metrics file can hold anything).
const PLOTTABLE: f64 = 1e30;
/// The most decades a log axis spans.
const MAX_DECADES: f64 = 30.0;

fn draw_chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart) -> DrawResult {
    let finite = |p: &&(f64, f64)| {
        let within = |v: f64| v.is_finite() && v.abs() <= PLOTTABLE;
        within(p.0) && within(p.1) && (!chart.log_y || p.1 >= 1.0 / PLOTTABLE)
    };
    let points: Vec<(f64, f64)> =
        chart.series.iter().flat_map(|s| s.points.iter().filter(finite)).copied().collect();
    let (x0, x1) = span(points.iter().map(|p| p.0));
    let (y0, y1) = chart.y_range.unwrap_or_else(|| span(points.iter().map(|p| p.1)));
    let (y0, y1) = if chart.log_y {
        let y1 = y1.max(1.0 / PLOTTABLE);
        (y0.max(y1 / 10f64.powf(MAX_DECADES)) * 0.8, y1 * 1.25)
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

/// `(min, max)` of finite values, widened when they are all equal; `(0, 1)` when there are none.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if lo < hi {
        (lo, hi)
    } else {
        (lo - 0.5 * lo.abs().max(1.0), hi + 0.5 * hi.abs().max(1.0))
    }
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
