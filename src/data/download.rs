//! Downloading the MNIST files from public mirrors, verified by SHA-256.
//!
//! A download goes to a hidden temporary file in the data folder; its decompressed content is
//! hashed and compared with the known checksum; only then is it fsync'd and renamed into place.
//! The temporary file is removed on any failure, so the folder never holds a partial or
//! unverified file under an MNIST name.

use std::fs::{self, File};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flate2::bufread::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use super::error::{DataError, one_line};
use super::idx::GZIP_MAGIC;

/// The standard MNIST mirrors (base URLs, tried in order); each serves `{base}{name}.gz`.
pub const MIRRORS: &[&str] = &[
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// Training images file name (without `.gz`).
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Training labels file name (without `.gz`).
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Test images file name (without `.gz`).
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Test labels file name (without `.gz`).
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// The four files (names without `.gz`) and the SHA-256 of their DECOMPRESSED content.
pub const FILES: &[(&str, &str)] = &[
    (TRAIN_IMAGES, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    (TRAIN_LABELS, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    (TEST_IMAGES, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    (TEST_LABELS, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
];

/// Largest download accepted, and largest decompressed content hashed (MNIST needs ~47 MB).
const MAX_BYTES: u64 = 256 << 20;

/// `DIR/NAME.gz` if it is a file, else `DIR/NAME` if it is a file (gzip preferred).
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(format!("{name}.gz")), dir.join(name)].into_iter().find(|p| p.is_file())
}

/// Ensures the four MNIST files are in `dir` (as `NAME.gz` or `NAME`), downloading any missing
/// one from `mirrors` (tried in order, each `{base}{name}.gz`) and verifying it against the
/// known SHA-256 before it appears under its real name. Files already present are not checked
/// (reading them does that). `progress` shows a byte progress bar on stderr.
///
/// Returns the names of the files downloaded (e.g. `"train-images-idx3-ubyte.gz"`), empty
/// when all were present.
pub fn ensure_present(dir: &Path, mirrors: &[&str], progress: bool) -> Result<Vec<String>, DataError> {
    ensure_present_with(dir, mirrors, FILES, progress)
}

/// [`ensure_present`] with its own table of `(name without .gz, SHA-256 hex of the decompressed
/// content)`, so that tests can serve small synthetic files.
#[doc(hidden)]
pub fn ensure_present_with(
    dir: &Path,
    mirrors: &[&str],
    files: &[(&str, &str)],
    progress: bool,
) -> Result<Vec<String>, DataError> {
    let missing: Vec<_> = files.iter().filter(|(name, _)| find_file(dir, name).is_none()).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    fs::create_dir_all(dir).map_err(DataError::io(dir, "create the folder"))?;
    let agent = agent();
    let mut downloaded = Vec::new();
    for &&(name, sha256) in &missing {
        downloaded.push(download_one(&agent, dir, name, sha256, mirrors, progress)?);
    }
    Ok(downloaded)
}

/// Generous limits: the big file is ~10 MB, but a stalled connection must not hang forever.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(30)))
        .timeout_global(Some(Duration::from_secs(30 * 60)))
        .user_agent(concat!("nndl/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Why one mirror did not give a good file: its own fault (try the next), or ours (stop).
enum Failure {
    Remote(String),
    Local(DataError),
}

/// Tries each mirror in turn for `name`; returns the name the file was saved under.
fn download_one(
    agent: &ureq::Agent,
    dir: &Path,
    name: &str,
    sha256: &str,
    mirrors: &[&str],
    progress: bool,
) -> Result<String, DataError> {
    let mut attempts = Vec::new();
    for base in mirrors {
        let url = format!("{base}{name}.gz");
        match fetch(agent, dir, name, sha256, &url, progress) {
            Ok(saved) => return Ok(saved),
            Err(Failure::Remote(why)) => attempts.push(format!("{url}: {}", one_line(why))),
            Err(Failure::Local(e)) => return Err(e),
        }
    }
    if attempts.is_empty() {
        attempts.push("no mirror to try".to_string());
    }
    Err(DataError::Download {
        path: dir.join(format!("{name}.gz")),
        dir: dir.to_path_buf(),
        attempts: attempts.join("; "),
    })
}

/// Downloads `url` into a temporary file, verifies it, and renames it into place.
fn fetch(
    agent: &ureq::Agent,
    dir: &Path,
    name: &str,
    sha256: &str,
    url: &str,
    progress: bool,
) -> Result<String, Failure> {
    let mut resp = agent.get(url).call().map_err(|e| Failure::Remote(e.to_string()))?;
    let total = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    let mut tmp = TempFile::create(dir, name).map_err(Failure::Local)?;
    let bar = progress_bar(progress, total, name);
    let body = resp.body_mut().with_config().limit(MAX_BYTES).reader();
    let copied = copy(bar.wrap_read(body), &mut tmp);
    bar.finish_and_clear();
    copied?;
    let gzip = tmp.starts_with_gzip_magic().map_err(Failure::Local)?;
    let got = tmp.sha256(gzip)?;
    if !got.eq_ignore_ascii_case(sha256) {
        return Err(Failure::Remote(format!(
            "checksum mismatch for {name}: SHA-256 of the decompressed content is {got}, expected {sha256} (the mirror served a wrong or damaged file)"
        )));
    }
    // A gzip download is kept compressed; a server that decoded it for us gave raw IDX.
    let saved = if gzip { format!("{name}.gz") } else { name.to_string() };
    tmp.persist(&dir.join(&saved)).map_err(Failure::Local)?;
    Ok(saved)
}

/// Copies the body into the temporary file: read errors are the mirror's, write errors ours.
fn copy(mut from: impl Read, to: &mut TempFile) -> Result<(), Failure> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Remote(format!("download failed: {e}"))),
        };
        to.file.write_all(&buf[..n]).map_err(|e| Failure::Local(DataError::io(&to.path, "write")(e)))?;
    }
}

/// A byte progress bar on stderr (hidden unless `show`), with a total when it is known.
fn progress_bar(show: bool, total: Option<u64>, name: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let template = match total {
        Some(_) => "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        None => "{msg} {spinner} {bytes} {bytes_per_sec}",
    };
    let style = ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr()).with_style(style);
    bar.set_message(format!("downloading {name}.gz"));
    bar
}

/// A hidden temporary file in the data folder, removed on drop unless persisted.
struct TempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl TempFile {
    fn create(dir: &Path, name: &str) -> Result<Self, DataError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{name}.{}-{n}.part", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(DataError::io(&path, "create"))?;
        Ok(TempFile { path, file, persisted: false })
    }

    fn reopen(&self) -> Result<BufReader<File>, DataError> {
        let file = File::open(&self.path).map_err(DataError::io(&self.path, "read back"))?;
        Ok(BufReader::with_capacity(1 << 16, file))
    }

    fn starts_with_gzip_magic(&self) -> Result<bool, DataError> {
        let mut head = Vec::with_capacity(2);
        self.reopen()?.take(2).read_to_end(&mut head).map_err(DataError::io(&self.path, "read back"))?;
        Ok(head == GZIP_MAGIC)
    }

    /// SHA-256 (lowercase hex) of the content, decompressed first if `gzip`.
    fn sha256(&self, gzip: bool) -> Result<String, Failure> {
        let file = self.reopen().map_err(Failure::Local)?;
        let reader: Box<dyn Read> = if gzip { Box::new(MultiGzDecoder::new(file)) } else { Box::new(file) };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        let mut reader = reader.take(MAX_BYTES + 1);
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    total += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if gzip => {
                    return Err(Failure::Remote(format!("corrupt or truncated gzip data: {e}")));
                }
                Err(e) => return Err(Failure::Local(DataError::io(&self.path, "read back")(e))),
            }
        }
        if total > MAX_BYTES {
            return Err(Failure::Remote(format!(
                "the content is larger than {MAX_BYTES} bytes, not an MNIST file"
            )));
        }
        Ok(format!("{:x}", hasher.finalize()))
    }

    /// Flushes to disk and renames to `dest`; then syncs the folder so the rename is durable.
    fn persist(mut self, dest: &Path) -> Result<(), DataError> {
        self.file.sync_all().map_err(DataError::io(&self.path, "sync"))?;
        fs::rename(&self.path, dest).map_err(DataError::io(dest, "rename the download to"))?;
        self.persisted = true;
        if let Some(dir) = dest.parent() {
            // Not possible on every platform (e.g. Windows); the rename is done either way.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
    }
}
