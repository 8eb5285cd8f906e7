//! `nndl serve` and `nndl train --serve` over loopback: the real binary on a free port, every
//! route, every class of bad request, and live training events.
#![cfg(feature = "serve")]

mod common;

use common::data_dir;
use nndl::cost::Cost;
use nndl::data::source::InputInfo;
use nndl::layers::{Init, Shape, parse_arch};
use nndl::network::Network;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MNIST: Shape = Shape { channels: 1, height: 28, width: 28 };

/// A running `nndl` that serves, killed when dropped.
struct Served {
    child: Child,
    url: String,
    port: u16,
}

impl Drop for Served {
    /// Ctrl-C (which removes the server's scratch folder), then, if it has not ended within
    /// 10 s, kill.
    fn drop(&mut self) {
        // SAFETY: sends a signal to the child this test started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `nndl ARGS` and waits for its `listening on` line.
fn start(args: &[&str], env: &[(&str, &str)]) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nndl"));
    command.args(args).env("NNDL_DATA", data_dir()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("nndl ended before listening").unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim_end_matches('/').to_string();
        }
    };
    // Keep reading what it prints, so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let port = url.rsplit(':').next().unwrap().parse().unwrap();
    Served { child, url, port }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// Status and JSON of a response.
fn json(mut response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.body_mut().with_config().limit(64 << 20).read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

fn get(s: &Served, path: &str) -> (u16, Value) {
    json(agent().get(format!("{}{path}", s.url)).call().unwrap())
}

fn post(s: &Served, path: &str, body: &Value) -> (u16, Value) {
    let response = agent()
        .post(format!("{}{path}", s.url))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    json(response)
}

/// A request written by hand (headers ureq would not send), and the status line's code.
fn raw(port: u16, request: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let code = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, answer)
}

/// A model of random weights, written by the library.
fn model(dir: &Path, name: &str, arch: &str, seed: u64) -> PathBuf {
    let specs = parse_arch(arch, MNIST).unwrap();
    let net = Network::new(&specs, Cost::LogLikelihood, Init::Scaled, &mut nndl::seeded_rng(seed)).unwrap();
    let path = dir.join(format!("{name}.safetensors"));
    nndl::model_io::save(&net, Some(&InputInfo::mnist()), serde_json::json!({}), &path).unwrap();
    path
}

/// A "7" in black ink on a white 90 × 120 picture: 1 where there is ink.
fn seven() -> (Vec<f32>, usize, usize) {
    let (w, h) = (90usize, 120usize);
    let mut ink = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let bar = (15..27).contains(&y) && (15..78).contains(&x);
            let stroke = (15..110).contains(&y) && {
                let along = 77.0 - (y as f32 - 15.0) * 0.45;
                (x as f32 - along).abs() < 6.0
            };
            if bar || stroke {
                ink[y * w + x] = 1.0;
            }
        }
    }
    (ink, w, h)
}

fn nndl(args: &[&str]) -> String {
    let out =
        Command::new(env!("CARGO_BIN_EXE_nndl")).args(args).env("NNDL_DATA", data_dir()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

#[test]
fn every_route_answers_as_documented_and_predicts_as_nndl_predict() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = model(dir.path(), "mlp", "dense 30 sigmoid; softmax 10", 1);
    let conv = model(dir.path(), "conv", "conv 4 5x5 relu; maxpool 2; dense 16 relu; softmax 10", 2);
    let lstm = model(dir.path(), "lstm", "lstm 8 last; softmax 10", 3);
    let data = data_dir();
    let s = start(
        &[
            "serve",
            "--port",
            "0",
            "--data",
            data.to_str().unwrap(),
            mlp.to_str().unwrap(),
            conv.to_str().unwrap(),
            lstm.to_str().unwrap(),
        ],
        &[],
    );

    // The page and its files.
    for path in ["/", "/app.js", "/style.css"] {
        let response = agent().get(format!("{}{path}", s.url)).call().unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert!(response.headers().get("content-security-policy").is_some(), "{path}");
    }

    // The models, their layers and shapes.
    let (code, models) = get(&s, "/api/models");
    assert_eq!(code, 200);
    let names: Vec<&str> =
        models["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["mlp", "conv", "lstm"]);
    let conv_layers = &models["models"][1]["layers"];
    let kinds: Vec<&str> =
        conv_layers.as_array().unwrap().iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["conv", "pool", "dense", "dense"]);
    assert_eq!(conv_layers[0]["out_shape"], serde_json::json!([4, 24, 24]));
    assert_eq!(models["models"][0]["layers"][0]["weights_image"], serde_json::json!([1, 28, 28]));
    assert_eq!(models["models"][0]["input"], serde_json::json!([1, 28, 28]));

    // A PNG through one model: the same input and answer as `nndl predict` and the library.
    let (ink, w, h) = seven();
    let png = dir.path().join("seven.png");
    let paper: Vec<f32> = ink.iter().map(|v| 1.0 - v).collect();
    nndl::image_io::save_grey_png(&png, &paper, h, w).unwrap();
    let png_bytes = std::fs::read(&png).unwrap();
    let response = agent()
        .post(format!("{}/api/predict?model=mlp", s.url))
        .header("Content-Type", "image/png")
        .send(&png_bytes[..])
        .unwrap();
    let (code, answer) = json(response);
    assert_eq!(code, 200, "{answer}");
    let result = &answer["results"][0];
    let expected_input = nndl::image_io::load_digit(&png).unwrap();
    assert_eq!(floats(&result["input"]["values"]), expected_input);
    let (net, _) = nndl::model_io::load(&mlp).unwrap();
    let (expected_out, _) = nndl::probe::probe(&net, &expected_input);
    assert_eq!(floats(&result["output"]), expected_out);
    let cli = nndl(&["predict", mlp.to_str().unwrap(), png.to_str().unwrap()]);
    let row = cli.lines().nth(1).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(result["class"].as_str().unwrap(), cols[1], "{cli}");
    let cli_outputs: Vec<String> = cols[2..].iter().map(|c| c.to_string()).collect();
    let ours: Vec<String> = expected_out.iter().map(|a| format!("{a:.3}")).collect();
    assert_eq!(ours, cli_outputs);
    // Every layer's z and a: dense z before σ, a after.
    let layer0 = &result["layers"][0];
    assert_eq!(
        (layer0["kind"].as_str(), layer0["shape"].clone()),
        (Some("dense"), serde_json::json!([30, 1, 1]))
    );
    let (z, a) = (floats(&layer0["z"]), floats(&layer0["a"]));
    assert!(z.iter().zip(&a).all(|(z, a)| (1.0 / (1.0 + (-z).exp()) - a).abs() < 1e-5));

    // The same strokes as base64 (a data URL), and as grey values with a size, to every model.
    let b64 = base64_encode(&png_bytes);
    let (code, all) =
        post(&s, "/api/predict", &serde_json::json!({ "image": format!("data:image/png;base64,{b64}") }));
    assert_eq!(code, 200, "{all}");
    assert_eq!(all["results"].as_array().unwrap().len(), 3);
    assert_eq!(all["results"][0]["output"], result["output"]);
    let (code, pictured) = post(
        &s,
        "/api/predict",
        &serde_json::json!({ "pixels": ink, "width": w, "height": h, "layers": false }),
    );
    assert_eq!(code, 200, "{pictured}");
    assert_eq!(pictured["results"][0]["input"], result["input"], "a picture of values reads as its PNG");
    assert!(pictured["results"][0].get("layers").is_none());
    let conv_result = &all["results"][1];
    let shapes: Vec<Value> =
        conv_result["layers"].as_array().unwrap().iter().map(|l| l["shape"].clone()).collect();
    assert_eq!(
        shapes,
        [
            serde_json::json!([4, 24, 24]),
            serde_json::json!([4, 12, 12]),
            serde_json::json!([16, 1, 1]),
            serde_json::json!([10, 1, 1])
        ]
    );
    assert_eq!(floats(&conv_result["layers"][0]["a"]).len(), 4 * 24 * 24);
    assert!(conv_result["layers"][1]["z"].is_null());
    let lstm_layer = &all["results"][2]["layers"][0];
    assert_eq!(lstm_layer["shape"], serde_json::json!([1, 28, 8]), "steps × units");
    assert_eq!(floats(&lstm_layer["a"]).len(), 28 * 8);

    // A neuron's incoming weights are the model's.
    let (code, weights) = get(&s, "/api/models/mlp/weights?layer=0&neuron=3");
    assert_eq!(code, 200, "{weights}");
    assert_eq!(floats(&weights["weights"]), net.layers[0].params()[0][3 * 784..4 * 784].to_vec());
    assert_eq!(weights["shape"], serde_json::json!([1, 28, 28]));
    let (_, every) = get(&s, "/api/models/conv/weights?layer=0");
    assert_eq!(
        (every["weights"].as_array().unwrap().len(), every["shape"].clone()),
        (4, serde_json::json!([1, 5, 5]))
    );

    // The test set: the confusion matrix agrees with `nndl eval`, a cell's examples are its own.
    let (code, confusion) = get(&s, "/api/testset/confusion?model=mlp");
    assert_eq!(code, 200, "{confusion}");
    let matrix: Vec<Vec<u64>> = serde_json::from_value(confusion["matrix"].clone()).unwrap();
    assert_eq!(matrix.iter().flatten().sum::<u64>(), 10_000);
    let eval = nndl(&["eval", mlp.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    let correct = confusion["correct"].as_u64().unwrap();
    assert!(eval.contains(&format!("({correct} / 10000)")), "{eval} vs {correct}");
    let (t, p) = (0..10)
        .flat_map(|t| (0..10).map(move |p| (t, p)))
        .filter(|&(t, p)| t != p)
        .max_by_key(|&(t, p)| matrix[t][p])
        .unwrap();
    let (code, cell) = get(&s, &format!("/api/testset/examples?model=mlp&label={t}&predicted={p}&limit=5"));
    assert_eq!(code, 200, "{cell}");
    assert_eq!(cell["total"].as_u64().unwrap(), matrix[t][p]);
    let examples = cell["examples"].as_array().unwrap();
    assert_eq!(examples.len(), (matrix[t][p] as usize).min(5));
    assert!(examples.iter().all(|e| e["label"] == t && e["prediction"] == p));
    let i = examples[0]["index"].as_u64().unwrap();
    let (code, one) = get(&s, &format!("/api/testset/{i}?model=mlp"));
    assert_eq!(code, 200);
    assert_eq!((one["label"].as_u64(), one["prediction"].as_u64()), (Some(t as u64), Some(p as u64)));
    let (_, again) =
        post(&s, "/api/predict", &serde_json::json!({ "model": "mlp", "pixels": one["values"] }));
    assert_eq!(again["results"][0]["prediction"], one["prediction"], "a test digit sent back reads the same");
    assert_eq!(get(&s, "/api/testset?model=mlp").1["size"], 10_000);

    // Training state with no run.
    assert_eq!(get(&s, "/api/train").1["state"], "idle");
    assert_eq!(get(&s, "/api/train/model").0, 404);

    // Every class of bad request: its 4xx and a JSON error; the server goes on.
    let bad: Vec<(u16, (u16, Value))> = vec![
        (400, post_raw(&s, "/api/predict", "application/json", b"{\"pixels\": [0.5,")),
        (400, post(&s, "/api/predict", &serde_json::json!({ "model": "mlp", "pixels": [0.5, 0.5] }))),
        (
            400,
            post(
                &s,
                "/api/predict",
                &serde_json::json!({ "model": "mlp", "pixels": vec![0.0; 100], "width": 10, "height": 10 }),
            ),
        ),
        (400, post(&s, "/api/predict", &serde_json::json!({ "model": "mlp", "image": "not base64!" }))),
        (
            400,
            post(
                &s,
                "/api/predict",
                &serde_json::json!({ "model": "mlp", "image": base64_encode(b"hello, not a PNG") }),
            ),
        ),
        (400, post_raw(&s, "/api/predict?model=mlp", "image/png", b"\x89PNG\r\n\x1a\nbroken")),
        (400, post(&s, "/api/predict", &serde_json::json!({ "model": "mlp", "pixel": [] }))),
        (404, post(&s, "/api/predict", &serde_json::json!({ "model": "nope", "pixels": vec![0.0; 784] }))),
        (415, post_raw(&s, "/api/predict", "application/xml", b"<digit/>")),
        (404, get(&s, "/api/models/nope/weights?layer=0")),
        (404, get(&s, "/api/models/mlp/weights?layer=9")),
        (404, get(&s, "/api/models/mlp/weights?layer=0&neuron=30")),
        (404, get(&s, "/api/models/conv/weights?layer=1")),
        (400, get(&s, "/api/models/mlp/weights?layer=x")),
        (404, get(&s, "/api/testset/10000?model=mlp")),
        (404, get(&s, "/api/testset/confusion?model=nope")),
        (404, get(&s, "/api/nothing")),
        (405, json(agent().delete(format!("{}/api/models", s.url)).call().unwrap())),
        (409, post(&s, "/api/train/pause", &serde_json::json!({}))),
        (404, post(&s, "/api/train/explode", &serde_json::json!({}))),
        (
            400,
            post(
                &s,
                "/api/train",
                &serde_json::json!({ "args": ["--epochs", "1", "--save", "x.safetensors"] }),
            ),
        ),
        (400, post(&s, "/api/train", &serde_json::json!({ "args": ["--no-such-flag"] }))),
        (400, post(&s, "/api/train", &serde_json::json!({ "args": ["--layers", "784,10,3"] }))),
    ];
    for (i, (want, (code, body))) in bad.iter().enumerate() {
        assert_eq!(code, want, "bad request {i}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "bad request {i}: {body}");
    }
    let (code, body) =
        raw(s.port, "GET /api/models HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n");
    assert_eq!(code, 421, "DNS rebinding: {body}");
    let request = format!(
        "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nOrigin: http://evil.example\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
        s.port
    );
    assert_eq!(raw(s.port, &request).0, 403, "cross-origin POST");
    let request = format!(
        "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: image/png\r\nContent-Length: 5000000\r\nConnection: close\r\n\r\n",
        s.port
    );
    let (code, body) = raw(s.port, &request);
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    assert_eq!(get(&s, "/api/models").0, 200, "still serving");
    let (code, again) = post(
        &s,
        "/api/predict",
        &serde_json::json!({ "model": "mlp", "pixels": ink, "width": w, "height": h }),
    );
    assert_eq!((code, &again["results"][0]["output"]), (200, &result["output"]));
}

fn post_raw(s: &Served, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    json(agent().post(format!("{}{path}", s.url)).header("Content-Type", content_type).send(body).unwrap())
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The events of `/api/events` until one of type `until` (or the stream ends): (type, data).
fn events(s: &Served, until: &str) -> Vec<(String, Value)> {
    let response = agent().get(format!("{}/api/events", s.url)).call().unwrap();
    let mut lines = BufReader::new(response.into_body().into_reader()).lines();
    let mut out = Vec::new();
    let mut kind = String::new();
    while let Some(Ok(line)) = lines.next() {
        if let Some(k) = line.strip_prefix("event: ") {
            kind = k.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            out.push((kind.clone(), serde_json::from_str(data).unwrap()));
            if kind == until {
                break;
            }
        }
    }
    out
}

#[test]
fn a_serve_training_run_streams_the_epochs_of_its_metrics_file() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("run.json");
    let saved = dir.path().join("run.safetensors");
    let s = start(
        &[
            "train",
            "--serve",
            "--port",
            "0",
            "--keep-serving",
            "--quiet",
            "--seed",
            "1",
            "--layers",
            "784,20,10",
            "--train-size",
            "2000",
            "--validation-size",
            "500",
            "--epochs",
            "3",
            "--monitor",
            "all",
            "--track-gradients",
            "100",
            "--metrics-json",
            metrics.to_str().unwrap(),
            "--save",
            saved.to_str().unwrap(),
        ],
        &[],
    );
    let seen = events(&s, "finished");
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds[..3], ["hello", "started", "gradients_before"], "{kinds:?}");
    assert_eq!(seen[1].1["epochs"], 3);
    assert_eq!(seen[1].1["layers"].as_array().unwrap().len(), 2);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    let mut streamed: Vec<Value> =
        seen.iter().filter(|(k, _)| k == "epoch").map(|(_, d)| d.clone()).collect();
    for e in &mut streamed {
        e.as_object_mut().unwrap().remove("run");
    }
    assert_eq!(streamed, *file["epochs"].as_array().unwrap(), "the page sees the metrics file's figures");
    assert_eq!(seen[2].1["gradient_norms"], file["initial_gradient_norms"]);
    assert!(kinds.contains(&"weights") && kinds.contains(&"progress"), "{kinds:?}");
    let progress = seen.iter().rfind(|(k, _)| k == "progress").unwrap();
    assert_eq!(progress.1["done"], progress.1["batches"]);
    let finished = &seen.last().unwrap().1;
    assert_eq!(finished["epochs_run"], 3);
    assert_eq!(finished["test_accuracy"], file["training"]["test_accuracy"]);

    // The model to download is the one --save wrote; the page cannot start a run of its own.
    let mut response = agent().get(format!("{}/api/train/model", s.url)).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let bytes = response.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
    let (downloaded, _) = nndl::model_io::load_bytes(&bytes, Path::new("download")).unwrap();
    let (on_disk, _) = nndl::model_io::load(&saved).unwrap();
    assert!(downloaded.params().zip(on_disk.params()).all(|(a, b)| a[..] == b[..]));
    assert_eq!(post(&s, "/api/train", &serde_json::json!({ "args": [] })).0, 409);
}

#[test]
fn a_run_from_the_page_pauses_stops_keeps_its_model_and_replays_a_bounded_past() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(
        &["serve", "--port", "0"],
        &[("NNDL_SERVE_EVENT_BUFFER", "3"), ("TMPDIR", tmp.path().to_str().unwrap())],
    );
    let args = [
        "--train-size",
        "5000",
        "--validation-size",
        "100",
        "--epochs",
        "2000",
        "--layers",
        "784,10,10",
        "--seed",
        "2",
    ];
    let (code, started) = post(&s, "/api/train", &serde_json::json!({ "args": args }));
    assert_eq!(code, 202, "{started}");
    assert_eq!(started["run"], 1);
    assert_eq!(post(&s, "/api/train", &serde_json::json!({ "args": args })).0, 409, "one run at a time");
    let (code, paused) = post(&s, "/api/train/pause", &serde_json::json!({}));
    assert_eq!((code, paused["state"].as_str()), (200, Some("paused")));
    assert_eq!(post(&s, "/api/train/pause", &serde_json::json!({})).0, 409);
    assert_eq!(post(&s, "/api/train/resume", &serde_json::json!({})).1["state"], "running");
    assert_eq!(post(&s, "/api/train/stop", &serde_json::json!({})).1["state"], "stopping");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let (_, status) = get(&s, "/api/train");
        if status["state"] != "stopping" || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["state"], "finished", "{status}");
    assert!(status["epoch"].as_u64().unwrap() < 2000);

    // A late page gets the run's start and the last 3 events, ending with `finished`.
    let seen = events(&s, "finished");
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    assert_eq!(kinds[..2], ["hello", "started"]);
    assert_eq!(kinds[4], "finished");
    assert_eq!(seen[4].1["stopped_early"], nndl::train::STOPPED_BY_REQUEST);

    // The run's model is served, and predicts.
    let (_, models) = get(&s, "/api/models");
    assert_eq!(models["models"][0]["name"], "run-1");
    let (code, answer) =
        post(&s, "/api/predict", &serde_json::json!({ "model": "run-1", "pixels": vec![0.5; 784] }));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(agent().get(format!("{}/api/train/model", s.url)).call().unwrap().status().as_u16(), 200);

    // Ctrl-C stops the server cleanly, removing the scratch folder the run's model was kept in.
    let scratch = scratch_folders(tmp.path());
    assert_eq!(scratch.len(), 1, "{scratch:?}");
    assert!(scratch[0].join("run-1.safetensors").is_file());
    let mut s = s;
    // SAFETY: sends a signal to the child this test started.
    unsafe { libc::kill(s.child.id() as i32, libc::SIGINT) };
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!scratch[0].exists(), "{:?} left behind", scratch[0]);
}

/// The server's scratch folders in `tmp` (its TMPDIR).
fn scratch_folders(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("nndl-serve-")))
        .collect()
}
