//! Memory: what a network needs, worked out from its shapes before anything is allocated, and
//! how much one nndl process may use.
//!
//! A network described by a flag or a model file can ask for any size. Rather than let the
//! allocator abort the process (or the machine swap for minutes first), nndl estimates the
//! bytes a run will hold and refuses, in one line saying how much it would need, when that is
//! more than the [`budget`]: `NNDL_MAX_MEMORY` if set (`8G`, `512M`, `1.5G` or bytes), else
//! 90% of the memory the system reports available (Linux: `MemAvailable` in `/proc/meminfo`,
//! and the cgroup's `memory.max` if lower), else 8 GiB.
//!
//! The estimates count the big buffers (parameters, gradients, optimiser state, per-example
//! activations and im2col columns, per-thread copies); they are meant to be right within a
//! factor of about two, which is all a refusal needs.

use crate::layers::LayerSpec;

/// The budget when the system does not say how much memory is available.
const FALLBACK: u64 = 8 << 30;

/// How many bytes one nndl process may plan to use (see the module doc).
pub fn budget() -> u64 {
    budget_checked().unwrap_or_else(|_| system_budget())
}

/// [`budget`], but a `NNDL_MAX_MEMORY` that is not a size is an error (for the CLI to report).
pub fn budget_checked() -> Result<u64, String> {
    match std::env::var("NNDL_MAX_MEMORY") {
        Ok(text) if !text.trim().is_empty() => parse_size(&text).ok_or_else(|| {
            format!(
                "NNDL_MAX_MEMORY: '{text}' is not a size; give bytes or a number with K, M, G or T (e.g. 8G)"
            )
        }),
        _ => Ok(system_budget()),
    }
}

fn system_budget() -> u64 {
    let available = [meminfo_available(), cgroup_room()].into_iter().flatten().min();
    available.map_or(FALLBACK, |b| b / 10 * 9)
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn meminfo_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// What the process's cgroup (v2) still allows: `memory.max − memory.current`.
fn cgroup_room() -> Option<u64> {
    let read = |name: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{name}")).ok();
    let max: u64 = read("memory.max")?.trim().parse().ok()?; // "max" (no limit) fails to parse
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

/// `4G`, `512M`, `1.5g`, `300000` (bytes) → bytes. Binary units (K = 1024).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], t[i..].trim().to_ascii_uppercase()),
        None => (t, String::new()),
    };
    let shift = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    let value: f64 = number.trim().parse().ok()?;
    let bytes = value * (1u64 << shift) as f64;
    (value.is_finite() && value > 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// `1.5 GiB`, `300 MiB`, `12 KiB`, `100 bytes`.
pub fn human(bytes: u128) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 { format!("{value:.1} {}", UNITS[unit]) } else { format!("{value:.0} {}", UNITS[unit]) }
}

/// Numbers the layers hold in parameters.
fn params(specs: &[LayerSpec]) -> u128 {
    specs.iter().map(|s| s.param_count() as u128).sum()
}

/// Numbers the network keeps per example in a pass: each layer's activations (and weighted
/// inputs, im2col columns or gates), and the error handed back to it.
fn per_example(specs: &[LayerSpec]) -> u128 {
    specs.iter().map(|s| s.floats_per_example() as u128 + s.out_size() as u128).sum()
}

/// Parameters of the layers that keep a gradient copy per thread (conv and recurrent layers
/// share a batch's examples among threads).
fn per_thread_params(specs: &[LayerSpec]) -> u128 {
    specs
        .iter()
        .filter(|s| matches!(s, LayerSpec::Conv { .. } | LayerSpec::Recurrent { .. }))
        .map(|s| s.param_count() as u128)
        .sum()
}

/// Bytes to train `specs` on mini-batches of `batch` with `threads` threads, the optimiser
/// keeping `states` numbers per parameter (0 for plain SGD, 1 for momentum or RMSProp, 2 for
/// Adam), plus evaluation (a copy of the network per thread, examples in chunks of
/// `eval_chunk`). Call on specs that passed [`crate::network::Network::check`].
pub fn training_bytes(
    specs: &[LayerSpec],
    batch: usize,
    threads: usize,
    states: usize,
    eval_chunk: usize,
) -> u128 {
    let (p, threads) = (params(specs), threads.max(1) as u128);
    let train =
        p * (2 + states as u128) + per_thread_params(specs) * threads + per_example(specs) * batch as u128;
    4 * (train + inference_floats(specs, eval_chunk, threads as usize) - p * 2)
}

/// Bytes to run `specs` forward on chunks of `chunk` examples on each of `threads` threads
/// (each thread holds a copy of the network, with its gradient buffers).
pub fn inference_bytes(specs: &[LayerSpec], chunk: usize, threads: usize) -> u128 {
    4 * inference_floats(specs, chunk, threads)
}

fn inference_floats(specs: &[LayerSpec], chunk: usize, threads: usize) -> u128 {
    let threads = threads.max(1) as u128;
    threads * (params(specs) * 2 + per_example(specs) * chunk.max(1) as u128)
}

/// Refuses `need` bytes when they are more than the [`budget`]: the message says how much
/// `what` needs and how much may be used, for the caller to prefix with the flag or file.
pub fn check(need: u128, what: &str) -> Result<(), String> {
    let budget = budget_checked()?;
    if need > u128::from(budget) {
        return Err(format!(
            "{what} needs about {} of memory, more than the {} nndl may use here; make it smaller (or raise NNDL_MAX_MEMORY if the machine has the memory)",
            human(need),
            human(u128::from(budget))
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_and_print() {
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size(" 1000 "), Some(1000));
        for bad in ["", "G", "-1G", "4X", "nanG", "1e30T", "0"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(human(100), "100 bytes");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
        assert_eq!(human(200 << 30), "200 GiB");
        assert_eq!(human(u128::MAX), format!("{:.0} PiB", u128::MAX as f64 / (1u64 << 50) as f64));
    }

    #[test]
    fn the_books_net_is_small_and_a_billion_units_are_not() {
        use crate::activation::Activation::Sigmoid;
        let book = crate::network::dense_specs(&[784, 30, 10], Sigmoid, Sigmoid).unwrap();
        let need = training_bytes(&book, 10, 2, 0, 1000);
        assert!(need > 4 * 23_860 && need < 64 << 20, "{need}");
        let huge = crate::network::dense_specs(&[784, 1_000_000_000, 10], Sigmoid, Sigmoid).unwrap();
        assert!(training_bytes(&huge, 10, 2, 0, 1000) > 1 << 40);
        assert!(check(training_bytes(&huge, 10, 2, 0, 1000), "it").unwrap_err().contains("TiB"));
    }
}
