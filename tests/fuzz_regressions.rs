//! Replays saved fuzzing inputs through the fuzz targets (`nndl::fuzzing`): every crash the
//! fuzzers found (`fuzz/regressions/<target>/`) and every seed (`fuzz/corpus/<target>/`).
//! Each input must be handled without a panic, an abort or a hang, whatever the result. See
//! fuzz/README.md.
//!
//! Each input runs in a child process (this test binary again, running only that target's test,
//! with `NNDL_FUZZ_REPLAY` naming the file), so one input that aborts or hangs is reported by
//! name and the others still run. Like the fuzz targets, the process caps its heap at 2 GiB (a
//! counting global allocator): an input that makes the library allocate without bound aborts its
//! child with a message naming the allocation and where it came from, instead of taking the
//! machine's memory; nndl's own budget (`NNDL_MAX_MEMORY`) is 1 GiB there unless set. A child
//! still running after 20 s is a hang, and is killed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::io::Read as _;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The most heap memory this test process may hold at once, as in the fuzz targets.
const CAP: usize = 2 << 30;

struct Capped;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static OVER: AtomicBool = AtomicBool::new(false);

#[global_allocator]
static GLOBAL: Capped = Capped;

fn reserve(n: usize) {
    let before = LIVE.fetch_add(n, Ordering::Relaxed);
    if before.checked_add(n).is_none_or(|after| after > CAP) && !OVER.load(Ordering::Relaxed) {
        over(n, before);
    }
}

fn release(n: usize) {
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

#[cold]
fn over(request: usize, live: usize) -> ! {
    if OVER.swap(true, Ordering::SeqCst) {
        std::process::abort();
    }
    let backtrace = std::backtrace::Backtrace::force_capture();
    let input = CURRENT.try_with(|c| c.borrow().clone()).unwrap_or_default();
    // Straight to stderr: the test harness would swallow eprintln!'s output of an aborted test.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz_regressions: memory cap: replaying {input}: an allocation of {request} bytes with {live} \
         bytes live would pass the cap of {CAP} bytes (2 GiB); aborting\n{backtrace}"
    );
    std::process::abort();
}

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        reserve(layout.size());
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        reserve(layout.size());
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old {
            reserve(new_size - old);
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > old {
                release(new_size - old);
            }
        } else if new_size < old {
            release(old - new_size);
        }
        p
    }
}

/// The files directly in `fuzz/<kind>/<target>/`, sorted (none if the folder is missing).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
}

/// How long one input may run before it counts as a hang (debug builds are slow; the fuzzers
/// allow 2 s in release builds).
const HANG: Duration = Duration::from_secs(20);

/// Set in a child process: the input file it is to replay.
const REPLAY_VAR: &str = "NNDL_FUZZ_REPLAY";

thread_local! {
    /// The input this thread is replaying, for the memory cap's message.
    static CURRENT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The test `target`: in a child process, replays the one file it was given; otherwise runs a
/// child for each saved input and fails naming each one that panicked, aborted or hung.
fn replay(target: &str, run: fn(&[u8])) {
    if let Some(file) = std::env::var_os(REPLAY_VAR) {
        let path = PathBuf::from(file);
        CURRENT.with(|c| *c.borrow_mut() = path.display().to_string());
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        run(&data);
        return;
    }
    let seeds = inputs("corpus", target);
    assert!(!seeds.is_empty(), "fuzz/corpus/{target} has no seeds");
    // The children's scratch files go here, removed at the end even if a child aborted.
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    let scratch = base.join(format!("nndl-fuzz-replay-{}-{target}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap_or_else(|e| panic!("{}: {e}", scratch.display()));
    let mut failed = Vec::new();
    for path in inputs("regressions", target).into_iter().chain(seeds) {
        let name = path.display().to_string();
        let started = Instant::now();
        if let Err(why) = replay_in_child(target, &path, &scratch) {
            failed.push(format!("{name}: {why}"));
        }
        let seconds = started.elapsed().as_secs_f64();
        if seconds > 1.0 {
            println!("{target}: {name} took {seconds:.1} s");
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(failed.is_empty(), "{target}: {} inputs failed:\n\n{}", failed.len(), failed.join("\n\n"));
}

/// Runs this test binary's test `target` alone on `path`; Err says how it failed.
fn replay_in_child(target: &str, path: &Path, scratch: &Path) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the test binary: {e}"))?;
    let mut command = Command::new(exe);
    command
        .args([target, "--exact", "--nocapture", "--test-threads", "1"])
        .env(REPLAY_VAR, path)
        .env("NNDL_FUZZ_TMP", scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // nndl's own memory budget below the cap, as in the fuzz targets (fuzz/src/lib.rs).
    if std::env::var_os("NNDL_MAX_MEMORY").is_none() {
        command.env("NNDL_MAX_MEMORY", "1G");
    }
    let mut child = command.spawn().map_err(|e| format!("cannot start the test binary: {e}"))?;
    // Read stderr on a thread of its own, so a chatty child cannot block on a full pipe.
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > HANG => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("cannot wait for the child: {e}")),
        }
    };
    let text = reader.join().unwrap_or_default();
    // The child's own report: the panic message or the cap's message, and a few lines after it.
    let report = |text: &str| {
        let lines: Vec<&str> = text.lines().collect();
        let at = lines.iter().position(|l| l.contains("panicked at") || l.contains("memory cap"));
        at.map_or(String::new(), |i| format!("\n    {}", lines[i..lines.len().min(i + 12)].join("\n    ")))
    };
    match status {
        None => Err(format!("still running after {} s (a hang); killed", HANG.as_secs())),
        Some(status) if status.success() => Ok(()),
        Some(status) => match status.signal() {
            Some(signal) => Err(format!("killed by signal {signal} (6 = abort){}", report(&text))),
            None => Err(format!("exited with {status} (a panic){}", report(&text))),
        },
    }
}

#[test]
fn idx() {
    replay("idx", nndl::fuzzing::idx);
}

#[test]
fn model() {
    replay("model", nndl::fuzzing::model);
}

#[test]
fn png() {
    replay("png", nndl::fuzzing::png);
}

#[test]
fn arch() {
    replay("arch", nndl::fuzzing::arch);
}

#[test]
fn text() {
    replay("text", nndl::fuzzing::text);
}

#[test]
fn metrics() {
    replay("metrics", nndl::fuzzing::metrics);
}

#[test]
fn csv() {
    replay("csv", nndl::fuzzing::csv);
}

#[test]
fn image() {
    replay("image", nndl::fuzzing::image);
}

#[test]
fn onnx() {
    replay("onnx", nndl::fuzzing::onnx);
}

#[test]
fn network2() {
    replay("network2", nndl::fuzzing::network2);
}
