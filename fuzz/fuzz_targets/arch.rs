//! Fuzz target `arch`: --arch descriptions (nndl::layers::parse_arch, Network::check/new, one forward pass).
//! Run with `fuzz/run arch`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    afl::fuzz!(|data: &[u8]| nndl::fuzzing::arch(data));
}
