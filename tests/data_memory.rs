//! Running out of memory while reading a data file is a clean error that says so, never an
//! abort and never "corrupt gzip". Each case runs in a child process whose address space is
//! capped (RLIMIT_AS) a little above what it already uses, so that the allocation fails
//! whatever the machine's memory and overcommit settings.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use flate2::Compression;
use flate2::write::GzEncoder;
use nndl::data::{DataError, read_idx_images};

/// Runs the test `name` again in a child process with `NNDL_TEST_CHILD` set; the child does
/// the real work and asserts. The parent checks that it ended normally (no abort, no panic).
fn in_child(name: &str) -> bool {
    if std::env::var_os("NNDL_TEST_CHILD").is_some() {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("NNDL_TEST_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child {name}: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// Caps this process's address space at what it uses now plus `extra` bytes.
fn cap_memory(extra: u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let limit = kb * 1024 + extra;
    let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
    // SAFETY: a plain system call on a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) }, 0);
}

fn header(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    [0x803, count, rows, cols].iter().flat_map(|n: &u32| n.to_be_bytes()).collect()
}

fn assert_out_of_memory(err: DataError, path: &Path) {
    assert!(matches!(err, DataError::OutOfMemory { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.starts_with(&format!("{}: out of memory", path.display())), "{msg}");
    assert!(!msg.contains("gzip") && !msg.contains("corrupt"), "{msg}");
    println!("{msg}");
}

#[test]
fn a_raw_file_too_big_for_memory_is_an_error_not_an_abort() {
    if !in_child("a_raw_file_too_big_for_memory_is_an_error_not_an_abort") {
        return;
    }
    // 1.5 GiB of images (under the 2 GiB limit), sparse on disk, with 256 MiB to spare.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("images");
    std::fs::write(&path, header(1536, 1024, 1024)).unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_len(16 + (1536 << 20)).unwrap();
    cap_memory(256 << 20);
    assert_out_of_memory(read_idx_images(&path).unwrap_err(), &path);
}

#[test]
fn a_gzip_that_inflates_beyond_memory_is_out_of_memory_not_corrupt() {
    if !in_child("a_gzip_that_inflates_beyond_memory_is_out_of_memory_not_corrupt") {
        return;
    }
    // 768 MiB of zero images: the header, then 96 gzip members of 8 MiB of zeros each.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("images.gz");
    let member = |bytes: &[u8]| {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let zeros = member(&vec![0; 8 << 20]);
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&member(&header(768, 1024, 1024))).unwrap();
    for _ in 0..96 {
        file.write_all(&zeros).unwrap();
    }
    drop(file);
    cap_memory(256 << 20);
    assert_out_of_memory(read_idx_images(&path).unwrap_err(), &path);
}
