//! The JavaScript heap's budget: an allocator that refuses what would exceed the limit and
//! remembers that it did, so a run that fails for want of memory is reported as such even
//! when QuickJS could not allocate the error object itself (it then throws `null`).

use std::cell::Cell;
use std::rc::Rc;

use rquickjs::allocator::{Allocator, RustAllocator};

/// Bytes in use by one runtime, its limit, and whether an allocation was refused.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    used: Cell<usize>,
    limit: Cell<usize>,
    refused: Cell<bool>,
}

impl Budget {
    /// Starts a run: a new limit, and no refusal yet.
    pub(crate) fn start(&self, limit: usize) {
        self.limit.set(limit);
        self.refused.set(false);
    }

    /// Whether an allocation was refused since [`Budget::start`].
    pub(crate) fn refused(&self) -> bool {
        self.refused.get()
    }

    fn admit(&self, more: usize) -> bool {
        let fits = self.used.get().checked_add(more).is_some_and(|total| total <= self.limit.get());
        if !fits {
            self.refused.set(true);
        }
        fits
    }

    fn add(&self, bytes: usize) {
        self.used.set(self.used.get() + bytes);
    }

    fn sub(&self, bytes: usize) {
        self.used.set(self.used.get().saturating_sub(bytes));
    }
}

/// Rust's global allocator, within a [`Budget`].
pub(crate) struct LimitedAllocator {
    pub(crate) budget: Rc<Budget>,
}

// SAFETY: every allocation comes from `RustAllocator`, which upholds the trait's contract;
// this type only refuses some requests (returning null, which the contract allows) and counts.
unsafe impl Allocator for LimitedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if size == 0 || !self.budget.admit(size) {
            return std::ptr::null_mut();
        }
        let ptr = RustAllocator.alloc(size);
        if !ptr.is_null() {
            // SAFETY: `ptr` was just allocated by `RustAllocator`.
            self.budget.add(unsafe { RustAllocator::usable_size(ptr) });
        }
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        // `RustAllocator::calloc` panics on overflow: refuse it here instead.
        let Some(total) = count.checked_mul(size).filter(|&t| t > 0) else {
            return std::ptr::null_mut();
        };
        if !self.budget.admit(total) {
            return std::ptr::null_mut();
        }
        let ptr = RustAllocator.calloc(count, size);
        if !ptr.is_null() {
            // SAFETY: `ptr` was just allocated by `RustAllocator`.
            self.budget.add(unsafe { RustAllocator::usable_size(ptr) });
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: the caller guarantees `ptr` comes from this allocator, hence `RustAllocator`.
        unsafe {
            self.budget.sub(RustAllocator::usable_size(ptr));
            RustAllocator.dealloc(ptr);
        }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        if new_size == 0 {
            // SAFETY: as for `dealloc`.
            unsafe { self.dealloc(ptr) };
            return std::ptr::null_mut();
        }
        // SAFETY: the caller guarantees `ptr` comes from this allocator, hence `RustAllocator`.
        let old = unsafe { RustAllocator::usable_size(ptr) };
        if new_size > old && !self.budget.admit(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above; on failure the old block is untouched and still counted.
        let moved = unsafe { RustAllocator.realloc(ptr, new_size) };
        if !moved.is_null() {
            self.budget.sub(old);
            // SAFETY: `moved` was just allocated by `RustAllocator`.
            self.budget.add(unsafe { RustAllocator::usable_size(moved) });
        }
        moved
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: the caller guarantees `ptr` comes from this allocator, hence `RustAllocator`.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_limit_and_counts_frees() {
        let budget = Rc::new(Budget::default());
        budget.start(1000);
        let mut a = LimitedAllocator { budget: budget.clone() };
        let p = a.alloc(600);
        assert!(!p.is_null());
        assert!(a.alloc(600).is_null());
        assert!(budget.refused());
        // SAFETY: `p` comes from `a`.
        let p = unsafe { a.realloc(p, 900) };
        assert!(!p.is_null());
        // SAFETY: `p` comes from `a`.
        assert!(unsafe { a.realloc(p, 2000) }.is_null());
        // SAFETY: `p` is still valid after the refused realloc.
        unsafe { a.dealloc(p) };
        budget.start(1000);
        let q = a.calloc(10, 90);
        assert!(!q.is_null());
        assert!(!budget.refused());
        assert!(a.calloc(usize::MAX, 2).is_null());
        // SAFETY: `q` comes from `a`.
        unsafe { a.dealloc(q) };
        assert_eq!(budget.used.get(), 0);
    }
}
