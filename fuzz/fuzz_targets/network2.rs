//! Fuzz target `network2`: network2.py's JSON (nndl::network2_json::from_json and to_json).
//! Run with `fuzz/run network2`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    afl::fuzz!(|data: &[u8]| nndl::fuzzing::network2(data));
}
