//! Fuzz target `onnx`: ONNX models (nndl::onnx::import, then export and import again).
//! Run with `fuzz/run onnx`; see fuzz/README.md.

fn main() {
    nndl_fuzz::set_memory_budget();
    afl::fuzz!(|data: &[u8]| nndl::fuzzing::onnx(data));
}
