//! The process's global allocator (installed by the `keelbase` binary).
//!
//! Small and medium blocks come from mimalloc: request handling allocates and frees many
//! short-lived blocks across threads (a row is decoded on a SQLite reader thread and freed on
//! a runtime worker), where mimalloc's thread-local free lists cost about a third less CPU
//! per request than glibc's arenas and locks.
//!
//! Blocks of [`LARGE_BLOCK`] or more (an argon2 hash's 46 MiB working memory) come from the
//! system allocator instead, which maps each one on its own and unmaps it when it is freed.
//! mimalloc would keep such a block's pages for reuse, so a burst of password hashes would
//! leave the process holding a hundred MiB it no longer uses.

use std::alloc::{GlobalAlloc, Layout, System};

use mimalloc::MiMalloc;

/// The size from which blocks go to the system allocator: glibc's largest mmap threshold, so
/// every such block is a mapping of its own, returned to the OS on free.
pub const LARGE_BLOCK: usize = 32 << 20;

/// mimalloc below [`LARGE_BLOCK`], the system allocator from there on.
pub struct Allocator;

fn is_large(size: usize) -> bool {
    size >= LARGE_BLOCK
}

// SAFETY (for every method): a block is freed or resized by the same allocator that made it,
// because `GlobalAlloc` callers pass the layout the block was allocated (or last reallocated)
// with, and the allocator is chosen by that layout's size alone.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            unsafe { System.alloc(layout) }
        } else {
            unsafe { MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            unsafe { System.alloc_zeroed(layout) }
        } else {
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size()) {
            unsafe { System.dealloc(ptr, layout) }
        } else {
            unsafe { MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (is_large(layout.size()), is_large(new_size)) {
            (false, false) => unsafe { MiMalloc.realloc(ptr, layout, new_size) },
            (true, true) => unsafe { System.realloc(ptr, layout, new_size) },
            // Crossing the threshold moves the block to the other allocator.
            _ => {
                let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                    return std::ptr::null_mut();
                };
                let new_ptr = unsafe { self.alloc(new_layout) };
                if !new_ptr.is_null() {
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new_ptr
            }
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    #[global_allocator]
    static GLOBAL: Allocator = Allocator;

    #[test]
    fn blocks_keep_their_contents_across_the_threshold() {
        let mut block: Vec<u8> = (0..1000u32).map(|n| (n % 251) as u8).collect();
        let expected = block.clone();
        block.resize(LARGE_BLOCK + 4096, 7);
        assert_eq!(&block[..1000], &expected[..]);
        assert_eq!(block[LARGE_BLOCK], 7);
        block.truncate(1000);
        block.shrink_to_fit();
        assert_eq!(block, expected);
    }

    #[test]
    fn large_zeroed_blocks_are_zero() {
        let block = vec![0u64; LARGE_BLOCK / 8 + 1];
        assert!(block.iter().all(|&word| word == 0));
        let aligned = Layout::from_size_align(LARGE_BLOCK, 4096).unwrap();
        let ptr = unsafe { GLOBAL.alloc_zeroed(aligned) };
        assert!(!ptr.is_null());
        assert_eq!(ptr as usize % 4096, 0);
        unsafe { GLOBAL.dealloc(ptr, aligned) };
    }
}
