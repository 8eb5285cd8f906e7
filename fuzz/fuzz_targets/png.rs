//! Fuzz target `png`: PNG images turned into MNIST inputs (nndl::image_io::load_digit).
//! Run with `fuzz/run png`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    nndl::image_io::quiet_contained_decoder_panics();
    // Without afl's abort-on-any-panic hook: a panic that nndl catches inside an image decoder
    // (nndl::image_io::contain_decoder_panic) is handled; any other panic still reaches afl's
    // catch_unwind and aborts, a crash.
    afl::fuzz_nohook!(|data: &[u8]| nndl::fuzzing::png(data));
}
