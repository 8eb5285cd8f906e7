//! Entry points for coverage-guided fuzzing (`fuzz/`): each takes raw bytes, feeds them to one
//! of the parsers that read outside input, and must return without panicking, aborting or
//! allocating without bound, whatever the bytes. The regression tests replay saved inputs
//! through the same functions. Not part of the supported API.
