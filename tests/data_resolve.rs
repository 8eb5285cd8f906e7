//! Where the data lives. One test only: it changes the process environment.

use std::path::{Path, PathBuf};

use nndl::data::resolve_dir;

#[test]
fn flag_then_env_then_cache_dir() {
    // SAFETY: this test binary has a single test, so no other thread reads the environment.
    unsafe { std::env::set_var("NNDL_DATA", "/from/env") };
    assert_eq!(resolve_dir(Some(Path::new("/from/flag"))), PathBuf::from("/from/flag"));
    assert_eq!(resolve_dir(None), PathBuf::from("/from/env"));
    // SAFETY: as above.
    unsafe { std::env::set_var("NNDL_DATA", "") };
    let fallback =
        dirs::cache_dir().map_or_else(|| PathBuf::from("nndl-mnist"), |d| d.join("nndl").join("mnist"));
    assert_eq!(resolve_dir(None), fallback);
    // SAFETY: as above.
    unsafe { std::env::remove_var("NNDL_DATA") };
    assert_eq!(resolve_dir(None), fallback);
}
