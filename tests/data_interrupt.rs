//! Ctrl-C during a download: the download stops at once and leaves nothing behind; a second
//! signal ends the process. Its own test binary: the flag, once set, is process-wide.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nndl::data::{DataError, ensure_present_with};
use nndl::interrupt;

/// A server that answers every request with a 1 MB body announced in full, sent one byte
/// every 10 ms (fast enough for the minimum rate's 30-second window to never trip here).
fn slow_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut reader = BufReader::new(stream.try_clone()?);
                let mut line = String::new();
                while reader.read_line(&mut line)? > 0 && line != "\r\n" {
                    line.clear();
                }
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n")?;
                loop {
                    stream.write_all(&[0x1f; 64])?;
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
    });
    base
}

fn listing(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn ctrl_c_stops_a_download_and_removes_its_temporary_file() {
    interrupt::install();
    assert!(!interrupt::requested());
    let base = slow_server();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let watcher = {
        let dir = dir.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while !listing(&dir).iter().any(|n| n.ends_with(".part")) {
                assert!(started.elapsed() < Duration::from_secs(10), "the download never started");
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(200));
            // SAFETY: sends SIGINT to this process, whose handler only sets a flag.
            unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
            Instant::now()
        })
    };
    let err = ensure_present_with(&dir, &[&base], &[("x", "00")], false).unwrap_err();
    let signalled = watcher.join().unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(2), "took {:?} to stop", signalled.elapsed());
    assert!(matches!(err, DataError::Interrupted { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.starts_with(&format!("{}: download interrupted", dir.join("x.gz").display())), "{msg}");
    assert_eq!(listing(&dir), Vec::<String>::new(), "the .part file was left behind");
    assert!(interrupt::requested());
    // With the flag up, nothing more is started.
    let err = ensure_present_with(&dir, &[&base], &[("y", "00")], false).unwrap_err();
    assert!(matches!(err, DataError::Interrupted { .. }), "{err:?}");
}

/// Run as a child (see below): the first signal only sets the flag, the second ends the
/// process with 128 + the signal's number.
#[test]
fn a_second_signal_ends_the_process_at_once() {
    if let Ok(signal) = std::env::var("NNDL_TEST_SIGNAL") {
        let signal: i32 = signal.parse().unwrap();
        interrupt::install();
        // SAFETY: raising a signal whose handler only sets a flag (or ends the process).
        unsafe { libc::raise(signal) };
        assert!(interrupt::requested(), "the first signal did not set the flag");
        println!("alive after the first signal");
        std::io::stdout().flush().unwrap();
        // SAFETY: as above.
        unsafe { libc::raise(signal) };
        std::thread::sleep(Duration::from_secs(5));
        println!("still alive after the second");
        return;
    }
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "a_second_signal_ends_the_process_at_once", "--nocapture", "--test-threads=1"])
            .env("NNDL_TEST_SIGNAL", signal.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(128 + signal), "signal {signal}: {:?} {stdout}", out.status);
        assert!(stdout.contains("alive after the first signal"), "{stdout}");
        assert!(!stdout.contains("still alive"), "{stdout}");
    }
}
