//! `NNDL_MAX_DATA_BYTES`: the limit on what one data file may expand to. One test only: it
//! changes the process environment.

use std::io::Write;

use nndl::data::{DEFAULT_MAX_DATA_BYTES, DataError, load_mnist, max_data_bytes, read_idx_images};

fn set(value: Option<&str>) {
    // SAFETY: this test binary has a single test, so no other thread reads the environment.
    unsafe {
        match value {
            Some(v) => std::env::set_var("NNDL_MAX_DATA_BYTES", v),
            None => std::env::remove_var("NNDL_MAX_DATA_BYTES"),
        }
    }
}

#[test]
fn the_limit_comes_from_the_environment_and_a_bad_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("images.gz");
    let mut raw = Vec::new();
    for n in [0x803u32, 2, 10, 10] {
        raw.extend_from_slice(&n.to_be_bytes());
    }
    raw.extend_from_slice(&[7; 200]);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&raw).unwrap();
    std::fs::write(&path, e.finish().unwrap()).unwrap();

    set(None);
    assert_eq!(max_data_bytes().unwrap(), DEFAULT_MAX_DATA_BYTES);
    assert_eq!(read_idx_images(&path).unwrap().len(), 2);
    set(Some(""));
    assert_eq!(max_data_bytes().unwrap(), DEFAULT_MAX_DATA_BYTES);

    set(Some("215"));
    let err = read_idx_images(&path).unwrap_err();
    assert!(matches!(err, DataError::TooBig { claimed: 216, limit: 215, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()) && msg.contains("NNDL_MAX_DATA_BYTES=216"), "{msg}");
    set(Some("216"));
    assert_eq!(read_idx_images(&path).unwrap().len(), 2);

    for bad in ["lots", "0", "-5", "2GiB"] {
        set(Some(bad));
        for err in [max_data_bytes().unwrap_err(), load_mnist(dir.path(), 1, 0).unwrap_err()] {
            assert!(matches!(err, DataError::BadLimit { .. }), "{bad}: {err:?}");
            let msg = err.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            assert!(msg.starts_with(&format!("NNDL_MAX_DATA_BYTES={bad:?} is not")), "{msg}");
            assert!(msg.contains(&DEFAULT_MAX_DATA_BYTES.to_string()), "{msg}");
        }
    }
    set(None);
}
