//! Fuzz target `image`: PNG or JPEG files in an image folder (nndl::data::folder::load) and
//! fitted to a model's input (nndl::image_io::load_image, load_digit_sized).
//! Run with `fuzz/run image`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    nndl::image_io::quiet_contained_decoder_panics();
    // Without afl's abort-on-any-panic hook: a panic that nndl catches inside an image decoder
    // (nndl::image_io::contain_decoder_panic) is handled; any other panic still reaches afl's
    // catch_unwind and aborts, a crash.
    afl::fuzz_nohook!(|data: &[u8]| nndl::fuzzing::image(data));
}
