//! Shared by `tests/hostile_*.rs` (issue 12): running the `nndl` binary with a timeout and a
//! memory cap, the contract every refusal must meet, snapshots of folders (nothing created,
//! nothing changed), and the files the tests craft (MNIST subsets, IDX files, PNG digits,
//! safetensors models with rewritten headers). Each test file declares `mod common;` (for
//! `common::data_dir`) and then `mod hostile_support;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// MNIST for the tests, found as the other test files find it (`tests/common`).
pub fn data_dir() -> PathBuf {
    crate::common::data_dir()
}

/// A quick run on real MNIST: 1,000 training images, no validation, one epoch.
pub const QUICK: [&str; 10] = [
    "--train-size",
    "1000",
    "--validation-size",
    "0",
    "--epochs",
    "1",
    "--seed",
    "1",
    "--layers",
    "784,10,10",
];

/// The same without `--layers` (for runs that give `--arch`).
pub const QUICK_NO_LAYERS: [&str; 8] =
    ["--train-size", "1000", "--validation-size", "0", "--epochs", "1", "--seed", "1"];

/// The longest any run may take before it counts as a hang.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Address space a child may map: far above what any run here needs (a quick run peaks below
/// 100 MB), far below what would hurt a shared machine. A run that tries to allocate gigabytes
/// aborts on this cap instead of eating the machine's memory (it fails either way).
pub const ADDRESS_SPACE: u64 = 4 << 30;

pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// How one run of the binary ended.
pub struct Run {
    pub args: Vec<String>,
    pub status: Option<ExitStatus>,
    pub hung: bool,
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    pub fn success(&self) -> bool {
        !self.hung && self.code() == Some(0)
    }

    /// `exit 1`, `exit 101 (panic)`, `killed by signal 6 (abort)`, `hung`.
    pub fn ending(&self) -> String {
        if self.hung {
            return format!("hung (killed after {:.0} s)", self.elapsed.as_secs_f64());
        }
        match self.status {
            Some(st) => match (st.code(), st.signal()) {
                (Some(101), _) => "exit 101 (panic)".into(),
                (Some(c), _) => format!("exit {c}"),
                (None, Some(6)) => "killed by signal 6 (abort, 134)".into(),
                (None, Some(9)) => "killed by signal 9 (SIGKILL: out of memory?)".into(),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "ended without status".into(),
            },
            None => "not started".into(),
        }
    }

    /// What happened, for failure messages: the ending, the stderr's first lines, the stdout's.
    pub fn describe(&self) -> String {
        let head = |t: &str, n: usize| {
            let lines: Vec<&str> = t.lines().filter(|l| !l.trim().is_empty()).collect();
            let mut out: String = lines.iter().take(n).map(|l| clip(l, 300) + "\n    ").collect();
            if lines.len() > n {
                out += &format!("… ({} lines, {} bytes)\n", t.lines().count(), t.len());
            }
            if out.is_empty() { "(empty)\n".into() } else { out.trim_end().to_string() + "\n" }
        };
        format!(
            "`nndl {}`: {} in {:.1} s\n  stderr: {}  stdout: {}",
            clip(&self.args.join(" "), 300),
            self.ending(),
            self.elapsed.as_secs_f64(),
            head(&self.stderr, 4),
            head(&self.stdout, 4)
        )
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes]", &text[..end], text.len())
}

/// One run of `nndl` to be made: arguments, data folder, working folder, environment.
pub struct Nndl {
    args: Vec<String>,
    data: PathBuf,
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
    timeout: Duration,
    before_start: Option<Box<dyn FnOnce(u32)>>,
}

/// `nndl ARGS` with `NNDL_DATA` = the real MNIST folder; see the builder methods.
pub fn nndl<S: AsRef<str>>(args: &[S]) -> Nndl {
    Nndl {
        args: args.iter().map(|a| a.as_ref().to_string()).collect(),
        data: data_dir(),
        cwd: None,
        env: Vec::new(),
        timeout: TIMEOUT,
        before_start: None,
    }
}

impl Nndl {
    /// `NNDL_DATA` for this run.
    pub fn data(mut self, dir: &Path) -> Self {
        self.data = dir.to_path_buf();
        self
    }
    /// The working folder (default outputs such as `weights.png` land there).
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// Calls `f(pid)` once the process exists but before it runs a single instruction of
    /// nndl (it waits in the forked child, before `exec`), so a test can plant files whose
    /// names depend on the pid.
    pub fn before_start(mut self, f: impl FnOnce(u32) + 'static) -> Self {
        self.before_start = Some(Box::new(f));
        self
    }

    /// Runs it to the end, or kills it after the timeout (a hang).
    pub fn run(self) -> Run {
        let bin = env!("CARGO_BIN_EXE_nndl");
        // With before_start, a shell waits for one line on its stdin and then execs nndl: the
        // same process (pid), held back until the test has planted its files.
        let mut cmd = if self.before_start.is_some() {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg("read _gate; exec \"$0\" \"$@\"").arg(bin).stdin(Stdio::piped());
            c
        } else {
            let mut c = Command::new(bin);
            c.stdin(Stdio::null());
            c
        };
        cmd.args(&self.args)
            .env("NNDL_DATA", &self.data)
            // No test may reach the network: any download goes to a proxy that is not there.
            .env("ALL_PROXY", "http://127.0.0.1:9")
            .env("all_proxy", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("https_proxy", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("http_proxy", "http://127.0.0.1:9")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("NNDL_MAX_MEMORY")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        // SAFETY: the closure runs in the forked child before exec and makes one
        // async-signal-safe system call.
        unsafe {
            cmd.pre_exec(|| {
                let cap = libc::rlimit { rlim_cur: ADDRESS_SPACE, rlim_max: ADDRESS_SPACE };
                libc::setrlimit(libc::RLIMIT_AS, &cap);
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("the nndl binary starts");
        if let Some(f) = self.before_start {
            let mut stdin = child.stdin.take().expect("the gate");
            // If planting fails, kill the held child before failing the test.
            let planted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(child.id())));
            if let Err(e) = planted {
                let _ = child.kill();
                let _ = child.wait();
                std::panic::resume_unwind(e);
            }
            use std::io::Write;
            let _ = stdin.write_all(b"go\n");
        }
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let mut hung = false;
        let status = loop {
            match child.try_wait().expect("waiting for nndl") {
                Some(st) => break st,
                None if started.elapsed() > self.timeout => {
                    hung = true;
                    let _ = child.kill();
                    break child.wait().expect("waiting for the killed nndl");
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        let elapsed = started.elapsed();
        Run {
            args: self.args,
            status: Some(status),
            hung,
            elapsed,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }
}

/// What is wrong with `run` as a refusal, if anything: it must end with exit code 1, or 2 for
/// a command line clap cannot parse (no panic, abort, signal or hang), write exactly one non-empty line to stderr, starting
/// `error: `, with no `panicked` anywhere, containing every one of `words` (a word `a|b` is
/// satisfied by either).
pub fn refusal_problem(run: &Run, words: &[&str]) -> Option<String> {
    let mut why = Vec::new();
    if run.hung {
        why.push("it hung".to_string());
    } else if !matches!(run.code(), Some(1 | 2)) {
        // 1: a refusal; 2: a command line that does not parse (clap's usage errors).
        why.push(format!("it ended with {}, not exit 1 or 2", run.ending()));
    }
    if run.stderr.contains("panicked") || run.stdout.contains("panicked") {
        why.push("it panicked".into());
    }
    let body = run.stderr.strip_suffix('\n').unwrap_or(&run.stderr);
    if body.trim().is_empty() {
        why.push("stderr is empty".into());
    } else {
        if body.contains('\n') {
            why.push(format!("stderr has {} lines, not one", body.lines().count()));
        }
        if !body.starts_with("error: ") {
            why.push("stderr does not start with `error: `".into());
        }
    }
    for w in words {
        if !w.split('|').any(|alt| run.stderr.contains(alt)) {
            why.push(format!("stderr does not name `{w}`"));
        }
    }
    (!why.is_empty()).then(|| format!("{}\n  → {}", run.describe(), why.join("; ")))
}

/// Asserts that `run` is a refusal meeting the contract (see [`refusal_problem`]).
#[track_caller]
pub fn assert_refused(run: &Run, words: &[&str]) {
    if let Some(problem) = refusal_problem(run, words) {
        panic!("not a clean refusal: {problem}");
    }
}

/// Asserts success (exit 0, no hang) with the run's output in the message.
#[track_caller]
pub fn assert_success(run: &Run) {
    assert!(run.success() && !run.stderr.contains("panicked"), "should succeed: {}", run.describe());
}

/// Fails with every problem found, one paragraph each.
#[track_caller]
pub fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}: {} problem(s):\n\n{}", problems.len(), problems.join("\n\n"));
}

/// One entry of a folder, as far as a test can tell it apart from another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    File(Vec<u8>),
    Dir,
    Symlink(PathBuf),
    Fifo,
    Other(String),
}

/// Every entry under a folder (not following links), by relative path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<PathBuf, Entry>);

impl Snapshot {
    pub fn of(dir: &Path) -> Snapshot {
        let mut map = BTreeMap::new();
        walk(dir, Path::new(""), &mut map);
        Snapshot(map)
    }

    pub fn names(&self) -> Vec<String> {
        self.0.keys().map(|p| p.display().to_string()).collect()
    }

    /// What differs between `self` (before) and `after`, if anything.
    pub fn diff(&self, after: &Snapshot) -> Option<String> {
        let mut out = Vec::new();
        for (p, e) in &self.0 {
            match after.0.get(p) {
                None => out.push(format!("{} was removed", p.display())),
                Some(a) if a != e => out.push(format!("{} changed ({} → {})", p.display(), kind(e), kind(a))),
                _ => {}
            }
        }
        for (p, a) in &after.0 {
            if !self.0.contains_key(p) {
                out.push(format!("{} was created ({})", p.display(), kind(a)));
            }
        }
        (!out.is_empty()).then(|| out.join(", "))
    }
}

fn kind(e: &Entry) -> String {
    match e {
        Entry::File(b) => format!("file of {} bytes", b.len()),
        Entry::Dir => "folder".into(),
        Entry::Symlink(t) => format!("link to {}", t.display()),
        Entry::Fifo => "FIFO".into(),
        Entry::Other(k) => k.clone(),
    }
}

fn walk(root: &Path, rel: &Path, map: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else { return };
    for entry in entries.flatten() {
        let rel = rel.join(entry.file_name());
        let path = root.join(&rel);
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        let ft = meta.file_type();
        let e = if ft.is_symlink() {
            Entry::Symlink(std::fs::read_link(&path).unwrap_or_default())
        } else if ft.is_dir() {
            walk(root, &rel, map);
            Entry::Dir
        } else if ft.is_file() {
            Entry::File(std::fs::read(&path).unwrap_or_default())
        } else if ft.is_fifo() {
            Entry::Fifo
        } else {
            Entry::Other(format!("{ft:?}"))
        };
        map.insert(rel, e);
    }
}

/// Fails if `before` and the folder now differ.
#[track_caller]
pub fn assert_unchanged(dir: &Path, before: &Snapshot, run: &Run) {
    if let Some(d) = before.diff(&Snapshot::of(dir)) {
        panic!("{} changed: {d}\nafter {}", dir.display(), run.describe());
    }
}

/// Names in `dir` (recursively) starting with `.`: temporary files left behind.
pub fn dot_files(dir: &Path) -> Vec<String> {
    Snapshot::of(dir)
        .0
        .keys()
        .filter(|p| p.components().any(|c| c.as_os_str().to_string_lossy().starts_with('.')))
        .map(|p| p.display().to_string())
        .collect()
}

/// A new empty temporary folder.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("nndl-hostile-").tempdir().expect("a temporary folder")
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(s(path)).unwrap();
    // SAFETY: c is a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}: {}", path.display(), std::io::Error::last_os_error());
}

pub fn is_fifo(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

// ---------------------------------------------------------------------------------------------
// MNIST and IDX files

/// The decompressed content of one of the real MNIST files (`NAME.gz` or `NAME`).
pub fn real_mnist_file(name: &str) -> Vec<u8> {
    let dir = data_dir();
    let gz = dir.join(format!("{name}.gz"));
    let bytes = std::fs::read(&gz)
        .or_else(|_| std::fs::read(dir.join(name)))
        .unwrap_or_else(|e| panic!("MNIST file {name} in {}: {e}", dir.display()));
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out).expect("gunzip");
        out
    } else {
        bytes
    }
}

/// The real test set, decompressed once: (images file, labels file).
fn real_test_files() -> &'static (Vec<u8>, Vec<u8>) {
    static FILES: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        (real_mnist_file("t10k-images-idx3-ubyte"), real_mnist_file("t10k-labels-idx1-ubyte"))
    })
}

/// The first `n` real test images (28×28 bytes each) and their labels.
pub fn real_test_digits(n: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let (images, labels) = real_test_files();
    let imgs = (0..n).map(|i| images[16 + i * 784..16 + (i + 1) * 784].to_vec()).collect();
    (imgs, labels[8..8 + n].to_vec())
}

/// An IDX images file (magic 0x803, big-endian count, rows, cols) holding `pixels`.
pub fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    assert_eq!(pixels.len(), (count * rows * cols) as usize);
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [0x803u32, count, rows, cols] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// An IDX labels file (magic 0x801, big-endian count).
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    for v in [0x801u32, labels.len() as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(labels);
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Links the real training files into `dir` (as the names they have in the real folder).
pub fn link_real_training_files(dir: &Path) {
    for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
        let real = data_dir();
        let src = [format!("{name}.gz"), name.to_string()]
            .into_iter()
            .map(|n| real.join(n))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{name} in {}", real.display()));
        let src = src.canonicalize().unwrap();
        std::os::unix::fs::symlink(&src, dir.join(src.file_name().unwrap())).unwrap();
    }
}

/// Writes real test digit `i` as a 28×28 grey PNG.
pub fn digit_png(path: &Path, i: usize) {
    let (imgs, _) = real_test_digits(i + 1);
    let pixels: Vec<f32> = imgs[i].iter().map(|&b| b as f32 / 255.0).collect();
    nndl::image_io::save_grey_png(path, &pixels, 28, 28).expect("writing a PNG");
}

/// Trains a quick model with `arch_args` (e.g. `["--layers", "784,10,10"]`) and returns the
/// model file's bytes.
pub fn train_model(arch_args: &[&str]) -> Vec<u8> {
    let dir = tempdir();
    let model = dir.path().join("m.safetensors");
    let mut args = vec!["train", "--quiet", "--save", s(&model)];
    args.extend(QUICK_NO_LAYERS);
    args.extend(arch_args);
    let run = nndl(&args).cwd(dir.path()).run();
    assert_success(&run);
    std::fs::read(&model).unwrap()
}

// ---------------------------------------------------------------------------------------------
// safetensors model files

/// A safetensors file taken apart: its header (without `__metadata__`), the nndl metadata as
/// JSON, the other metadata entries, and the data bytes after the header.
#[derive(Clone)]
pub struct Model {
    pub tensors: serde_json::Map<String, serde_json::Value>,
    pub nndl: serde_json::Value,
    pub other_meta: serde_json::Map<String, serde_json::Value>,
    pub data: Vec<u8>,
}

impl Model {
    pub fn parse(bytes: &[u8]) -> Model {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let mut header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..8 + n]).expect("a safetensors header");
        let mut meta = match header.remove("__metadata__") {
            Some(serde_json::Value::Object(m)) => m,
            _ => panic!("no __metadata__"),
        };
        let nndl = match meta.remove("nndl") {
            Some(serde_json::Value::String(s)) => serde_json::from_str(&s).expect("nndl metadata is JSON"),
            _ => panic!("no nndl metadata"),
        };
        Model { tensors: header, nndl, other_meta: meta, data: bytes[8 + n..].to_vec() }
    }

    /// The file: 8-byte little-endian header length, the JSON header (padded with spaces to a
    /// multiple of 8), the data.
    pub fn bytes(&self) -> Vec<u8> {
        let mut header = self.tensors.clone();
        let mut meta = self.other_meta.clone();
        meta.insert("nndl".into(), serde_json::Value::String(self.nndl.to_string()));
        header.insert("__metadata__".into(), serde_json::Value::Object(meta));
        let mut json = serde_json::to_vec(&header).unwrap();
        while !json.len().is_multiple_of(8) {
            json.push(b' ');
        }
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&json);
        out.extend_from_slice(&self.data);
        out
    }

    /// Replaces the architecture (and the cost).
    pub fn with_arch(mut self, arch: serde_json::Value, cost: &str) -> Model {
        self.nndl["architecture"] = arch;
        self.nndl["cost"] = serde_json::Value::String(cost.into());
        self
    }

    /// Renames every `layers.{i}.X` tensor to `layers.{i + by}.X` (for a layer put in front).
    pub fn shift_layers(mut self, by: usize) -> Model {
        let old = std::mem::take(&mut self.tensors);
        for (name, v) in old {
            let mut parts = name.splitn(3, '.');
            let (_, i, rest) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
            let i: usize = i.parse().unwrap();
            self.tensors.insert(format!("layers.{}.{rest}", i + by), v);
        }
        self
    }

    /// Replaces every tensor by one of zeros, of each of the given names and shapes.
    pub fn with_zero_tensors(mut self, tensors: &[(String, Vec<u64>)]) -> Model {
        self.tensors.clear();
        let mut at = 0u64;
        for (name, shape) in tensors {
            let len = 4 * shape.iter().product::<u64>();
            self = self.with_tensor(name, shape, [at, at + len]);
            at += len;
        }
        assert!(at < 100 << 20, "zero tensors of {at} bytes: too big for a test");
        self.data = vec![0; at as usize];
        self
    }

    /// Sets one tensor's header entry (dtype F32) to `shape` and `offsets`.
    pub fn with_tensor(mut self, name: &str, shape: &[u64], offsets: [u64; 2]) -> Model {
        self.tensors.insert(
            name.into(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": offsets }),
        );
        self
    }
}
