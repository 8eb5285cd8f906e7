//! Downloading from mirrors, against a minimal HTTP/1.1 server on the loopback interface.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;
use nndl::data::{
    DataError, FILES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, ensure_present,
    ensure_present_with, load_mnist, read_idx_labels,
};
use sha2::{Digest, Sha256};

/// What the server answers for one path.
#[derive(Clone)]
enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// 200 announcing the whole body's length, then only the first `usize` bytes and a close.
    CutAt(Vec<u8>, usize),
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
    let routes: HashMap<String, Reply> =
        routes.into_iter().map(|(k, v)| (format!("/mnist/{k}"), v)).collect();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = answer(stream, &routes);
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
    assert!(msg.contains(&format!("put the four files in {} or set NNDL_DATA", dir.display())), "{msg}");
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

#[test]
fn real_files_through_loopback_match_the_real_checksums() {
    let real = std::env::var_os("NNDL_DATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist"));
    let routes = FILES
        .iter()
        .map(|(name, _)| {
            let file = format!("{name}.gz");
            let body = std::fs::read(real.join(&file)).unwrap_or_else(|e| {
                panic!("{}: {e}; set NNDL_DATA to the real MNIST folder", real.join(&file).display())
            });
            (file, Reply::Body(body))
        })
        .collect();
    let server = serve(routes);
    let tmp = tempfile::tempdir().unwrap();
    let dir = cache_dir(&tmp);
    let got = ensure_present(&dir, &[&refused(), &server.base], false).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(listing(&dir).len(), 4);
    let labels = read_idx_labels(&dir.join(format!("{TRAIN_LABELS}.gz"))).unwrap();
    assert_eq!(&labels[..8], &[5, 0, 4, 1, 9, 2, 1, 3]);
}
