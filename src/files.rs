//! Reading what a user hands nndl, and writing what they ask for, without hanging on a FIFO,
//! swallowing a device or destroying a file nndl did not mean to write.
//!
//! Inputs ([`read_input`]): only regular files (or symlinks to them) are read. The file is
//! opened without blocking (a FIFO would wait for a writer forever), checked on the open
//! handle to be a regular file, and refused if it is larger than the caller allows, before
//! anything is allocated for it.
//!
//! Outputs:
//! - [`check_output`], before any work: the path names a regular file, a symlink, or nothing
//!   yet, in a folder nndl can create files in; `-` is standard output where the caller allows
//!   it. A directory, device, FIFO or socket is refused, never replaced.
//! - [`check_distinct`]: two outputs of one command on the same file are refused.
//! - [`write_atomically`]: the bytes go to a new file beside the destination, created
//!   exclusively (`O_EXCL`: never through a planted symlink) under an unpredictable name,
//!   synced, then renamed into place. A symlink at the destination is replaced, never written
//!   through. On any failure the temporary file is removed; the destination is untouched.

use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a file could not be read or written. Each message is one line naming the path.
#[derive(Debug, Error)]
pub enum FileError {
    #[error("{}: {}", path.display(), one_line(error))]
    Io { path: PathBuf, error: io::Error },
    #[error("{}: is {what}, not a regular file; give the path of a file", path.display())]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("{}: is {what}, not a regular file; give a file name{}", path.display(), if *stdout { " (or - for standard output)" } else { "" })]
    NotRegularOutput { path: PathBuf, what: &'static str, stdout: bool },
    #[error("{}: is {size} bytes, more than the {limit} bytes expected of {kind}; give the right file", path.display())]
    TooLarge { path: PathBuf, size: u64, limit: u64, kind: &'static str },
    #[error("{}: cannot write in {}: {}; create the folder or choose another path", path.display(), dir.display(), one_line(error))]
    Folder { path: PathBuf, dir: PathBuf, error: io::Error },
    #[error("{}: standard output (-) is not possible here; give a file name", flag)]
    NoStdout { flag: String },
    #[error("{first} and {second} name the same file {}; give each its own path", path.display())]
    SameFile { first: String, second: String, path: PathBuf },
}

/// `error`'s text on one line (some OS and library messages have line breaks).
/// (The `tempfile` crate appends ` at path "…"` naming its temporary file, which the message
/// does not need: the destination is named already.)
fn one_line(error: &io::Error) -> String {
    let text = error.to_string().replace(['\r', '\n'], " ");
    text.split(" at path \"").next().unwrap_or_default().to_string()
}

/// What kind of non-regular file `meta` describes, for messages.
fn kind(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading if it is a regular file (following symlinks), without blocking
/// on a FIFO; returns the file and its size.
pub fn open_input(path: &Path) -> Result<(File, u64), FileError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io_err = |source| FileError::Io { path: path.to_path_buf(), error: source };
    let file = File::options().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular { path: path.to_path_buf(), what: kind(&meta) });
    }
    Ok((file, meta.len()))
}

/// Reads the whole regular file `path`, refusing one larger than `limit` bytes (`kind` names
/// what the file should be, e.g. "a model file") before allocating anything for it.
pub fn read_input(path: &Path, limit: u64, kind: &'static str) -> Result<Vec<u8>, FileError> {
    let (file, size) = open_input(path)?;
    if size > limit {
        return Err(FileError::TooLarge { path: path.to_path_buf(), size, limit, kind });
    }
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(size as usize).map_err(|_| FileError::Io {
        path: path.to_path_buf(),
        error: io::Error::new(io::ErrorKind::OutOfMemory, format!("no memory for its {size} bytes")),
    })?;
    // The size may change while reading; never read past the limit.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| FileError::Io { path: path.to_path_buf(), error: source })?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { path: path.to_path_buf(), size: bytes.len() as u64, limit, kind });
    }
    Ok(bytes)
}

/// [`read_input`] as UTF-8 text.
pub fn read_input_text(path: &Path, limit: u64, kind: &'static str) -> Result<String, FileError> {
    let bytes = read_input(path, limit, kind)?;
    String::from_utf8(bytes).map_err(|e| FileError::Io {
        path: path.to_path_buf(),
        error: io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        ),
    })
}

/// Whether `path` means standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The folder a file at `path` goes in (`.` for a bare name).
fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Fails now, not after an hour of training, if `path` cannot be written as an output: see
/// the module doc. `stdout_ok`: whether `-` (standard output) is accepted; `flag` names the
/// option for that message.
pub fn check_output(path: &Path, flag: &str, stdout_ok: bool) -> Result<(), FileError> {
    if is_stdout(path) {
        return if stdout_ok { Ok(()) } else { Err(FileError::NoStdout { flag: flag.to_string() }) };
    }
    replaceable(path, stdout_ok)?;
    // Can files be created there? Try with a new, unpredictably named file, removed at once.
    let dir = folder(path);
    new_temp(dir, ".nndl-check-").map(drop).map_err(|source| FileError::Folder {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        error: source,
    })
}

/// That `path` names a regular file, a symlink to one (or to nothing), or nothing yet.
fn replaceable(path: &Path, stdout_ok: bool) -> Result<(), FileError> {
    let not_regular =
        |what| FileError::NotRegularOutput { path: path.to_path_buf(), what, stdout: stdout_ok };
    if path.as_os_str().is_empty() || path.file_name().is_none() {
        return Err(not_regular("a directory"));
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(meta) if meta.file_type().is_symlink() => {
            // The link itself will be replaced; but a link to a directory or device most likely
            // means the user wants that thing written, which is refused.
            if let Ok(target) = std::fs::metadata(path)
                && !target.is_file()
            {
                return Err(not_regular(kind(&target)));
            }
        }
        Ok(meta) => return Err(not_regular(kind(&meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(FileError::Io { path: path.to_path_buf(), error: source }),
    }
    Ok(())
}

/// A new empty file in `dir`, created exclusively under `prefix` and a random name, with the
/// permissions a plain create would give (0666 less the umask); removed when dropped.
fn new_temp(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
}

/// Refuses two outputs on one file: `outputs` are (flag, path) pairs; `-` never collides
/// with itself only when given once. Paths are compared after resolving their folders, so
/// `x`, `./x` and `d/../x` are the same.
pub fn check_distinct(outputs: &[(&str, &Path)]) -> Result<(), FileError> {
    let resolved: Vec<Option<PathBuf>> = outputs.iter().map(|(_, p)| resolve(p)).collect();
    for i in 0..outputs.len() {
        for j in i + 1..outputs.len() {
            let same = match (&resolved[i], &resolved[j]) {
                (Some(a), Some(b)) => a == b,
                _ => outputs[i].1 == outputs[j].1,
            };
            if same {
                return Err(FileError::SameFile {
                    first: outputs[i].0.to_string(),
                    second: outputs[j].0.to_string(),
                    path: outputs[j].1.to_path_buf(),
                });
            }
        }
    }
    Ok(())
}

/// `path` with its folder made canonical (the file itself need not exist); `-` stays `-`.
fn resolve(path: &Path) -> Option<PathBuf> {
    if is_stdout(path) {
        return Some(path.to_path_buf());
    }
    let name = path.file_name()?;
    Some(std::fs::canonicalize(folder(path)).ok()?.join(name))
}

/// Writes `bytes` to `path` as the module doc says: complete or not at all. `-` writes to
/// standard output.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let io_err = |source| FileError::Io { path: path.to_path_buf(), error: source };
    if is_stdout(path) {
        let mut out = io::stdout().lock();
        return out.write_all(bytes).and_then(|()| out.flush()).map_err(io_err);
    }
    replaceable(path, false)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = folder(path);
    let mut tmp = new_temp(dir, &format!(".{name}.")).map_err(|error| FileError::Folder {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        error,
    })?;
    tmp.write_all(bytes).and_then(|()| tmp.as_file().sync_all()).map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    // Make the rename durable (not possible on every file system; the rename is done anyway).
    let _ = File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_write_replaces_a_symlink_and_leaves_its_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let out = dir.path().join("out");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        write_atomically(&out, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        assert!(!std::fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
        assert_eq!(names(dir.path()), ["out", "victim"]);
    }

    #[test]
    fn temporary_names_are_unpredictable_and_created_exclusively() {
        let dir = tempfile::tempdir().unwrap();
        let a = new_temp(dir.path(), ".x.").unwrap();
        let b = new_temp(dir.path(), ".x.").unwrap();
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains(&std::process::id().to_string()), "{name}");
        // O_EXCL: a planted symlink at a temporary name is never opened through.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let planted = dir.path().join("planted");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let err = File::options().write(true).create_new(true).open(&planted).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        drop((a, b));
        assert_eq!(names(dir.path()), ["planted", "victim"]);
    }

    #[test]
    fn non_regular_outputs_are_refused_and_left_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        for (path, what) in
            [(fifo.as_path(), "FIFO"), (dir.path(), "directory"), (Path::new("/dev/null"), "device")]
        {
            let err = check_output(path, "--x", true).unwrap_err().to_string();
            assert!(err.contains(what) && err.contains("or - for standard output"), "{err}");
            assert!(write_atomically(path, b"x").is_err());
        }
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(check_output(Path::new("-"), "--x", false).unwrap_err().to_string().contains("--x"));
        assert!(check_output(&dir.path().join("no/such/folder/f"), "--x", false).is_err());
        assert_eq!(names(dir.path()), ["fifo"]);
    }

    #[test]
    fn two_outputs_on_one_file_are_refused_however_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("m.bin");
        let b = dir.path().join("sub/../m.bin");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let err = check_distinct(&[("--save", &a), ("--plot", Path::new("x.png")), ("--metrics-json", &b)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--save") && err.contains("--metrics-json"), "{err}");
        assert!(check_distinct(&[("--save", &a), ("--metrics-json", &dir.path().join("m.json"))]).is_ok());
    }

    #[test]
    fn inputs_must_be_regular_and_within_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        assert!(read_input(&fifo, 100, "a test file").unwrap_err().to_string().contains("FIFO"));
        assert!(
            read_input(Path::new("/dev/zero"), 100, "a test file")
                .unwrap_err()
                .to_string()
                .contains("device")
        );
        let big = dir.path().join("big");
        File::create(&big).unwrap().set_len(90 << 30).unwrap(); // sparse: no disk used
        let err = read_input(&big, 1 << 20, "a test file").unwrap_err().to_string();
        assert!(err.contains("more than the 1048576 bytes expected of a test file"), "{err}");
        std::fs::write(&big, b"ok").unwrap();
        assert_eq!(read_input(&big, 2, "a test file").unwrap(), b"ok");
    }
}
