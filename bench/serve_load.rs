//! The load client of `bench/serve_load`: N predict requests from C concurrent loopback clients
//! against a running `nndl serve`, each a PNG of a hand-drawn-like digit with every layer's
//! activations in the answer (what the page asks for on each stroke).
//!
//! ```sh
//! cargo run --release --example serve_load -- URL MODEL [REQUESTS [CLIENTS [SERVER_PID]]]
//! ```
//!
//! Reports throughput, latency percentiles, errors, and (given the server's pid) its resident
//! memory before any request, after a warm-up of 200 requests, and after the run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A "2" drawn with a thick round pen on a 280 × 280 white canvas, as a PNG.
fn drawing() -> Vec<u8> {
    let side = 280usize;
    let mut paper = vec![1.0f32; side * side];
    let mut dab = |cx: f32, cy: f32| {
        for y in 0..side {
            for x in 0..side {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                if dx * dx + dy * dy < 14.0 * 14.0 {
                    paper[y * side + x] = 0.0;
                }
            }
        }
    };
    for i in 0..=60 {
        let t = i as f32 / 60.0 * std::f32::consts::PI;
        dab(140.0 - 60.0 * t.cos(), 110.0 - 50.0 * t.sin()); // the arc
    }
    for i in 0..=40 {
        let t = i as f32 / 40.0;
        dab(200.0 - 120.0 * t, 110.0 + 110.0 * t); // the diagonal
        dab(80.0 + 130.0 * t, 220.0); // the base
    }
    let dir = std::env::temp_dir().join(format!("nndl-serve-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("two.png");
    nndl::image_io::save_grey_png(&path, &paper, side, side).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// (VmRSS, VmHWM) of a process in MiB, from /proc.
fn memory(pid: Option<u32>) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Sends `n` requests from `clients` threads; each request's latency (or None: an error), and
/// the bytes of the last answer.
fn fire(url: &str, png: &Arc<Vec<u8>>, n: usize, clients: usize) -> (Vec<Option<Duration>>, usize, Duration) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(30))).build().into();
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let bytes = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (agent, next, results, bytes, png, url) =
                (agent.clone(), next.clone(), results.clone(), bytes.clone(), png.clone(), url.to_string());
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let t = Instant::now();
                    let answer = agent
                        .post(&url)
                        .header("Content-Type", "image/png")
                        .send(&png[..])
                        .and_then(|mut r| r.body_mut().with_config().limit(64 << 20).read_to_vec());
                    let took = t.elapsed();
                    let ok = match answer {
                        Ok(body) if body.starts_with(b"{\"results\"") => {
                            bytes.store(body.len(), Ordering::Relaxed);
                            Some(took)
                        }
                        _ => None,
                    };
                    results.lock().unwrap().push(ok);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = started.elapsed();
    let results = std::mem::take(&mut *results.lock().unwrap());
    (results, bytes.load(Ordering::Relaxed), elapsed)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: serve_load URL MODEL [REQUESTS [CLIENTS [SERVER_PID]]]");
        std::process::exit(2);
    }
    let url = format!("{}/api/predict?model={}", args[0].trim_end_matches('/'), args[1]);
    let n: usize = args.get(2).map_or(2000, |s| s.parse().unwrap());
    let clients: usize = args.get(3).map_or(16, |s| s.parse().unwrap());
    let pid: Option<u32> = args.get(4).map(|s| s.parse().unwrap());
    let png = Arc::new(drawing());

    let before = memory(pid);
    let (warm, _, _) = fire(&url, &png, 200, clients);
    let warmed = memory(pid);
    let (results, bytes, elapsed) = fire(&url, &png, n, clients);
    let after = memory(pid);

    let errors = results.iter().filter(|r| r.is_none()).count() + warm.iter().filter(|r| r.is_none()).count();
    let mut ms: Vec<f64> = results.iter().flatten().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        ms.get(((ms.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(f64::NAN)
    };
    println!(
        "model {}: {n} requests from {clients} clients, a {} B PNG each, answers of {bytes} B",
        args[1],
        png.len()
    );
    println!(
        "  {:.0} requests/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; errors {errors}",
        n as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
    if let (Some(b), Some(w), Some(a)) = (before, warmed, after) {
        println!(
            "  server RSS: {:.1} MiB before, {:.1} MiB after 200 warm-up requests, {:.1} MiB after the run (peak {:.1} MiB after warm-up, {:.1} MiB after the run)",
            b.0, w.0, a.0, w.1, a.1
        );
    }
}
