//! Heat maps with the counts written in: confusion matrices.

use super::{DrawResult, FONT, Picture, PlotError, draw_title, err, render, title_width};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

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
    let title_width = title_width(title);
    let size = ((left + cell * n as u32 + 30).max(title_width), top + cell * n as u32 + 60);
    // Shade off-diagonal cells by their share of the largest off-diagonal count, so the
    // confusions show even when the diagonal dwarfs them.
    let off_peak = (0..n).flat_map(|r| (0..n).filter(move |&c| c != r).map(move |c| (r, c)));
    let off_peak = off_peak.map(|(r, c)| matrix[r][c]).fold(0.0f64, f64::max).max(1e-12);
    render(path, size, &Picture::Heat { title, matrix, labels, axes: (row_axis, col_axis), off_peak })
}

pub(super) fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (title, matrix, labels): (&str, &[Vec<f64>], &[String]),
    (row_axis, col_axis): (&str, &str),
    off_peak: f64,
) -> DrawResult {
    let n = matrix.len();
    let cell = 48u32;
    let (left, top) = (90u32, 70u32);
    {
        draw_title(root, title)?;
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
