//! Grids of small images: weights, conv filters, digits.

use super::{DrawResult, FONT, Picture, PlotError, draw_title, err, render, title_width};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// A small picture in a grid, with a caption under it. Values are read row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    pub values: Vec<f32>,
    pub width: usize,
    pub height: usize,
    pub caption: String,
}

/// How tile values become colours. A tile of 3 × width × height values is in colour (red,
/// green and blue planes): as it is for `Ink`, centred on grey for `Signed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shading {
    /// Ink on paper: 0 is white, 1 is black (MNIST pixels).
    Ink,
    /// Weights: each tile scaled by its largest |value|; negative blue, zero white, positive red.
    Signed,
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
    let plane = |t: &Tile| t.width * t.height;
    if let Some(t) =
        tiles.iter().find(|t| t.width == 0 || ![plane(t), 3 * plane(t)].contains(&t.values.len()))
    {
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
    let title_width = title_width(title);
    let size = ((cell.0 * columns as u32).max(title_width), GRID_HEADER + cell.1 * rows as u32 + 6);
    render(path, size, &Picture::Grid { title, tiles, columns, shading, scale, cell })
}

const GRID_HEADER: u32 = 44;

pub(super) fn draw_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (title, tiles, columns, shading): (&str, &[Tile], usize, Shading),
    scale: u32,
    cell: (u32, u32),
) -> DrawResult {
    let header = GRID_HEADER;
    {
        draw_title(root, title)?;
        for (i, tile) in tiles.iter().enumerate() {
            let (col, row) = ((i % columns) as u32, (i / columns) as u32);
            let (x0, y0) = ((col * cell.0 + 6) as i32, (header + row * cell.1 + 4) as i32);
            let peak = tile.values.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let plane = tile.width * tile.height;
            let colour_tile = tile.values.len() == 3 * plane;
            for j in 0..plane {
                let (px, py) = ((j % tile.width) as i32, (j / tile.width) as i32);
                let v = tile.values[j];
                let colour = match (shading, colour_tile) {
                    (Shading::Ink, false) => {
                        let g = (255.0 * (1.0 - v.clamp(0.0, 1.0))) as u8;
                        RGBColor(g, g, g)
                    }
                    (Shading::Signed, false) => diverging(v / peak),
                    // Colour: the three channels as they are (images), or each around mid-grey
                    // by its sign (weights of a filter over red, green and blue).
                    (shading, true) => {
                        let c = |ch: usize| {
                            let v = tile.values[ch * plane + j];
                            let t = if shading == Shading::Ink { v } else { 0.5 + 0.5 * v / peak };
                            (255.0 * t.clamp(0.0, 1.0)) as u8
                        };
                        RGBColor(c(0), c(1), c(2))
                    }
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

/// Blue (−1) through white (0) to red (+1).
fn diverging(t: f32) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let mix = |to: (f32, f32, f32), t: f32| {
        let c = |full: f32| (255.0 - t * (255.0 - full)) as u8;
        RGBColor(c(to.0), c(to.1), c(to.2))
    };
    if t < 0.0 { mix((33.0, 102.0, 172.0), -t) } else { mix((178.0, 24.0, 43.0), t) }
}
