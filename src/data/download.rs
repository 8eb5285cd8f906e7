//! Downloading the MNIST files from public mirrors, verified by SHA-256.
//!
//! A download goes to a hidden temporary file in the data folder (`.NAME.RANDOM.part`, created
//! with O_EXCL and locked while in use); its decompressed content is hashed and compared with
//! the known checksum; only then is it fsync'd and renamed into place, never over an existing
//! file. The temporary file is removed on any failure and on Ctrl-C, so the folder never holds
//! a partial or unverified file under an MNIST name; one left by a process killed outright is
//! removed by the next run into that folder.
//!
//! A mirror that is refused, answers with an error, serves a wrong or damaged file, or sends
//! less than [`MinRate::DEFAULT`] (16 KiB in any 30 s) is given up for the next one.

use std::fs::{self, File};
use std::io::{BufReader, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::bufread::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::error::{DataError, one_line};
use super::idx::GZIP_MAGIC;
use crate::interrupt;

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

/// The two test files (names without `.gz`) and their SHA-256: all that evaluating needs.
pub const TEST_FILES: &[(&str, &str)] = FILES.split_at(2).1;

/// Largest download accepted, and largest decompressed content hashed (MNIST needs ~47 MB).
const MAX_BYTES: u64 = 256 << 20;

/// The file name of a temporary download is `.NAME.` + random + `.part` (older versions wrote
/// `.NAME.PID-N.part`; the prefix matches those too, so they are cleaned up as well).
const PART_SUFFIX: &str = ".part";

/// An unlocked `.part` file younger than this is left alone: it may be one that a download
/// has just created and is about to lock.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// The slowest transfer a mirror is allowed: at least `bytes` in every `window` once the body
/// has started. A server that drips a byte every 20 s never trips the per-read timeout, and
/// would make one file take up to the global timeout (30 minutes); this stops it within a
/// window and moves on to the next mirror.
#[derive(Clone, Copy, Debug)]
pub struct MinRate {
    /// Bytes that must arrive in each window.
    pub bytes: u64,
    /// The window (also the longest any single read may wait).
    pub window: Duration,
}

impl MinRate {
    /// 16 KiB in every 30 seconds: a modem would pass; a stalled mirror would not.
    pub const DEFAULT: MinRate = MinRate { bytes: 16 << 10, window: Duration::from_secs(30) };
}

/// Where MNIST's file `name` is in `dir`: `Ok(Some(DIR/NAME.gz))` if that is a regular file,
/// else `Ok(Some(DIR/NAME))` if that is one; `Ok(None)` if neither name exists at all, so that
/// the file may be downloaded. A symbolic link to a regular file counts as one.
///
/// Anything else at either name is a [`DataError::Unusable`] naming it and saying what it is:
/// a directory, a device (e.g. a link to `/dev/zero`), a FIFO, a socket, a dangling link, a
/// loop of links, or a path the OS will not let nndl look at. Such a name is never downloaded
/// over: it is someone's, and treating it as missing would end in network errors that hide
/// the real problem. The `.gz` name is looked at first and wins, as when reading.
pub fn find_file(dir: &Path, name: &str) -> Result<Option<PathBuf>, DataError> {
    for path in [dir.join(format!("{name}.gz")), dir.join(name)] {
        if probe(dir, &path)? {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// `true` if `path` is (or links to) a regular file, `false` if nothing at all is there.
fn probe(dir: &Path, path: &Path) -> Result<bool, DataError> {
    const NEED: &str = "the MNIST file as a regular file (or nothing, to download it)";
    let unusable = |what: String| DataError::Unusable { path: path.to_path_buf(), what, need: NEED };
    let link_target = || fs::read_link(path).ok().map(|t| t.display().to_string());
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(true),
        Ok(meta) => {
            let what = match (link_target(), meta.is_dir()) {
                (None, true) => "is a directory".to_string(),
                (None, false) => format!("is not a regular file ({})", kind(&meta.file_type())),
                (Some(t), true) => format!("is a symbolic link to {t}, which is a directory"),
                (Some(t), false) => {
                    format!(
                        "is a symbolic link to {t}, which is not a regular file ({})",
                        kind(&meta.file_type())
                    )
                }
            };
            Err(unusable(what))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => match fs::symlink_metadata(path) {
            // The name exists but leads nowhere: a dangling link.
            Ok(_) => Err(unusable(match link_target() {
                Some(t) => format!("is a symbolic link to {t}, which does not exist"),
                None => "is a symbolic link that leads nowhere".to_string(),
            })),
            Err(_) => Ok(false),
        },
        // The data folder, or a folder above it, is a file: name that one.
        Err(e) if e.kind() == ErrorKind::NotADirectory => {
            let culprit = dir.ancestors().find(|a| fs::metadata(a).is_ok_and(|m| !m.is_dir()));
            Err(DataError::Unusable {
                path: culprit.unwrap_or(dir).to_path_buf(),
                what: "is not a folder".to_string(),
                need: "a folder holding the MNIST files (or nothing, to create it and download them)",
            })
        }
        // A loop of links, permission denied, ...: the OS's own words, once.
        Err(e) => Err(unusable(format!("cannot be used: {e}"))),
    }
}

/// What kind of file that is not a regular file or a directory `t` is, in words.
fn kind(t: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    let _ = t;
    "a special file"
}

/// Ensures the four MNIST files are in `dir` (as `NAME.gz` or `NAME`), downloading any missing
/// one from `mirrors` (tried in order, each `{base}{name}.gz`) and verifying it against the
/// known SHA-256 before it appears under its real name. Files already present are not checked
/// (reading them does that); a name that holds something other than a regular file is an
/// error, not a reason to download (see [`find_file`]). `progress` shows a byte progress bar
/// on stderr.
///
/// Returns the names of the files downloaded (e.g. `"train-images-idx3-ubyte.gz"`), empty
/// when all were present.
pub fn ensure_present(dir: &Path, mirrors: &[&str], progress: bool) -> Result<Vec<String>, DataError> {
    ensure_present_with(dir, mirrors, FILES, progress)
}

/// [`ensure_present`] for the two test files only ([`TEST_FILES`]): what `eval` needs.
pub fn ensure_test_present(dir: &Path, mirrors: &[&str], progress: bool) -> Result<Vec<String>, DataError> {
    ensure_present_with(dir, mirrors, TEST_FILES, progress)
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
    ensure_present_tuned(dir, mirrors, files, progress, MinRate::DEFAULT)
}

/// [`ensure_present_with`] with the slowest transfer allowed given, so that a test can use a
/// window of seconds rather than [`MinRate::DEFAULT`]'s 30.
///
/// Every name is looked at before anything is downloaded, so an unusable one is reported
/// first. Temporary files that earlier downloads into `dir` left behind (killed before they
/// could remove them) are removed, unless a live download holds their lock.
#[doc(hidden)]
pub fn ensure_present_tuned(
    dir: &Path,
    mirrors: &[&str],
    files: &[(&str, &str)],
    progress: bool,
    rate: MinRate,
) -> Result<Vec<String>, DataError> {
    let mut missing = Vec::new();
    for &(name, sha256) in files {
        if find_file(dir, name)?.is_none() {
            missing.push((name, sha256));
        }
    }
    let ours = FILES.iter().chain(files).map(|&(name, _)| name);
    remove_stale_parts(dir, &ours.collect::<Vec<_>>());
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    fs::create_dir_all(dir).map_err(DataError::io(dir, "create the folder"))?;
    let agent = agent(rate);
    let mut downloaded = Vec::new();
    for (name, sha256) in missing {
        downloaded.push(download_one(&agent, dir, name, sha256, mirrors, progress, rate)?);
    }
    Ok(downloaded)
}

/// Removes the `.NAME.*.part` files in `dir` (for the `names` given) that no live download
/// holds: a download keeps an exclusive lock on its file, so one whose lock can be taken was
/// left by a process that died (killed, or a second Ctrl-C). Best effort: a file that cannot
/// be examined, locked or removed is left as it is.
fn remove_stale_parts(dir: &Path, names: &[&str]) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else { continue };
        let ours = file_name.ends_with(PART_SUFFIX)
            && names.iter().any(|n| {
                file_name
                    .strip_prefix('.')
                    .and_then(|r| r.strip_prefix(n))
                    .is_some_and(|r| r.starts_with('.'))
            });
        if !ours {
            continue;
        }
        let path = entry.path();
        // Only a regular file (not a link), and not one just created.
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        let old = meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age >= STALE_AFTER);
        if !meta.is_file() || !old {
            continue;
        }
        let mut options = File::options();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Never block on a FIFO swapped in meanwhile, never follow a link.
            options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
        }
        let Ok(file) = options.open(&path) else { continue };
        if file.try_lock().is_ok() {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Generous limits: the big file is ~10 MB, but a stalled connection must not hang forever.
fn agent(rate: MinRate) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(rate.window))
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
    rate: MinRate,
) -> Result<String, DataError> {
    let dest = dir.join(format!("{name}.gz"));
    let mut attempts = Vec::new();
    for base in mirrors {
        if interrupt::requested() {
            return Err(DataError::Interrupted { path: dest });
        }
        let url = format!("{base}{name}.gz");
        match fetch(agent, dir, name, sha256, &url, progress, rate) {
            Ok(saved) => return Ok(saved),
            Err(Failure::Remote(why)) => attempts.push(format!("{url}: {}", one_line(why))),
            Err(Failure::Local(e)) => return Err(e),
        }
    }
    if attempts.is_empty() {
        attempts.push("no mirror to try".to_string());
    }
    Err(DataError::Download { path: dest, dir: dir.to_path_buf(), attempts: attempts.join("; ") })
}

/// Downloads `url` into a temporary file, verifies it, and renames it into place.
fn fetch(
    agent: &ureq::Agent,
    dir: &Path,
    name: &str,
    sha256: &str,
    url: &str,
    progress: bool,
    rate: MinRate,
) -> Result<String, Failure> {
    let mut resp = agent.get(url).call().map_err(|e| Failure::Remote(e.to_string()))?;
    let total = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    let mut part = Part::create(dir, name).map_err(Failure::Local)?;
    let bar = progress_bar(progress, total, name);
    let body = resp.body_mut().with_config().limit(MAX_BYTES).reader();
    let copied = copy(bar.wrap_read(body), &mut part, &dir.join(format!("{name}.gz")), rate);
    bar.finish_and_clear();
    copied?;
    let gzip = part.starts_with_gzip_magic().map_err(Failure::Local)?;
    let got = part.sha256(gzip)?;
    if !got.eq_ignore_ascii_case(sha256) {
        return Err(Failure::Remote(format!(
            "checksum mismatch for {name}: SHA-256 of the decompressed content is {got}, expected {sha256} (the mirror served a wrong or damaged file)"
        )));
    }
    // A gzip download is kept compressed; a server that decoded it for us gave raw IDX.
    let saved = if gzip { format!("{name}.gz") } else { name.to_string() };
    part.persist(dir, name, &saved).map_err(Failure::Local)
}

/// Copies the body into the temporary file: read errors and a transfer slower than `rate`
/// are the mirror's fault, write errors ours. Stops at once if Ctrl-C was pressed (the
/// temporary file is then removed when `to` is dropped); `dest` is named in that error.
fn copy(mut from: impl Read, to: &mut Part, dest: &Path, rate: MinRate) -> Result<(), Failure> {
    let mut buf = vec![0u8; 1 << 16];
    // The current window's start and the bytes that arrived in it; it opens with the first byte.
    let mut window: Option<(Instant, u64)> = None;
    let path = to.file.path().to_path_buf();
    loop {
        if interrupt::requested() {
            return Err(Failure::Local(DataError::Interrupted { path: dest.to_path_buf() }));
        }
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Remote(format!("download failed: {e}"))),
        };
        to.file
            .as_file_mut()
            .write_all(&buf[..n])
            .map_err(|e| Failure::Local(DataError::io(&path, "write")(e)))?;
        let now = Instant::now();
        match &mut window {
            None => window = Some((now, n as u64)),
            Some((start, got)) => {
                *got += n as u64;
                let elapsed = now.duration_since(*start);
                if elapsed >= rate.window {
                    if *got < rate.bytes {
                        return Err(Failure::Remote(format!(
                            "too slow: {got} bytes in {:.0} s, less than the {} bytes per {} s required (the mirror is stalling)",
                            elapsed.as_secs_f64(),
                            rate.bytes,
                            rate.window.as_secs_f64()
                        )));
                    }
                    window = Some((now, 0));
                }
            }
        }
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

/// A download in progress: a hidden file `.NAME.RANDOM.part` in the data folder, created with
/// O_EXCL under a name no one can predict (so a link planted in a shared folder cannot make
/// nndl write elsewhere), locked while it lives (so a later run knows it is not stale), and
/// removed on drop unless persisted.
struct Part {
    file: NamedTempFile<File>,
}

impl Part {
    fn create(dir: &Path, name: &str) -> Result<Self, DataError> {
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(PART_SUFFIX)
            .rand_bytes(12)
            .make_in(dir, |path| {
                let file = File::options().read(true).write(true).create_new(true).open(path)?;
                // The lock only tells a later run that this file is in use. On a file system
                // without locks the download goes on; such a file is then never removed as stale.
                let _ = file.try_lock();
                Ok(file)
            })
            .map_err(DataError::io(dir, "create a temporary download file in"))?;
        Ok(Part { file })
    }

    fn reopen(&self) -> Result<BufReader<File>, DataError> {
        let path = self.file.path();
        let file = File::open(path).map_err(DataError::io(path, "read back"))?;
        Ok(BufReader::with_capacity(1 << 16, file))
    }

    fn starts_with_gzip_magic(&self) -> Result<bool, DataError> {
        let mut head = Vec::with_capacity(2);
        self.reopen()?
            .take(2)
            .read_to_end(&mut head)
            .map_err(DataError::io(self.file.path(), "read back"))?;
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
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // An error with an errno is the disk's; any other from the decoder is the data's.
                Err(e) if gzip && e.raw_os_error().is_none() => {
                    return Err(Failure::Remote(format!("corrupt or truncated gzip data: {e}")));
                }
                Err(e) => return Err(Failure::Local(DataError::io(self.file.path(), "read back")(e))),
            }
        }
        if total > MAX_BYTES {
            return Err(Failure::Remote(format!(
                "the content is larger than {MAX_BYTES} bytes, not an MNIST file"
            )));
        }
        Ok(format!("{:x}", hasher.finalize()))
    }

    /// Flushes to disk and renames to `dir/saved`, never replacing whatever is there (another
    /// process may have put the file there meanwhile: then it is used, and ours dropped);
    /// then syncs the folder so the rename is durable. Returns the name the file is under.
    fn persist(self, dir: &Path, name: &str, saved: &str) -> Result<String, DataError> {
        let dest = dir.join(saved);
        self.file.as_file().sync_all().map_err(DataError::io(self.file.path(), "sync"))?;
        match self.file.persist_noclobber(&dest) {
            Ok(_) => {
                // Not possible on every platform (e.g. Windows); the rename is done either way.
                let _ = File::open(dir).and_then(|d| d.sync_all());
                Ok(saved.to_string())
            }
            Err(e) if e.error.kind() == ErrorKind::AlreadyExists => {
                drop(e.file); // removes our copy
                let found = find_file(dir, name)?
                    .ok_or_else(|| DataError::io(&dest, "rename the download to")(e.error))?;
                Ok(found.file_name().map_or_else(|| saved.to_string(), |n| n.to_string_lossy().into_owned()))
            }
            Err(e) => Err(DataError::io(&dest, "rename the download to")(e.error)),
        }
    }
}
