//! The plugin's memory allocator (wasm only, feature `arena-alloc`, on by default).
//!
//! A plugin lives for one call: the host creates a fresh instance for every event or query
//! and throws its memory away afterwards. Its allocations are small and short-lived (the
//! event, the member, the configuration, a few strings and vectors), and wasi-libc's
//! `malloc` (dlmalloc, reached through three layers of wrappers) was about an eighth of a
//! sandboxed call. This allocator serves small blocks from a fixed arena in the module's
//! zero-initialised data, with one free list per power-of-two size class: allocating and
//! freeing are a few instructions, freed blocks are reused (so a call's memory, and the
//! pages the host resets after it, do not grow with churn), and it never asks the host
//! for memory. Anything larger than [`MAX_CLASS`], more aligned than [`ALIGN`], or past
//! the end of the arena goes to the system allocator as before, so the arena only adds a
//! fixed [`ARENA_BYTES`] to the plugin's initial memory.
//!
//! A plugin that wants its own `#[global_allocator]` turns the feature off
//! (`rulebox-sdk = { version = "…", default-features = false }`).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use std::alloc::System;

/// Size of the arena: the most memory the small blocks of one call take before they spill
/// over to the system allocator.
pub const ARENA_BYTES: usize = 64 << 10;
/// The largest block served from the arena.
pub const MAX_CLASS: usize = 2048;
/// The largest alignment served from the arena (every block is aligned to it, or to 8
/// for 8-byte blocks).
pub const ALIGN: usize = 16;
/// Size classes: 8, 16, 32, …, [`MAX_CLASS`].
const CLASSES: usize = (MAX_CLASS.trailing_zeros() - 8usize.trailing_zeros() + 1) as usize;

#[repr(C, align(16))]
struct Arena([u8; ARENA_BYTES]);

struct State {
    /// Offset of the first never-used byte of the arena.
    top: usize,
    /// Head of each size class's free list (a freed block holds the next pointer).
    free: [*mut u8; CLASSES],
}

/// The arena allocator. Single-threaded by construction: it is only compiled for wasm
/// without the `atomics` feature, where there is one thread.
pub struct ArenaAlloc {
    arena: UnsafeCell<Arena>,
    state: UnsafeCell<State>,
}

// SAFETY: only for single-threaded wasm (the registration in `lib.rs` has the same `cfg`);
// nothing can access the allocator concurrently. Native builds compile the module for its
// tests only, where an allocator is never shared.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for ArenaAlloc {}

impl ArenaAlloc {
    pub const fn new() -> Self {
        ArenaAlloc {
            arena: UnsafeCell::new(Arena([0; ARENA_BYTES])),
            state: UnsafeCell::new(State {
                top: 0,
                free: [ptr::null_mut(); CLASSES],
            }),
        }
    }

    /// The size class of `layout` (index, block size), or `None` if the arena does not
    /// serve it.
    #[inline]
    fn class(layout: Layout) -> Option<(usize, usize)> {
        if layout.size() > MAX_CLASS || layout.align() > ALIGN {
            return None;
        }
        let size = layout.size().max(layout.align()).max(8).next_power_of_two();
        Some((
            (size.trailing_zeros() - 8usize.trailing_zeros()) as usize,
            size,
        ))
    }

    #[inline]
    fn base(&self) -> *mut u8 {
        self.arena.get().cast()
    }

    #[inline]
    fn owns(&self, ptr: *mut u8) -> bool {
        let base = self.base().addr();
        (base..base + ARENA_BYTES).contains(&ptr.addr())
    }

    /// A block of class `index` (`size` bytes) from the arena, or null if it is full.
    #[inline]
    unsafe fn take(&self, index: usize, size: usize) -> *mut u8 {
        // SAFETY: single-threaded, and no reference to the state outlives this call.
        let state = unsafe { &mut *self.state.get() };
        let head = state.free[index];
        if !head.is_null() {
            // SAFETY: a freed block of this class holds the next free block's address.
            state.free[index] = unsafe { head.cast::<*mut u8>().read() };
            return head;
        }
        let align = size.min(ALIGN);
        let start = (state.top + align - 1) & !(align - 1);
        if start + size > ARENA_BYTES {
            return ptr::null_mut();
        }
        state.top = start + size;
        // SAFETY: `start + size` is within the arena.
        unsafe { self.base().add(start) }
    }

    /// Returns a block of class `index` to its free list.
    #[inline]
    unsafe fn give(&self, ptr: *mut u8, index: usize) {
        // SAFETY: single-threaded; `ptr` is an arena block of at least 8 bytes, aligned to 8.
        unsafe {
            let state = &mut *self.state.get();
            ptr.cast::<*mut u8>().write(state.free[index]);
            state.free[index] = ptr;
        }
    }
}

impl Default for ArenaAlloc {
    fn default() -> Self {
        Self::new()
    }
}

unsafe impl GlobalAlloc for ArenaAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some((index, size)) = Self::class(layout) {
            // SAFETY: `index` and `size` are a class.
            let block = unsafe { self.take(index, size) };
            if !block.is_null() {
                return block;
            }
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if let Some((index, size)) = Self::class(layout) {
            // SAFETY: `index` and `size` are a class.
            let block = unsafe { self.take(index, size) };
            if !block.is_null() {
                // SAFETY: the block has at least `layout.size()` bytes.
                unsafe { block.write_bytes(0, layout.size()) };
                return block;
            }
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.owns(ptr) {
            let (index, _) = Self::class(layout).expect("an arena block has a class");
            // SAFETY: `ptr` was allocated from the arena with this layout's class.
            unsafe { self.give(ptr, index) };
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: `ptr` came from `System` with this layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (index, _) = Self::class(layout).expect("an arena block has a class");
        if Self::class(new_layout).is_some_and(|(new_index, _)| new_index == index) {
            return ptr;
        }
        // SAFETY: `new_layout` is valid (see above).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least the smaller size; they do not overlap.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.give(ptr, index);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live allocation: where, its layout, and the byte it was filled with.
    struct Block {
        ptr: *mut u8,
        layout: Layout,
        fill: u8,
    }

    fn check(block: &Block) {
        assert_eq!(block.ptr.addr() % block.layout.align(), 0, "misaligned");
        // SAFETY: the block is live and `layout.size()` bytes long.
        let bytes = unsafe { core::slice::from_raw_parts(block.ptr, block.layout.size()) };
        assert!(
            bytes.iter().all(|&b| b == block.fill),
            "a block of {} bytes was overwritten",
            block.layout.size()
        );
    }

    /// Random allocations, frees and reallocations of every size around the arena's
    /// classes, until the arena spills over: every block stays aligned and keeps its
    /// contents (so no two live blocks overlap), and zeroed blocks are zero even when
    /// reused.
    #[test]
    fn blocks_never_overlap_keep_their_contents_and_are_reused() {
        let arena = Box::new(ArenaAlloc::new());
        let mut live: Vec<Block> = Vec::new();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        let (mut spilled, mut reused) = (false, false);
        for step in 0..50_000 {
            let fill = (step % 251) as u8 + 1;
            match next(4) {
                0 | 1 => {
                    let size = [1, 7, 8, 9, 24, 100, 512, 2048, 2049, 5000][next(10)];
                    let layout = Layout::from_size_align(size, [1, 4, 8, 16, 32][next(5)]).unwrap();
                    let zeroed = next(2) == 0;
                    // SAFETY: a non-zero size.
                    let ptr = unsafe {
                        if zeroed {
                            arena.alloc_zeroed(layout)
                        } else {
                            arena.alloc(layout)
                        }
                    };
                    assert!(!ptr.is_null());
                    spilled |= !arena.owns(ptr);
                    reused |= arena.owns(ptr) && live.iter().all(|b| b.ptr != ptr) && {
                        // SAFETY: the arena's state is not borrowed elsewhere.
                        unsafe { &*arena.state.get() }.top > ptr.addr() - arena.base().addr()
                    };
                    if zeroed {
                        // SAFETY: `size` bytes were just allocated.
                        let bytes = unsafe { core::slice::from_raw_parts(ptr, size) };
                        assert!(bytes.iter().all(|&b| b == 0), "a zeroed block is not zero");
                    }
                    // SAFETY: as above.
                    unsafe { ptr.write_bytes(fill, size) };
                    live.push(Block { ptr, layout, fill });
                }
                2 if !live.is_empty() => {
                    let block = live.swap_remove(next(live.len()));
                    check(&block);
                    // SAFETY: allocated with this layout and not freed.
                    unsafe { arena.dealloc(block.ptr, block.layout) };
                }
                _ if !live.is_empty() => {
                    let i = next(live.len());
                    check(&live[i]);
                    let new_size = [1, 16, 300, 2048, 4096][next(5)];
                    let block = &mut live[i];
                    let old_size = block.layout.size();
                    // SAFETY: allocated with this layout; the new size is non-zero.
                    let ptr = unsafe { arena.realloc(block.ptr, block.layout, new_size) };
                    assert!(!ptr.is_null());
                    block.layout = Layout::from_size_align(new_size, block.layout.align()).unwrap();
                    // SAFETY: `new_size` bytes at `ptr`, of which the old prefix was kept.
                    unsafe {
                        let bytes = core::slice::from_raw_parts(ptr, old_size.min(new_size));
                        assert!(
                            bytes.iter().all(|&b| b == block.fill),
                            "realloc lost the contents"
                        );
                        ptr.write_bytes(block.fill, new_size);
                    }
                    block.ptr = ptr;
                }
                _ => {}
            }
            for block in live.iter().rev().take(4) {
                check(block);
            }
        }
        live.iter().for_each(check);
        assert!(spilled, "the test never filled the arena");
        assert!(reused, "the test never reused a freed block");
        for block in live {
            // SAFETY: allocated with this layout and not freed.
            unsafe { arena.dealloc(block.ptr, block.layout) };
        }
    }
}
