//! The plot module writes valid, non-trivial PNG and SVG files, and refuses what it cannot draw.

use nndl::plot::{self, Chart, PlotError, Series, Shading, Tile};
use std::path::Path;

fn curves() -> Vec<Chart> {
    let cost: Vec<f64> = (0..30).map(|i| 1.0 / (1.0 + i as f64)).collect();
    let acc: Vec<f64> = (0..30).map(|i| 0.9 + 0.003 * i as f64).collect();
    vec![
        Chart::new("cost", "epoch", "cost").with(Series::per_epoch("training", &cost)).log_y(),
        Chart::new("accuracy", "epoch", "accuracy")
            .with(Series::per_epoch("evaluation", &acc))
            .with(Series::per_epoch("training", &cost)),
    ]
}

/// The PNG decodes to the size asked for and is not a blank page.
fn check_png(path: &Path) -> (u32, u32) {
    let img = image::open(path).expect("a readable PNG").to_rgb8();
    let dark = img.pixels().filter(|p| p.0.iter().all(|&c| c < 128)).count();
    assert!(dark > 500, "{}: only {dark} dark pixels: nothing drawn?", path.display());
    assert!(std::fs::metadata(path).unwrap().len() > 5_000);
    img.dimensions()
}

#[test]
fn charts_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("c.png");
    plot::charts(&png, &curves(), 2).unwrap();
    assert_eq!(check_png(&png), (1280, 420));
    let svg = dir.path().join("c.SVG");
    plot::charts(&svg, &curves(), 1).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("accuracy") && text.contains("<polyline"));
}

#[test]
fn image_grid_and_heatmap() {
    let dir = tempfile::tempdir().unwrap();
    let tiles: Vec<Tile> = (0..12)
        .map(|k| Tile {
            values: (0..784).map(|i| ((i * (k + 1)) % 97) as f32 / 48.0 - 1.0).collect(),
            width: 28,
            height: 28,
            caption: format!("n{k}"),
        })
        .collect();
    let png = dir.path().join("w.png");
    plot::image_grid(&png, "weights", &tiles, 6, Shading::Signed).unwrap();
    check_png(&png);
    let matrix: Vec<Vec<f64>> =
        (0..10).map(|r| (0..10).map(|c| if r == c { 980.0 } else { c as f64 }).collect()).collect();
    let labels: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let heat = dir.path().join("h.png");
    plot::heatmap(&heat, "confusion", &matrix, &labels, ("true digit", "predicted digit")).unwrap();
    check_png(&heat);
}

#[test]
fn refusals_name_the_file_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let jpg = dir.path().join("c.jpg");
    let e = plot::charts(&jpg, &curves(), 1).unwrap_err();
    assert!(matches!(e, PlotError::Format { .. }) && e.to_string().contains("c.jpg"), "{e}");
    let png = dir.path().join("empty.png");
    let e = plot::charts(&png, &[Chart::new("t", "x", "y")], 1).unwrap_err();
    assert!(matches!(e, PlotError::Empty { .. }), "{e}");
    let nan = Chart::new("t", "x", "y").with(Series::per_epoch("a", &[f64::NAN]));
    assert!(plot::charts(&png, &[nan], 1).is_err());
    let missing = dir.path().join("no/such/dir/p.png");
    let e = plot::charts(&missing, &curves(), 1).unwrap_err();
    assert!(matches!(e, PlotError::File(_)), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file may be left behind");
}
