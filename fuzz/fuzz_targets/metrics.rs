//! Fuzz target `metrics`: metrics files for `plot curves` (nndl::train::MetricsFile::parse, then the charts as SVG).
//! Run with `fuzz/run metrics`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    afl::fuzz!(|data: &[u8]| nndl::fuzzing::metrics(data));
}
