//! The page of `nndl serve` in a real browser: headless Chromium driven over WebDriver draws a
//! "7" with pointer events and must show what `nndl predict` says of the same drawing (an MLP
//! and a conv net), shows a neuron's weights on hover, goes from a confusion-matrix cell to its
//! digits and back to the pad, shows a bad training flag inline, and draws a training curve that
//! grows epoch by epoch. With `NNDL_SCREENSHOTS=DIR` it saves `DIR/{draw,inside,test,train}.png`.
//!
//! Skipped (with the reason printed) where chromium or chromium-driver is not installed.

#![cfg(feature = "serve")]

mod common;
mod webdriver;

use common::data_dir;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use webdriver::{Browser, decode_base64};

fn nndl(args: &[&str]) -> std::process::Output {
    let out =
        Command::new(env!("CARGO_BIN_EXE_nndl")).args(args).env("NNDL_DATA", data_dir()).output().unwrap();
    assert!(out.status.success(), "nndl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Two small models trained in seconds: the book's MLP and a conv net.
fn train_models(dir: &Path) -> (PathBuf, PathBuf) {
    let mlp = dir.join("mlp.safetensors");
    let conv = dir.join("conv.safetensors");
    let common = ["train", "--epochs", "1", "--train-size", "10000", "--seed", "1", "--quiet"];
    let m = mlp.to_str().unwrap();
    nndl(&[&common[..], &["--layers", "784,30,10", "--save", m]].concat());
    let c = conv.to_str().unwrap();
    let arch = "conv 8 5x5 relu; maxpool 2; dense 30 relu; softmax 10";
    nndl(&[&common[..], &["--arch", arch, "--eta", "0.1", "--save", c]].concat());
    (mlp, conv)
}

/// `nndl predict MODEL PNG`'s class for the one image.
fn predict_cli(model: &Path, png: &Path) -> String {
    let out = nndl(&["predict", model.to_str().unwrap(), png.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with(png.to_str().unwrap()))
        .unwrap_or_else(|| panic!("no row for the PNG in:\n{text}"));
    row[png.to_str().unwrap().len()..].split_whitespace().next().unwrap().to_string()
}

fn screenshot(browser: &Browser, name: &str) {
    if let Some(dir) = std::env::var_os("NNDL_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        nndl::files::write_atomically(&dir.join(format!("{name}.png")), &browser.screenshot()).unwrap();
    }
}

/// A "7": the top bar left to right, then the stem down to the lower left (pad pixels, 280 × 280).
fn seven() -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    for i in 0..=10 {
        pts.push((80.0 + 12.0 * i as f64, 70.0 + 2.0 * i as f64));
    }
    for i in 1..=14 {
        pts.push((200.0 - 5.5 * i as f64, 90.0 + 11.5 * i as f64));
    }
    pts
}

/// The page has answered the last change to the pad (no request in flight, none pending).
const IDLE: &str = "return document.body.dataset.predicting === '0' && +document.body.dataset.answered > 0";

/// Forgets the page's stroke-to-answer times (performance.now, as shown under the pad) ...
const RESET_TIMES: &str = "state.latencies.length = 0";
/// ... and sums up those of one stroke (printed only: no timing is asserted in a test).
const TIMES: &str = "const l = state.latencies, t = [...l].sort((a, b) => a - b); \
    return `${t.length} updates, median ${t[t.length >> 1].toFixed(1)} ms, 90th percentile ${t[Math.floor(t.length * 0.9)].toFixed(1)} ms, \
    slowest ${t[t.length - 1].toFixed(1)} ms (the first: ${l[0].toFixed(1)} ms)`";

#[test]
fn the_page_in_a_real_browser() {
    if let Some(why) = webdriver::missing() {
        eprintln!("skipping the browser test: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mlp, conv) = train_models(dir.path());
    let mut serve = Command::new(env!("CARGO_BIN_EXE_nndl"));
    serve.args(["serve", mlp.to_str().unwrap(), conv.to_str().unwrap(), "--port", "0"]);
    serve.arg("--data").arg(data_dir()).env("NNDL_DATA", data_dir());
    let (_server, url) = webdriver::start_server(serve);
    let browser = Browser::start(1280, 900);
    browser.goto(&format!("{url}/#draw"));
    browser.wait_for("the model cards", "return document.getElementById('model').options.length === 2", 20);

    // 1. Draw: a "7" with the mouse, then the page's answer against `nndl predict` on its PNG.
    browser.js(RESET_TIMES, json!([]));
    browser.pointer("#canvas", "mouse", &seven(), true);
    browser.wait_for("the answers to the stroke", IDLE, 20);
    let times = browser.js(TIMES, json!([]));
    let answers = browser.js(
        "return [...document.querySelectorAll('.answer')].map(c => [c.dataset.model, c.dataset.class])",
        json!([]),
    );
    let png = dir.path().join("drawn.png");
    let data_url = browser.js("return document.getElementById('canvas').toDataURL('image/png')", json!([]));
    std::fs::write(&png, decode_base64(data_url.as_str().unwrap())).unwrap();
    for (name, model) in [("mlp", &mlp), ("conv", &conv)] {
        let shown = answers
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a[0] == name)
            .unwrap_or_else(|| panic!("no card for {name}: {answers}"));
        let cli = predict_cli(model, &png);
        assert_eq!(
            shown[1].as_str().unwrap(),
            cli,
            "{name}: the page says {}, nndl predict says {cli}",
            shown[1]
        );
        eprintln!("{name}: the page and nndl predict both say {cli}");
    }
    eprintln!("stroke → both models' answers on the page: {}", times.as_str().unwrap());
    // A pen's second stroke and undo take the page back to the same answer.
    browser.pointer("#canvas", "pen", &[(60.0, 220.0), (220.0, 230.0)], true);
    browser.wait_for("the answer to the pen stroke", "return document.body.dataset.predicting === '0'", 20);
    browser.click("#undo");
    browser.wait_for("the answer after undo", "return document.body.dataset.predicting === '0'", 20);
    let after =
        browser.js("return document.querySelector('.answer[data-model=mlp]').dataset.class", json!([]));
    assert_eq!(after, answers[0][1], "undo should give back the first stroke's answer");
    screenshot(&browser, "draw");

    // 2. Inside: hovering a neuron of the first layer shows its weights, z and a (MLP, then conv).
    browser.click("#tab-inside");
    for (name, first) in [("mlp", "dense"), ("conv", "conv")] {
        browser.js(
            "const s = document.getElementById('model'); s.value = arguments[0]; s.dispatchEvent(new Event('change'));",
            json!([name]),
        );
        // The layers of this model (not those of the one before), drawn.
        let drawn = format!(
            "const l = document.getElementById('layers'); return l.dataset.model === '{name}' \
             && l.querySelector('canvas[data-layer=\"0\"]')?.width > 0"
        );
        browser.wait_for("the layers", &drawn, 20);
        browser.js("document.getElementById('neuron-info').dataset.weights = ''", json!([]));
        browser.pointer("#layers canvas[data-layer=\"0\"]", "mouse", &[(6.0, 6.0), (10.0, 8.0)], false);
        let text = browser.wait_for(
            "a neuron's weights",
            "const i = document.getElementById('neuron-info'); return i.dataset.weights === 'shown' && i.dataset.layer === '0' \
             && !document.getElementById('neuron-weights').hidden && document.getElementById('neuron-text').textContent",
            20,
        );
        let text = text.as_str().unwrap();
        assert!(text.contains(first) && text.contains("a = ") && text.contains("z = "), "{name}: {text}");
    }
    // The keyboard reaches neurons too: focus the output layer, two steps right → neuron 2.
    browser.js("document.getElementById('neuron-info').dataset.weights = ''", json!([]));
    browser.keys("#layers canvas[data-layer=\"3\"]", "\u{E014}\u{E014}");
    let text = browser.wait_for(
        "neuron 2 by the keyboard",
        "const i = document.getElementById('neuron-info'); return i.dataset.layer === '3' && i.dataset.neuron === '2' \
         && i.dataset.weights === 'shown' && document.getElementById('neuron-text').textContent",
        20,
    );
    assert!(text.as_str().unwrap().contains("neuron 2 (class 2)"), "{text}");
    // Drawing with the Inside view open asks for every layer of the chosen model (here the conv net).
    browser.click("#clear");
    browser.js(RESET_TIMES, json!([]));
    browser.pointer("#canvas", "mouse", &seven(), true);
    browser.wait_for("the layers of the new stroke", IDLE, 20);
    let times = browser.js(TIMES, json!([]));
    eprintln!("stroke → every layer of the conv net on the page: {}", times.as_str().unwrap());
    browser.pointer("#layers canvas[data-layer=\"0\"]", "mouse", &[(30.0, 20.0), (34.0, 22.0)], false);
    browser.resize(1280, 1250);
    screenshot(&browser, "inside");
    browser.resize(1280, 900);

    // 3. Test set: a confusion-matrix cell → its digits → one sent to the pad.
    browser.click("#tab-test");
    browser.wait_for(
        "the confusion matrix",
        "return document.querySelectorAll('#confusion td button').length === 100",
        60,
    );
    let total: Value = browser.js(
        "return [...document.querySelectorAll('#confusion td button')].reduce((s, b) => s + +b.textContent, 0)",
        json!([]),
    );
    assert_eq!(total, 10000, "the matrix counts every test digit once");
    // The off-diagonal cell with most digits: a real confusion.
    let cell = browser.js(
        "const bs = [...document.querySelectorAll('#confusion td button')].filter(b => b.dataset.label !== b.dataset.predicted);\
         bs.sort((a, b) => +b.textContent - +a.textContent); bs[0].id = 'worst'; return [bs[0].dataset.label, bs[0].dataset.predicted, +bs[0].textContent]",
        json!([]),
    );
    browser.click("#worst");
    let shown = browser.wait_for(
        "the cell's digits",
        "return document.querySelectorAll('#examples button.example').length",
        20,
    );
    assert_eq!(shown.as_u64(), cell[2].as_u64().map(|n| n.min(120)), "one button per digit of cell {cell}");
    screenshot(&browser, "test");
    let before = browser.js("return +document.body.dataset.answered", json!([]));
    browser.click("#examples button.example");
    browser.wait_for("the Draw view", "return document.body.dataset.view === 'draw'", 10);
    browser.wait_for(
        "the digit's answer",
        &format!("{IDLE} && +document.body.dataset.answered > {before}"),
        20,
    );
    let conv_says =
        browser.js("return document.querySelector('.answer[data-model=conv]').dataset.prediction", json!([]));
    assert!(conv_says.as_str().is_some_and(|s| !s.is_empty()), "the sent digit gets an answer");

    // 4. Training: a bad flag is shown inline; a short run's curve grows epoch by epoch.
    browser.click("#tab-train");
    browser.type_into("#arch", "");
    browser.type_into("#flags", "--layers 784,30,10 --eta fast");
    browser.click("#start");
    let error = browser.wait_for(
        "the flag's error",
        "const e = document.getElementById('train-error'); return !e.hidden && e.textContent",
        20,
    );
    assert!(error.as_str().unwrap().contains("--eta"), "the error names the flag: {error}");
    browser.type_into("#arch", "conv 10 5x5 relu; maxpool 2; dense 30 relu; softmax 10");
    browser.type_into("#flags", "--eta 0.03 --epochs 3 --train-size 10000 --validation-size 2000 --monitor all --track-gradients 200 --seed 1");
    browser.click("#start");
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let v = browser.js(
            "return [+document.getElementById('chart-acc').dataset.points, document.body.dataset.run, document.getElementById('train-error').textContent]",
            json!([]),
        );
        let points = v[0].as_u64().unwrap();
        if seen.last() != Some(&points) {
            seen.push(points);
        }
        assert_ne!(v[1], "failed", "the run failed: {}", v[2]);
        if v[1] == "finished" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not finish in 120 s; points seen {seen:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(15));
    }
    let history = browser.js("return document.getElementById('chart-acc').dataset.history", json!([]));
    let history: Vec<u64> = history.as_str().unwrap().split(',').map(|s| s.parse().unwrap()).collect();
    assert_eq!(
        history.len(),
        3,
        "the accuracy chart was redrawn once per epoch, each time with more points: {history:?}"
    );
    assert!(history.windows(2).all(|w| w[0] < w[1]), "{history:?}");
    assert!(
        seen.iter().any(|&p| p > 0 && p < *history.last().unwrap()),
        "the curve was seen part-drawn while training: {seen:?}"
    );
    browser.wait_for(
        "the download link",
        "return document.getElementById('download').getAttribute('aria-disabled') === 'false'",
        20,
    );
    let grads = browser.js("return +document.getElementById('chart-grad').dataset.points", json!([]));
    assert!(grads.as_u64().unwrap() >= 4, "gradient norms drawn: {grads}");
    browser.wait_for(
        "the first layer's weights",
        "return document.querySelectorAll('#train-weights canvas').length === 10",
        10,
    );
    screenshot(&browser, "train");

    // On a phone's width no view scrolls sideways; the theme button switches the pad to dark.
    browser.resize(390, 844);
    for view in ["draw", "inside", "test", "train"] {
        browser.click(&format!("#tab-{view}"));
        let wide = browser.js(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
            json!([]),
        );
        assert!(wide[0].as_u64() <= wide[1].as_u64(), "the {view} view is wider than a phone: {wide}");
    }
    let before =
        browser.js("return getComputedStyle(document.getElementById('canvas')).backgroundColor", json!([]));
    browser.click("#theme");
    let after =
        browser.js("return getComputedStyle(document.getElementById('canvas')).backgroundColor", json!([]));
    assert_ne!(before, after, "the theme button changes the pad");
}
