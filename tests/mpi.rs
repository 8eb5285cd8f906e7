//! `mpirun -np 2 nndl train …` (two ranks on this machine, over loopback TCP) against one
//! process: the same test accuracy and the same weights up to f32 rounding; a rank killed or
//! stopped mid-epoch ends the run non-zero within a bounded time; a run resumed from a
//! checkpoint under MPI is the run that never stopped. Needs Open MPI (`mpirun`) and the `mpi`
//! feature: `cargo test --release --features mpi --test mpi`.
#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NNDL: &str = env!("CARGO_BIN_EXE_nndl");

/// `mpirun -np 2` on this machine only: oversubscribed (2 ranks may exceed the cores), TCP on
/// the loopback interface, allowed as root (CI runs as root).
fn mpirun(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args([
        "-np",
        "2",
        "--oversubscribe",
        "--mca",
        "btl",
        "self,tcp",
        "--mca",
        "btl_tcp_if_include",
        "lo",
    ]);
    cmd.args(["--mca", "oob_tcp_if_include", "lo"]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--allow-run-as-root");
    }
    for (k, v) in env {
        cmd.args(["-x", &format!("{k}={v}")]);
    }
    cmd.arg(NNDL).stdin(Stdio::null());
    cmd
}

fn train_args(dir: &Path, name: &str, extra: &[&str]) -> Vec<String> {
    let data = common::data_dir().display().to_string();
    let mut v: Vec<String> = ["train", "--data", &data, "--seed", "1", "--quiet", "--threads", "1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(["--save".to_string(), dir.join(name).display().to_string()]);
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn ok(out: Output, what: &str) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what} failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

fn accuracy(report: &str) -> &str {
    report.lines().find(|l| l.starts_with("test accuracy")).expect("a test accuracy line")
}

fn weights(path: &Path) -> Vec<f32> {
    let (net, _) = nndl::model_io::load(path).unwrap();
    net.params().flat_map(|p| p.iter().copied()).collect()
}

/// One process and two ranks train `extra` for an epoch; returns the largest weight difference.
fn compare(name: &str, extra: &[&str]) -> f32 {
    let dir = tempfile::tempdir().unwrap();
    let one =
        ok(Command::new(NNDL).args(train_args(dir.path(), "one", extra)).output().unwrap(), "one process");
    let two = ok(mpirun(&[]).args(train_args(dir.path(), "two", extra)).output().unwrap(), "mpirun -np 2");
    assert_eq!(accuracy(&one), accuracy(&two), "{name}");
    assert_eq!(two.matches("epoch 1/1").count(), 1, "rank 1 printed:\n{two}");
    let (a, b) = (weights(&dir.path().join("one")), weights(&dir.path().join("two")));
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    println!("{name}: {} — max |Δw| {diff:.2e}", accuracy(&two));
    assert!(diff <= 1e-5, "{name}: max |Δw| {diff}");
    diff
}

#[test]
fn two_ranks_train_the_books_mlp_as_one_process() {
    compare("[784,30,10]", &["--epochs", "1", "--train-size", "5000", "--validation-size", "1000"]);
}

#[test]
fn two_ranks_train_a_conv_net_as_one_process() {
    let arch = "conv 8 5x5 relu; maxpool 2; dense 30 relu; softmax 10";
    let extra = [
        "--arch",
        arch,
        "--eta",
        "0.05",
        "--epochs",
        "1",
        "--train-size",
        "2000",
        "--validation-size",
        "500",
    ];
    compare("conv", &extra);
}

/// The pid of the process with this rank in an mpirun job whose command line holds `marker`.
fn rank_pid(marker: &str, rank: usize, deadline: Instant) -> u32 {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    while Instant::now() < deadline {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            let has = |hay: &[u8], needle: &str| hay.split(|&b| b == 0).any(|s| s == needle.as_bytes());
            if String::from_utf8_lossy(&cmdline).contains(marker)
                && cmdline.starts_with(NNDL.as_bytes())
                && has(&environ, &want)
            {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no rank {rank} process appeared");
}

/// Waits for `child` to end, at most `limit`; its exit status, or None (then it is killed).
fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Starts a long two-rank run (50 epochs of MNIST), waits until training has begun (rank 0
/// prints its `data:` line just before the first epoch) and a moment more, does `signal` to
/// rank 1, and returns how the run ended, how long that took after the signal, and what it said
/// on standard error.
fn disturb(signal: i32, env: &[(&str, &str)]) -> (Option<std::process::ExitStatus>, Duration, String) {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("m").display().to_string();
    let args = train_args(dir.path(), "m", &["--epochs", "50"]);
    let mut child = mpirun(env).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.starts_with("data:") => break,
            Ok(_) => {}
            Err(e) => panic!("training did not start within 60 s ({e})"),
        }
    }
    let pid = rank_pid(&marker, 1, Instant::now() + Duration::from_secs(10));
    // Somewhere in the 50 epochs: an epoch may take well under a second on a fast machine, so
    // the test only requires that the run is still going, not which epoch it is in.
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the run ended before the signal");
    // SAFETY: sends a signal to a process this test started.
    unsafe { libc::kill(pid as i32, signal) };
    let start = Instant::now();
    let status = wait(&mut child, Duration::from_secs(90));
    let took = start.elapsed();
    // SAFETY: as above; the process may be gone already.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let out =
        child.wait_with_output().map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default();
    (status, took, out)
}

#[test]
fn a_killed_rank_ends_the_run_non_zero_within_60_s() {
    let (status, took, err) = disturb(libc::SIGKILL, &[]);
    println!("kill -9 rank 1: {status:?} after {took:?}\n{err}");
    let status = status.expect("mpirun still running 90 s after a rank was killed");
    assert!(!status.success(), "{err}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn a_stopped_rank_ends_the_run_non_zero_after_the_timeout() {
    let (status, took, err) = disturb(libc::SIGSTOP, &[("NNDL_MPI_TIMEOUT", "3")]);
    println!("SIGSTOP rank 1, NNDL_MPI_TIMEOUT=3: {status:?} after {took:?}\n{err}");
    let status = status.expect("mpirun still running 90 s after a rank was stopped");
    assert!(!status.success(), "{err}");
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert!(err.contains("have not answered for"), "{err}");
}

/// Two ranks that stop after epoch 1 and resume give the run that never stopped, bit for bit.
#[test]
fn a_resumed_mpi_run_is_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let cp: PathBuf = dir.path().join("cp");
    let cps = cp.display().to_string();
    let base = ["--epochs", "2", "--train-size", "3000", "--validation-size", "500", "--optimizer", "adam"];
    let mut full = base.to_vec();
    full.extend(["--checkpoint", &cps]);
    ok(mpirun(&[]).args(train_args(dir.path(), "full", &full)).output().unwrap(), "uninterrupted");
    assert!(cp.exists(), "no checkpoint after epoch 1");
    let mut resumed = base.to_vec();
    resumed.extend(["--resume", &cps]);
    let out = ok(mpirun(&[]).args(train_args(dir.path(), "resumed", &resumed)).output().unwrap(), "resumed");
    assert!(
        out.contains("resuming after epoch 1") && out.contains("epoch 2/2") && !out.contains("epoch 1/2"),
        "{out}"
    );
    assert_eq!(weights(&dir.path().join("full")), weights(&dir.path().join("resumed")));
}
