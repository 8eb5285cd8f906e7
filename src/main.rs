//! The `nndl` command: train, evaluate and use the book's networks from a terminal.

mod cli;
#[cfg(feature = "serve")]
mod serve;

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;

/// The system allocator, but every block of 256 bytes or more starts on a 64-byte boundary (a
/// cache line, and one AVX-512 vector). The hot kernels stream weight and activation rows with
/// 64-byte loads: glibc's 16-byte alignment left each load straddling two cache lines, which
/// cost 13% of an epoch of the chapter-1 net.
struct CacheAligned;

fn widen(layout: Layout) -> Layout {
    if layout.size() >= 256 { layout.align_to(64).unwrap_or(layout) } else { layout }
}

// SAFETY: every call forwards to `System` with the same widened layout for a block's whole
// life (alloc, realloc and dealloc all widen the same way), so `System`'s contract holds.
unsafe impl GlobalAlloc for CacheAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(widen(layout)) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(widen(layout)) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, widen(layout)) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees new_size, rounded up to layout.align(), fits an isize.
        let new = widen(unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) });
        let old = widen(layout);
        #[cfg(target_os = "linux")]
        if old.align() == new.align() && new_size <= layout.size() && old.align() > 16 {
            // A shrink: `System` would copy an over-aligned block into a new one (a second
            // copy of a 40 MB data set at its peak); glibc's realloc cuts it in place
            // (mremap for big blocks, giving the tail's pages back). Should it ever move the
            // block off the 64-byte line, it is moved once more below.
            // SAFETY: `ptr` came from posix_memalign (via `System`), which realloc accepts.
            let cut = unsafe { libc::realloc(ptr.cast(), new_size) }.cast::<u8>();
            if cut.is_null() || (cut as usize).is_multiple_of(old.align()) {
                return cut;
            }
            let moved = unsafe { System.alloc(new) };
            if moved.is_null() {
                std::alloc::handle_alloc_error(new);
            }
            unsafe {
                std::ptr::copy_nonoverlapping(cut, moved, new_size);
                libc::free(cut.cast());
            }
            return moved;
        }
        if old.align() == new.align() {
            return unsafe { System.realloc(ptr, old, new_size) };
        }
        // Crossing the 256-byte line changes the alignment: move the block by hand.
        let moved = unsafe { System.alloc(new) };
        if !moved.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                System.dealloc(ptr, old);
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: CacheAligned = CacheAligned;

fn main() -> ExitCode {
    // `nndl train | head` should end quietly when `head` stops reading, as other Unix tools
    // do, rather than panic on the failed print: restore the default action for SIGPIPE,
    // which Rust's runtime sets to "ignore".
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; it only changes how the
    // process reacts to a signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Ctrl-C (and SIGTERM) asks long work to stop cleanly, removing its temporary files; a
    // second one ends the process at once. See `nndl::interrupt`.
    nndl::interrupt::install();
    // A panic inside an image decoder is caught and reported as an error naming the file
    // (see `nndl::image_io::contain_decoder_panic`): keep its message off the terminal.
    nndl::image_io::quiet_contained_decoder_panics();
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the context chain joined by ": ", naming the file or flag at fault.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// Large blocks start on a cache line, and growing a block across the 256-byte line (where
    /// its alignment changes) keeps its contents.
    #[test]
    fn large_blocks_are_cache_aligned_and_keep_their_contents_when_grown() {
        let mut v: Vec<u32> = Vec::with_capacity(8);
        for i in 0..100_000u32 {
            v.push(i.wrapping_mul(2_654_435_761));
            if v.capacity() * 4 >= 256 {
                assert_eq!(v.as_ptr() as usize % 64, 0, "capacity {}", v.capacity());
            }
        }
        assert!(v.iter().enumerate().all(|(i, &x)| x == (i as u32).wrapping_mul(2_654_435_761)));
        v.truncate(10);
        v.shrink_to_fit();
        assert_eq!(v[9], 9u32.wrapping_mul(2_654_435_761));
    }

    /// Shrinking a big block (as splitting MNIST does) keeps it on a cache line and keeps the
    /// kept part's contents.
    #[test]
    fn a_shrunk_large_block_stays_aligned_and_keeps_its_contents() {
        for (from, to) in [(10_000_000usize, 8_000_000usize), (100_000, 70_000), (1000, 300)] {
            let mut v: Vec<u8> = (0..from).map(|i| (i % 251) as u8).collect();
            v.truncate(to);
            v.shrink_to_fit();
            assert_eq!(v.capacity(), to);
            assert_eq!(v.as_ptr() as usize % 64, 0, "{from} -> {to}");
            assert!(v.iter().enumerate().all(|(i, &x)| x == (i % 251) as u8), "{from} -> {to}");
        }
    }
}
