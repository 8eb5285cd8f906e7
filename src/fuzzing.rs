//! Entry points for coverage-guided fuzzing (`fuzz/`): each takes raw bytes, feeds them to one
//! of the parsers that read outside input, and must return without panicking, aborting or
//! allocating without bound, whatever the bytes. The regression tests replay saved inputs
//! through the same functions. Not part of the supported API.
//!
//! Where the library reads a path, the bytes are written to a file in a temporary folder of
//! this process (under `$NNDL_FUZZ_TMP` if set, else `/dev/shm/nndl-fuzz` if `/dev/shm` exists,
//! else `nndl-fuzz` in the system's temporary folder) and the path API is called, so the real size checks run. The file and the
//! folder are removed after each input. The targets that run networks use one thread.
//!
//! | target | what it runs |
//! | --- | --- |
//! | [`idx`] | `data::read_idx_images` and `data::read_idx_labels` on the same file (raw or gzip) |
//! | [`model`] | `model_io::load`; if it loads, one forward pass on a zero batch of 2 and `summary_table` |
//! | [`png`] | `image_io::load_digit` |
//! | [`arch`] | `layers::parse_arch` for 1×28×28 inputs, `Network::check`, `summary_table`, the memory estimate (`memory::inference_bytes` for 2 examples, `memory::check`), then `Network::new` and one forward pass on a zero batch of 2 |
//! | [`text`] | `text::Corpus::new`, the language model's specs and net, and one epoch of training if the text has at most [`TEXT_TRAIN_MAX_CHARS`] characters |
//! | [`metrics`] | `train::MetricsFile::parse`, then the learning curves drawn as `nndl plot curves` draws them (SVG) |
//! | [`csv`] | `data::table::load_csv` (split, standardised) and `read_rows` |
//! | [`image`] | `data::folder::load` on a folder holding the image, `image_io::load_image` and `load_digit_sized` (images within nndl's limits but over [`IMAGE_MAX_PIXELS`] only to their header) |
//! | [`onnx`] | `onnx::import`; if it reads, `summary_table`, one forward pass on a zero batch of 2 (for networks within [`ARCH_MAX_WORK`]), and export → import again |
//! | [`network2`] | `network2_json::from_json`; if it reads, one forward pass on a zero batch of 2 and `to_json` → `from_json` again |

use crate::cost::Cost;
use crate::layers::{Init, Shape, parse_arch, summary_table};
use crate::network::Network;
use ndarray::Array2;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The most work (multiply-adds of a forward pass on 2 examples, plus ~20 per weight drawn)
/// [`arch`] runs; bigger networks are checked and sized but not built.
pub const ARCH_MAX_WORK: u128 = 100_000_000;

/// The most pixels an image the `image` target decodes may have (see [`image`]).
pub const IMAGE_MAX_PIXELS: u64 = 1 << 22;

/// Texts longer than this (in characters) are not trained on by [`text`], to bound its work
/// (an epoch is about chars / 8 mini-batches).
pub const TEXT_TRAIN_MAX_CHARS: usize = 300;

/// A folder of this process's own, removed (with what is in it) when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // Without $NNDL_FUZZ_TMP, one shared parent: a process that aborts (a crash being
        // replayed) leaves its folder there, not loose in /dev/shm.
        let base = match std::env::var_os("NNDL_FUZZ_TMP").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm/nndl-fuzz"),
            None => std::env::temp_dir().join("nndl-fuzz"),
        };
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("nndl-fuzz-{}-{n}", std::process::id()));
        // A folder left by an earlier process with the same id (one that aborted) is reused.
        let _ = std::fs::create_dir_all(&dir);
        Scratch { dir }
    }

    /// Writes `data` to a file named `name` in the folder and returns its path.
    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, data).expect("the fuzzing scratch folder is writable");
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs everything on the calling thread (`set_threads(1)`, once per process): conv and
/// recurrent layers then never hand work to other threads, so each input takes one path
/// (stable coverage for the fuzzer) and no time goes on waking threads.
fn one_thread() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| crate::set_threads(1));
}

/// A zero batch of 2 examples of `inputs` features, run forward (inference mode).
fn forward_zeros(net: &Network) {
    let x = Array2::<f32>::zeros((2, net.in_size()));
    let mut ws = net.workspace(0);
    let out = net.feedforward(&mut ws, x.view(), false);
    assert_eq!(out.nrows(), 2, "one output row per example");
}

/// IDX files: the same bytes as an images file and as a labels file.
pub fn idx(data: &[u8]) {
    let scratch = Scratch::new();
    let path = scratch.file("input-idx3-ubyte", data);
    if let Ok(set) = crate::data::read_idx_images(&path) {
        assert_eq!(set.features.len(), set.len() * set.input_size(), "the images fill the data");
    }
    let _ = crate::data::read_idx_labels(&path);
}

/// Model files: load, then use the network once as `eval`/`predict` would.
pub fn model(data: &[u8]) {
    one_thread();
    let scratch = Scratch::new();
    let path = scratch.file("input.safetensors", data);
    if let Ok((net, info)) = crate::model_io::load(&path) {
        let _ = summary_table(&info.architecture);
        forward_zeros(&net);
    }
}

/// PNG images, turned into MNIST-like inputs as `nndl predict` does.
pub fn png(data: &[u8]) {
    let scratch = Scratch::new();
    let path = scratch.file("input.png", data);
    if let Ok(pixels) = crate::image_io::load_digit(&path) {
        assert_eq!(pixels.len(), crate::image_io::SIDE * crate::image_io::SIDE, "a 28×28 input");
    }
}

/// `--arch` descriptions, checked and built as `nndl train --arch` / `nndl summary --arch` do.
pub fn arch(data: &[u8]) {
    one_thread();
    let text = String::from_utf8_lossy(data);
    let Ok(specs) = parse_arch(&text, Shape { channels: 1, height: 28, width: 28 }) else {
        return;
    };
    // The default cost with a softmax (or sigmoid) output; `--cost quadratic` for the others.
    let cost = if Network::check(&specs, Cost::LogLikelihood).is_ok() {
        Cost::LogLikelihood
    } else if Network::check(&specs, Cost::Quadratic).is_ok() {
        Cost::Quadratic
    } else {
        return;
    };
    let _ = summary_table(&specs);
    // As `nndl train` does before building a network: refuse what would not fit the memory
    // budget (here: the forward pass on 2 examples that follows).
    if crate::memory::check(crate::memory::inference_bytes(&specs, 2, 1), "this network").is_err() {
        return;
    }
    // A network that fits may still be too big to build and run within a fuzzing execution's
    // 2 s: those are run only up to about 10⁸ multiply-adds, drawing the weights (~20 each) and
    // writing the outputs (~10 per value: bias, activation, fresh pages; a 1×1 conv of 42,298
    // maps has few multiply-adds but 33 million outputs per example) included.
    let macs: u128 = specs
        .iter()
        .map(|s| 2 * (s.macs_per_example() + s.out_size() as u128 * 10) + s.param_count() as u128 * 20)
        .sum();
    if macs > ARCH_MAX_WORK {
        return;
    }
    let mut rng = crate::seeded_rng(1);
    if let Ok(net) = Network::new(&specs, cost, Init::Scaled, &mut rng) {
        forward_zeros(&net);
    }
}

/// Texts for `nndl train-text`: the corpus, the language model, and (for a short text) one epoch.
pub fn text(data: &[u8]) {
    use crate::text::{Corpus, TextConfig, model_specs, train_text};
    one_thread();
    let text = String::from_utf8_lossy(data);
    let Ok(corpus) = Corpus::new(&text) else {
        return;
    };
    let cfg =
        TextConfig { hidden: 4, seq_len: 4, batch_size: 2, epochs: 1, sample_len: 8, ..Default::default() };
    let specs = model_specs(&cfg, corpus.symbols());
    let mut rng = crate::seeded_rng(1);
    let Ok(mut net) = Network::new(&specs, Cost::LogLikelihood, Init::Scaled, &mut rng) else {
        return;
    };
    if corpus.ids.len() <= TEXT_TRAIN_MAX_CHARS {
        let _ = train_text(&mut net, &corpus, &cfg, &mut rng, &mut |_| {});
    }
}

/// Metrics files for `nndl plot curves`: parsed, then drawn as the CLI draws them.
pub fn metrics(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = crate::train::MetricsFile::parse(text) else {
        return;
    };
    let charts = crate::plot::training_charts(&m.epochs, m.initial_gradient_norms.as_deref());
    if charts.is_empty() {
        return;
    }
    let scratch = Scratch::new();
    let out = scratch.path("curves.svg");
    let _ = crate::plot::charts(&out, &charts, charts.len().min(3));
}

/// CSV tables for `nndl train --data FILE.csv` and `predict --csv`: read, split, standardised,
/// and read again as rows to predict.
pub fn csv(data: &[u8]) {
    use crate::data::table::{CsvOptions, Standardize, load_csv, read_rows};
    let scratch = Scratch::new();
    let path = scratch.file("table.csv", data);
    let Ok((split, info)) = load_csv(&path, &CsvOptions { label_column: None, test_fraction: 0.25, seed: 1 })
    else {
        return;
    };
    assert_eq!(split.train.input_size(), info.feature_names.len(), "one feature per column");
    let stats = Standardize::fit(&split.train);
    let mut test = split.test;
    stats.apply(&mut test);
    if let Ok(rows) = read_rows(&path, &info.feature_names) {
        assert!(rows.iter().all(|r| r.len() == info.feature_names.len()), "rows of the features");
    }
}

/// Image files (PNG or JPEG) as an image folder reads them (beside a valid image of another
/// class), and as `nndl predict` fits them to a model trained on a folder or on digits.
pub fn image(data: &[u8]) {
    use crate::data::folder::{FolderOptions, load};
    // The header is read (as nndl does first) whatever it says; an image of more than
    // IMAGE_MAX_PIXELS is not decoded further. Such images are legal (nndl reads up to
    // 8192×8192) and only slow: a 344-byte JPEG claiming 6413×6412 pixels takes 0.9 s to
    // predict on in a release build but 9–10 s in the instrumented fuzz build, which AFL counts
    // as a hang. Images over nndl's limits still go through, to be refused by its checks.
    let dims = image::ImageReader::new(std::io::Cursor::new(data)).with_guessed_format().ok().and_then(|r| {
        crate::image_io::contain_decoder_panic(|| r.into_dimensions().map_err(|_| ()), || ()).ok()
    });
    let max = crate::image_io::MAX_SIDE;
    if dims.is_some_and(|(w, h)| w <= max && h <= max && u64::from(w) * u64::from(h) > IMAGE_MAX_PIXELS) {
        return;
    }
    let scratch = Scratch::new();
    for (split, class) in [("train", "a"), ("test", "a")] {
        let dir = scratch.path(&format!("{split}/{class}"));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("0.png"), data);
    }
    // A valid 2×2 grey PNG for class b.
    const PNG_2X2: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
        0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x57, 0xdd, 0x52, 0xf8, 0x00,
        0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0xf8, 0x0f, 0x84, 0x00, 0x06, 0x00,
        0x01, 0xff, 0x93, 0xd1, 0xe4, 0x89, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60,
        0x82,
    ];
    for split in ["train", "test"] {
        let dir = scratch.path(&format!("{split}/b"));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("0.png"), PNG_2X2);
    }
    let opts = FolderOptions { image_size: Some((4, 4)), channels: None, test_fraction: None, seed: 1 };
    if let Ok(split) = load(&scratch.dir, &opts) {
        assert_eq!(split.train.len(), 2, "one image per class");
    }
    let file = scratch.path("train/a/0.png");
    if let Ok(x) = crate::image_io::load_image(&file, Shape::new(3, 8, 8)) {
        assert_eq!(x.len(), 3 * 64, "three 8×8 planes");
    }
    let _ = crate::image_io::load_digit_sized(&file, 16, 16);
}

/// ONNX models (`nndl import FILE.onnx`): read as an nndl network, used once, and written back
/// out, which must read again.
pub fn onnx(data: &[u8]) {
    one_thread();
    let Ok(imported) = crate::onnx::import(data) else { return };
    let specs = imported.net.specs();
    let _ = summary_table(&specs);
    let work: u128 = specs.iter().map(|s| s.macs_per_example() * 2).sum();
    if work <= ARCH_MAX_WORK {
        forward_zeros(&imported.net);
    }
    let bytes = crate::onnx::export(&imported.net, &imported.info).expect("an imported network exports");
    if let Err(e) = crate::onnx::import(&bytes) {
        panic!("nndl's export of an imported network does not import: {e}");
    }
}

/// network2.py's JSON (`nndl import FILE.json`): read, used once, written and read again.
pub fn network2(data: &[u8]) {
    one_thread();
    let Ok(net) = crate::network2_json::from_json(&String::from_utf8_lossy(data)) else { return };
    forward_zeros(&net);
    let text = crate::network2_json::to_json(&net).expect("a network2 net writes as network2 JSON");
    let again = crate::network2_json::from_json(&text).expect("network2 JSON written by nndl reads");
    assert!(
        again.params().flat_map(|p| p.iter()).eq(net.params().flat_map(|p| p.iter())),
        "the same weights"
    );
}
