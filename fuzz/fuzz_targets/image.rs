//! Fuzz target `image`: PNG or JPEG files in an image folder (nndl::data::folder::load) and
//! fitted to a model's input (nndl::image_io::load_image, load_digit_sized).
//! Run with `fuzz/run image`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    afl::fuzz!(|data: &[u8]| nndl::fuzzing::image(data));
}
