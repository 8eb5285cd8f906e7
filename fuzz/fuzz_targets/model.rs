//! Fuzz target `model`: model files: safetensors + nndl metadata (nndl::model_io::load, then one forward pass).
//! Run with `fuzz/run model`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    afl::fuzz!(|data: &[u8]| nndl::fuzzing::model(data));
}
