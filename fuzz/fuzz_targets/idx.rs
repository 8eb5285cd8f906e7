//! Fuzz target `idx`: IDX images and labels files, raw or gzip (nndl::data::read_idx_images / read_idx_labels).
//! Run with `fuzz/run idx`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    afl::fuzz!(|data: &[u8]| nndl::fuzzing::idx(data));
}
