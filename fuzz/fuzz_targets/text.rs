//! Fuzz target `text`: texts for train-text (nndl::text::Corpus::new, the language model, one short epoch).
//! Run with `fuzz/run text`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    afl::fuzz!(|data: &[u8]| nndl::fuzzing::text(data));
}
