//! A hint to start loading a cache line before it is needed.

/// Asks the CPU to bring the line holding `p` into its caches. A hint only:
/// it never faults and changes nothing the program can observe, whatever
/// `p` is. A no-op off x86-64, and under Miri and loom.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: `prefetcht0` reads no memory architecturally and cannot fault
    // on any address; SSE is part of the x86-64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}
