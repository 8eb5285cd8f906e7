//! Downloading from mirrors, against a minimal HTTP/1.1 server on the loopback interface.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;
use nndl::data::{
    DataError, FILES, MinRate, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, ensure_present,
    ensure_present_tuned, ensure_present_with, ensure_test_present, find_file, load_mnist, load_test,
    locate_or_download, read_idx_labels,
};
use sha2::{Digest, Sha256};

/// What the server answers for one path.
#[derive(Clone)]
enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// 200 announcing the whole body's length, then only the first `usize` bytes and a close.
    CutAt(Vec<u8>, usize),
    /// 200 announcing the whole body's length, then one byte per `Duration`: never silent for
    /// long enough to trip a per-read timeout, but far too slow.
    Drip(Vec<u8>, Duration),
}

/// A loopback HTTP server; `base` is its mirror URL, `hits` counts requests.
struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
}

/// Serves `routes` (file name, e.g. `x.gz`, → reply) under `/mnist/`; anything else is a 404.
fn serve(routes: Vec<(String, Reply)>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/mnist/", listener.local_addr().unwrap());
    let routes: Arc<HashMap<String, Reply>> =
        Arc::new(routes.into_iter().map(|(k, v)| (format!("/mnist/{k}"), v)).collect());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            // One thread per connection, so that a dripping reply does not hold up the next.
            let routes = routes.clone();
            std::thread::spawn(move || answer(stream, &routes));
        }
    });
    Server { base, hits }
}

fn answer(mut stream: TcpStream, routes: &HashMap<String, Reply>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let head = |status: &str, len: usize| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nContent-Type: application/gzip\r\nConnection: close\r\n\r\n"
        )
    };
    match routes.get(&path) {
        Some(Reply::Body(body)) => {
            stream.write_all(head("200 OK", body.len()).as_bytes())?;
            stream.write_all(body)?;
        }
        Some(Reply::CutAt(body, cut)) => {
            stream.write_all(head("200 OK", body.len()).as_bytes())?;
            stream.write_all(&body[..*cut])?;
        }
        Some(Reply::Drip(body, every)) => {
            stream.write_all(head("200 OK", body.len()).as_bytes())?;
            for byte in body {
                stream.write_all(std::slice::from_ref(byte))?; // fails once the client gives up
                stream.flush()?;
                std::thread::sleep(*every);
            }
        }
        None => {
            stream.write_all(head("404 Not Found", 9).as_bytes())?;
            stream.write_all(b"not found")?;
        }
    }
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}

/// A mirror URL on which nothing listens (connection refused).
fn refused() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/mnist/", listener.local_addr().unwrap())
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// A small synthetic MNIST set: `(name, raw IDX content)` for the four files.
fn synthetic() -> Vec<(&'static str, Vec<u8>)> {
    let images =
        |n: u32| idx(0x803, &[n, 2, 2], &(0..n * 4).map(|i| (i * 37 % 256) as u8).collect::<Vec<_>>());
    let labels = |n: u32| idx(0x801, &[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
    vec![
        (TRAIN_IMAGES, images(20)),
        (TRAIN_LABELS, labels(20)),
        (TEST_IMAGES, images(6)),
        (TEST_LABELS, labels(6)),
    ]
}

/// The checksum table for `files`, as `ensure_present_with` wants it.
fn table(files: &[(&'static str, Vec<u8>)]) -> Vec<(&'static str, String)> {
    files.iter().map(|(name, raw)| (*name, sha256(raw))).collect()
}

fn as_refs<'a>(t: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    t.iter().map(|(n, s)| (*n, s.as_str())).collect()
}

/// Every file in `dir`, hidden ones included, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn gz_routes(files: &[(&'static str, Vec<u8>)]) -> Vec<(String, Reply)> {
    files.iter().map(|(n, raw)| (format!("{n}.gz"), Reply::Body(gz(raw)))).collect()
}

fn cache_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("cache").join("mnist") // does not exist yet: must be created
}

#[test]
fn good_server_files_land_verified_with_the_right_content() {
    let files = synthetic();
    let server = serve(gz_routes(&files));
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);
    let t = table(&files);
    let got = ensure_present_with(&dir, &[&server.base], &as_refs(&t), false).unwrap();
    let names: Vec<String> = files.iter().map(|(n, _)| format!("{n}.gz")).collect();
    assert_eq!(got, names);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(listing(&dir), sorted);
    for (name, raw) in &files {
        let mut content = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(dir.join(format!("{name}.gz"))).unwrap())
            .read_to_end(&mut content)
            .unwrap();
        assert_eq!(&content, raw, "{name}");
    }
    let m = load_mnist(&dir, 15, 5).unwrap();
    assert_eq!((m.training.len(), m.validation.len(), m.test.len()), (15, 5, 6));
    assert_eq!(server.hits.load(Ordering::SeqCst), 4);
}

#[test]
fn refused_and_404_mirrors_are_skipped_for_the_next() {
    let files = synthetic();
    let empty = serve(Vec::new()); // 404 for everything
    let good = serve(gz_routes(&files));
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);
    let t = table(&files);
    let dead = refused();
    let got = ensure_present_with(&dir, &[&dead, &empty.base, &good.base], &as_refs(&t), false).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(empty.hits.load(Ordering::SeqCst), 4);
    assert_eq!(good.hits.load(Ordering::SeqCst), 4);
    assert_eq!(listing(&dir).len(), 4);
}

#[test]
fn wrong_content_fails_on_the_checksum_and_leaves_nothing() {
    let files = synthetic();
    let mut wrong = files[1].1.clone();
    *wrong.last_mut().unwrap() ^= 1; // a valid gzip of the wrong content
    let server = serve(vec![(format!("{TRAIN_LABELS}.gz"), Reply::Body(gz(&wrong)))]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);
    let t = table(&files[1..2]);
    let err = ensure_present_with(&dir, &[&server.base], &as_refs(&t), false).unwrap_err();
    assert!(matches!(err, DataError::Download { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(
        msg.contains("checksum mismatch") && msg.contains(&t[0].1) && msg.contains(&sha256(&wrong)),
        "{msg}"
    );
    assert!(msg.contains(&dir.join(format!("{TRAIN_LABELS}.gz")).display().to_string()), "{msg}");
    assert!(msg.contains(&server.base), "{msg}");
    assert!(dir.is_dir());
    assert_eq!(listing(&dir), Vec::<String>::new(), "no file, no temp file");
}

#[test]
fn corrupt_gzip_from_a_mirror_leaves_nothing() {
    let files = synthetic();
    let mut bad = gz(&files[0].1);
    let n = bad.len();
    bad[n - 8] ^= 0xff; // CRC
    let server = serve(vec![(format!("{TRAIN_IMAGES}.gz"), Reply::Body(bad))]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);
    let t = table(&files[..1]);
    let msg = ensure_present_with(&dir, &[&server.base], &as_refs(&t), false).unwrap_err().to_string();
    assert!(msg.contains("gzip"), "{msg}");
    assert_eq!(listing(&dir), Vec::<String>::new());
}

#[test]
fn connection_closed_mid_body_fails_and_leaves_nothing() {
    let files = synthetic();
    let body = gz(&files[0].1);
    let cut = body.len() / 2;
    let server = serve(vec![(format!("{TRAIN_IMAGES}.gz"), Reply::CutAt(body, cut))]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);
    let t = table(&files[..1]);
    let err = ensure_present_with(&dir, &[&server.base], &as_refs(&t), false).unwrap_err();
    assert!(matches!(err, DataError::Download { .. }), "{err:?}");
    assert!(err.to_string().contains(TRAIN_IMAGES), "{err}");
    assert_eq!(listing(&dir), Vec::<String>::new());
}

#[test]
fn present_files_make_no_request() {
    let files = synthetic();
    let server = serve(gz_routes(&files));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Two present as .gz, two as raw files.
    for (i, (name, raw)) in files.iter().enumerate() {
        if i % 2 == 0 {
            std::fs::write(dir.join(format!("{name}.gz")), gz(raw)).unwrap();
        } else {
            std::fs::write(dir.join(name), raw).unwrap();
        }
    }
    let t = table(&files);
    let got = ensure_present_with(dir, &[&server.base], &as_refs(&t), false).unwrap();
    assert!(got.is_empty());
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    // Only the missing one is fetched.
    std::fs::remove_file(dir.join(TRAIN_LABELS)).unwrap();
    let got = ensure_present_with(dir, &[&server.base], &as_refs(&t), false).unwrap();
    assert_eq!(got, [format!("{TRAIN_LABELS}.gz")]);
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[test]
fn all_mirrors_failing_lists_each_and_says_what_to_do() {
    let files = synthetic();
    let empty = serve(Vec::new());
    let dead = refused();
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);
    let t = table(&files);
    let err = ensure_present_with(&dir, &[&dead, &empty.base], &as_refs(&t), false).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.contains(&format!("{dead}{TRAIN_IMAGES}.gz")), "{msg}");
    assert!(msg.contains(&format!("{}{TRAIN_IMAGES}.gz", empty.base)) && msg.contains("404"), "{msg}");
    assert!(msg.contains(&format!("put the MNIST files in {} or set NNDL_DATA", dir.display())), "{msg}");
    assert_eq!(listing(&dir), Vec::<String>::new());

    let err = ensure_present_with(&dir, &[], &as_refs(&t), false).unwrap_err();
    assert!(err.to_string().contains("no mirror"), "{err}");
}

#[test]
fn an_uncompressed_reply_is_verified_and_kept_raw() {
    // As if the server had decoded a Content-Encoding: gzip transfer for us.
    let files = synthetic();
    let server = serve(vec![(format!("{TEST_LABELS}.gz"), Reply::Body(files[3].1.clone()))]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);
    let t = table(&files[3..]);
    let got = ensure_present_with(&dir, &[&server.base], &as_refs(&t), false).unwrap();
    assert_eq!(got, [TEST_LABELS]);
    assert_eq!(read_idx_labels(&dir.join(TEST_LABELS)).unwrap(), [0, 1, 2, 3, 4, 5]);
}

/// The real MNIST folder, found as the CLI finds it.
fn real_dir() -> PathBuf {
    locate_or_download(None, false).unwrap_or_else(|e| panic!("{e}"))
}

/// Routes serving the real files, each under `NAME.gz` as the mirrors do (a raw file is served
/// raw, as a server that decoded the gzip for us would).
fn real_routes() -> Vec<(String, Reply)> {
    let real = real_dir();
    FILES
        .iter()
        .map(|(name, _)| {
            let path = find_file(&real, name).unwrap().unwrap();
            (format!("{name}.gz"), Reply::Body(std::fs::read(&path).unwrap()))
        })
        .collect()
}

#[test]
fn real_files_through_loopback_match_the_real_checksums() {
    let server = serve(real_routes());
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);
    let got = ensure_present(&dir, &[&refused(), &server.base], false).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(listing(&dir).len(), 4);
    let labels = read_idx_labels(&find_file(&dir, TRAIN_LABELS).unwrap().unwrap()).unwrap();
    assert_eq!(&labels[..8], &[5, 0, 4, 1, 9, 2, 1, 3]);
}

#[test]
fn the_test_set_alone_fetches_only_the_two_test_files() {
    let server = serve(real_routes());
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);
    let got = ensure_test_present(&dir, &[&server.base], false).unwrap();
    assert_eq!(got, [format!("{TEST_IMAGES}.gz"), format!("{TEST_LABELS}.gz")]);
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    let test = load_test(&dir).unwrap();
    assert_eq!(
        (test.len(), test.shape.height, test.shape.width, test.labels.len()),
        (10_000, 28, 28, 10_000)
    );
    assert_eq!(&test.labels[..4], &[7, 2, 1, 0]);
    // Nothing more to fetch; the full set is still missing its training files.
    assert!(ensure_test_present(&dir, &[&server.base], false).unwrap().is_empty());
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    let err = load_mnist(&dir, 50_000, 10_000).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
}

/// The window the tests use: 16 KiB in 2 s, so that a drip is caught in about 2 s.
const FAST: MinRate = MinRate { bytes: 16 << 10, window: Duration::from_secs(2) };

#[test]
fn a_dripping_mirror_is_given_up_for_the_next_and_the_reason_reported() {
    let files = synthetic();
    let t = table(&files[..1]);
    let body = gz(&files[0].1);
    let drip = serve(vec![(format!("{TRAIN_IMAGES}.gz"), Reply::Drip(body, Duration::from_millis(100)))]);
    let good = serve(gz_routes(&files));
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);

    let started = Instant::now();
    let got = ensure_present_tuned(&dir, &[&drip.base, &good.base], &as_refs(&t), false, FAST).unwrap();
    assert_eq!(got, [format!("{TRAIN_IMAGES}.gz")]);
    assert_eq!(good.hits.load(Ordering::SeqCst), 1);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "took {took:?}");

    // Only the drip: the error names the mirror and says why, and nothing is left behind.
    let dir = tmp.path().join("other");
    let err = ensure_present_tuned(&dir, &[&drip.base], &as_refs(&t), false, FAST).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Download { .. }), "{err:?}");
    assert!(msg.contains(&format!("{}{TRAIN_IMAGES}.gz: too slow", drip.base)), "{msg}");
    assert!(msg.contains("16384 bytes per 2 s"), "{msg}");
    assert_eq!(listing(&dir), Vec::<String>::new());
}

#[test]
fn the_temporary_file_has_an_unpredictable_name_and_is_locked_while_in_use() {
    let files = synthetic();
    let t = table(&files[..1]);
    let body = gz(&files[0].1);
    let drip = serve(vec![(format!("{TRAIN_IMAGES}.gz"), Reply::Drip(body, Duration::from_millis(100)))]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let worker = {
        let (dir, base, t) = (dir.clone(), drip.base.clone(), t.clone());
        std::thread::spawn(move || ensure_present_tuned(&dir, &[&base], &as_refs(&t), false, FAST))
    };
    let started = Instant::now();
    let part = loop {
        if let Some(name) = listing(&dir).into_iter().find(|n| n.ends_with(".part")) {
            break dir.join(name);
        }
        assert!(started.elapsed() < Duration::from_secs(5), "no .part file appeared");
        std::thread::sleep(Duration::from_millis(10));
    };
    let name = part.file_name().unwrap().to_string_lossy().into_owned();
    let prefix = format!(".{TRAIN_IMAGES}.");
    assert!(name.starts_with(&prefix), "{name}");
    let middle = &name[prefix.len()..name.len() - ".part".len()];
    assert!(!middle.contains(&std::process::id().to_string()), "pid-based name {name}");
    assert!(middle.len() >= 10, "too short to be unpredictable: {name}");
    let other = std::fs::File::open(&part).unwrap();
    assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)), "{name} is not locked");
    drop(other);
    // The drip is given up; the temporary file goes with it.
    assert!(worker.join().unwrap().is_err());
    assert_eq!(listing(&dir), Vec::<String>::new());
}

/// Sets the file's modification time `secs` seconds into the past.
fn age(path: &Path, secs: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(secs)).unwrap();
}

#[test]
fn stale_part_files_are_removed_but_not_one_a_live_download_holds() {
    let files = synthetic();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (name, raw) in &files {
        std::fs::write(dir.join(format!("{name}.gz")), gz(raw)).unwrap();
    }
    let stale = [format!(".{TRAIN_IMAGES}.Xq3kP0aZ9mWb.part"), format!(".{TEST_LABELS}.4242-0.part")];
    let locked = format!(".{TRAIN_LABELS}.aaaaaaaaaaaa.part");
    let young = format!(".{TEST_IMAGES}.bbbbbbbbbbbb.part");
    let others =
        ["notes.part".to_string(), ".other-file.cccc.part".to_string(), format!(".{TRAIN_IMAGES}.keep")];
    for name in stale.iter().chain([&locked, &young]).chain(&others) {
        std::fs::write(dir.join(name), b"partial").unwrap();
        if name != &young {
            age(&dir.join(name), 3600);
        }
    }
    let holder = std::fs::File::open(dir.join(&locked)).unwrap();
    holder.lock().unwrap();

    let t = table(&files);
    assert!(ensure_present_with(dir, &[], &as_refs(&t), false).unwrap().is_empty());
    let left = listing(dir);
    for name in &stale {
        assert!(!left.contains(name), "{name} was not removed: {left:?}");
    }
    for name in [&locked, &young].into_iter().chain(&others) {
        assert!(left.contains(name), "{name} was removed: {left:?}");
    }
    // Once its holder is gone, the locked one is stale too.
    drop(holder);
    ensure_present_with(dir, &[], &as_refs(&t), false).unwrap();
    assert!(!listing(dir).contains(&locked));
}

/// What can stand at an MNIST file's name without being a regular file, and the words the
/// error must use for it. Each is made by `make(path)`.
#[allow(clippy::type_complexity)]
fn unusable_things(scratch: &Path) -> Vec<(&'static str, Box<dyn Fn(&Path)>, String)> {
    use std::os::unix::fs::symlink;
    let missing = scratch.join("nowhere");
    let a_dir = scratch.join("a-dir");
    std::fs::create_dir_all(&a_dir).unwrap();
    vec![
        ("directory", Box::new(|p: &Path| std::fs::create_dir(p).unwrap()), "is a directory".to_string()),
        (
            "link to /dev/zero",
            Box::new(|p: &Path| symlink("/dev/zero", p).unwrap()),
            "is a symbolic link to /dev/zero, which is not a regular file (a character device)".to_string(),
        ),
        (
            "link loop",
            Box::new(|p: &Path| symlink(p, p).unwrap()),
            "cannot be used: Too many levels of symbolic links (os error 40)".to_string(),
        ),
        (
            "dangling link",
            Box::new(move |p: &Path| symlink(&missing, p).unwrap()),
            format!("is a symbolic link to {}, which does not exist", scratch.join("nowhere").display()),
        ),
        (
            "link to a directory",
            Box::new(move |p: &Path| symlink(&a_dir, p).unwrap()),
            format!("is a symbolic link to {}, which is a directory", scratch.join("a-dir").display()),
        ),
        (
            "FIFO",
            Box::new(|p: &Path| {
                let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            }),
            "is not a regular file (a FIFO (named pipe))".to_string(),
        ),
        (
            "socket",
            Box::new(|p: &Path| std::mem::forget(std::os::unix::net::UnixListener::bind(p).unwrap())),
            "is not a regular file (a socket)".to_string(),
        ),
    ]
}

#[test]
fn what_stands_at_a_file_name_is_reported_and_never_downloaded_over() {
    let files = synthetic();
    let server = serve(gz_routes(&files));
    let t = table(&files);
    let tmp = tempfile::tempdir().unwrap();
    for (i, (label, make, words)) in unusable_things(tmp.path()).into_iter().enumerate() {
        // At the .gz name, and at the raw name with no .gz beside it.
        for raw in [false, true] {
            let dir = tmp.path().join(format!("case-{i}-{raw}"));
            std::fs::create_dir(&dir).unwrap();
            let at = if raw { dir.join(TRAIN_IMAGES) } else { dir.join(format!("{TRAIN_IMAGES}.gz")) };
            make(&at);
            let err = ensure_present_with(&dir, &[&server.base], &as_refs(&t), false).unwrap_err();
            let msg = err.to_string();
            assert!(!msg.contains('\n'), "{label}: {msg}");
            assert!(msg.starts_with(&format!("{}: {words};", at.display())), "{label}: {msg}");
            // The library names no flag (the CLI adds --data): the advice is in the data's terms.
            assert!(
                msg.contains("will not download over it") && msg.contains("another folder"),
                "{label}: {msg}"
            );
            assert_eq!(msg.matches("os error").count(), usize::from(words.contains("os error")), "{msg}");
            assert_eq!(server.hits.load(Ordering::SeqCst), 0, "{label}: a download was tried");
            assert!(std::fs::symlink_metadata(&at).is_ok(), "{label}: it was replaced");
            // Reading reports it the same way, not as "not found".
            let err = load_mnist(&dir, 1, 0).unwrap_err();
            assert!(err.to_string().starts_with(&format!("{}: {words};", at.display())), "{label}: {err}");
        }
    }
}

#[test]
fn a_link_to_a_regular_file_is_used_and_a_file_in_place_of_the_folder_is_named() {
    let files = synthetic();
    let server = serve(gz_routes(&files));
    let t = table(&files);
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    for (name, raw) in &files {
        std::fs::write(store.join(format!("{name}.gz")), gz(raw)).unwrap();
        std::os::unix::fs::symlink(store.join(format!("{name}.gz")), dir.join(format!("{name}.gz"))).unwrap();
    }
    assert!(ensure_present_with(&dir, &[&server.base], &as_refs(&t), false).unwrap().is_empty());
    assert_eq!(load_mnist(&dir, 15, 5).unwrap().test.len(), 6);
    assert_eq!(locate_or_download(Some(&dir), false).unwrap(), dir);

    // The data folder is a file (or lies under one).
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    for dir in [file.clone(), file.join("mnist")] {
        let err = ensure_present_with(&dir, &[&server.base], &as_refs(&t), false).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{}: is not a folder;", file.display())), "{msg}");
        let err = locate_or_download(Some(&dir), false).unwrap_err();
        assert!(matches!(err, DataError::Unusable { .. }), "{err:?}");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}
