//! Every data error that carries an OS error says the OS's words once: in its own message, and
//! in the chain the CLI prints (`error: {err:#}`, with the context it adds).

use std::net::TcpListener;
use std::path::Path;

use anyhow::Context;
use nndl::data::{DataError, ensure_present_with, find_file, read_idx_images};

/// Asserts that `needle` occurs exactly once in the error's message and in the CLI's line for
/// it, that both are one line, and that nothing hangs below the error in the chain.
fn once(err: DataError, needle: &str) {
    assert!(std::error::Error::source(&err).is_none(), "{err:?} has a source, printed again by {{:#}}");
    let msg = err.to_string();
    let cli = format!("{:#}", Err::<(), _>(err).context("MNIST in /somewhere").unwrap_err());
    for text in [&msg, &cli] {
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(text.matches(needle).count(), 1, "{needle:?} not exactly once in: {text}");
        assert_eq!(text.matches("os error").count(), 1, "{text}");
    }
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn io_errors_say_the_os_text_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    // Io: opening a path under a regular file.
    let err = read_idx_images(&file.join("x.gz")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    once(err, "Not a directory (os error 20)");
}

#[test]
fn unusable_names_say_the_os_text_once() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("x.gz");
    std::os::unix::fs::symlink(&at, &at).unwrap();
    let err = find_file(dir.path(), "x").unwrap_err();
    assert!(matches!(err, DataError::Unusable { .. }), "{err:?}");
    once(err, "Too many levels of symbolic links (os error 40)");
}

#[test]
fn download_failures_say_the_os_text_once() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let err = ensure_present_with(dir.path(), &[&dead], &[("x", &sha(b"x"))], false).unwrap_err();
    assert!(matches!(err, DataError::Download { .. }), "{err:?}");
    once(err, "Connection refused (os error 111)");
}

#[test]
fn a_folder_that_cannot_be_created_says_the_os_text_once() {
    // Under /proc nothing can be created, whoever runs the test.
    let dir = Path::new("/proc/nndl-no-such-folder/mnist");
    let err = ensure_present_with(dir, &[], &[("x", &sha(b"x"))], false).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{}: cannot create the folder: ", dir.display())), "{msg}");
    let os = msg.split(": ").nth(2).unwrap().split(';').next().unwrap().to_string();
    assert!(os.contains("os error"), "{msg}");
    once(err, &os);
}
