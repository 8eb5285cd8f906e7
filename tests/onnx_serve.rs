//! A model imported from PyTorch's ONNX (an nn.LSTM over the rows of the image) is served by
//! `nndl serve` as any nndl model: `POST /api/predict` with a PNG answers what `nndl predict`
//! says for that PNG.
#![cfg(feature = "serve")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn nndl(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nndl"))
        .args(args)
        .env("NNDL_DATA", common::data_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A running `nndl serve`, stopped with Ctrl-C (then killed) when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        // SAFETY: sends a signal to the child this test started.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_model_imported_from_pytorch_is_served_and_answers_as_nndl_predict() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/torch_lstm.onnx");
    let model = d("lstm.safetensors");
    nndl(&["import", fixture.to_str().unwrap(), "-o", model.to_str().unwrap()]);
    let digits = nndl::data::load_test(&common::data_dir()).unwrap();
    let png = d("digit.png");
    image::GrayImage::from_raw(28, 28, digits.bytes(0).unwrap().to_vec()).unwrap().save(&png).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_nndl"))
        .args(["serve", "--port", "0", model.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let served = Served(child);
    let url = loop {
        let line = lines.next().expect("nndl serve ended before listening").unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut response = agent
        .post(format!("{url}/api/predict"))
        .header("Content-Type", "image/png")
        .send(&std::fs::read(&png).unwrap()[..])
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "{text}");
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    let result = &answer["results"][0];

    // `nndl predict`'s row: the file, the class, then the outputs to three places
    let cli = nndl(&["predict", model.to_str().unwrap(), png.to_str().unwrap()]);
    let cols: Vec<&str> = cli.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(result["class"].as_str().unwrap(), cols[1], "{cli}");
    let served_outputs: Vec<String> = result["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{:.3}", a.as_f64().unwrap() as f32))
        .collect();
    assert_eq!(served_outputs, cols[2..], "{cli}");
    drop(served);
}
