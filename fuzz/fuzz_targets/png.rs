//! Fuzz target `png`: PNG images turned into MNIST inputs (nndl::image_io::load_digit).
//! Run with `fuzz/run png`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    afl::fuzz!(|data: &[u8]| nndl::fuzzing::png(data));
}
