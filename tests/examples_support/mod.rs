//! Running the built experiments (`examples/`) from tests, in their `--quick` mode.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// MNIST for the tests, as every test file finds it.
#[path = "../common/mod.rs"]
mod common;
use common::data_dir;

/// `cargo test` builds the examples beside the test binaries: `target/<profile>/examples/NAME`.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "{} not built: run the tests through `cargo test`", path.display());
    path
}

/// Runs example `name --quick --out DIR` plus `args`, asserts it succeeded, and returns its
/// stdout and the folder it wrote into (kept until the returned guard drops).
pub fn run_quick(name: &str, args: &[&str]) -> (String, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let result = Command::new(example_binary(name))
        .arg("--quick")
        .arg("--out")
        .arg(out.path())
        .args(args)
        .env("NNDL_DATA", data_dir())
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    assert!(
        result.status.success(),
        "example {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    (stdout, out)
}

/// That `dir/NAME.png` is a PNG of at least 300×200 pixels with something drawn on it, and that
/// `dir/NAME.md` embeds it.
pub fn check_outputs(dir: &Path, name: &str) {
    let png = dir.join(format!("{name}.png"));
    let img = image::open(&png).unwrap_or_else(|e| panic!("{}: not a readable PNG: {e}", png.display()));
    let img = img.to_rgb8();
    assert!(img.width() >= 300 && img.height() >= 200, "{}: only {:?}", png.display(), img.dimensions());
    let inked = img.pixels().filter(|p| p.0.iter().any(|&c| c < 200)).count();
    assert!(inked > 1_000, "{}: only {inked} non-white pixels: an empty plot?", png.display());
    assert!(std::fs::metadata(&png).unwrap().len() > 5_000, "{}: suspiciously small", png.display());
    let md = std::fs::read_to_string(dir.join(format!("{name}.md"))).expect("the docs section");
    assert!(md.contains(&format!("({name}.png)")), "{name}.md does not embed the plot:\n{md}");
}
