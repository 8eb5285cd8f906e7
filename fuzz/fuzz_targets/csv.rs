//! Fuzz target `csv`: CSV tables (nndl::data::table::load_csv, Standardize, read_rows).
//! Run with `fuzz/run csv`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    afl::fuzz!(|data: &[u8]| nndl::fuzzing::csv(data));
}
