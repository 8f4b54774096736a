//! Building a cache settles the reclamation's fence choice (`membarrier` or
//! full fences), so the first `get` never waits for the registration, which
//! takes milliseconds once a process runs several threads. In a process of
//! its own: the choice is made once per process.

use clockwise::Cache;

/// Whether this kernel offers `MEMBARRIER_CMD_PRIVATE_EXPEDITED`.
#[cfg(target_os = "linux")]
fn membarrier_available() -> bool {
    const QUERY: libc::c_int = 0;
    const PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    // SAFETY: the query takes two integers and touches no memory.
    let supported = unsafe { libc::syscall(libc::SYS_membarrier, QUERY, 0, 0) };
    supported >= 0 && supported & PRIVATE_EXPEDITED != 0
}

#[cfg(not(target_os = "linux"))]
fn membarrier_available() -> bool {
    false
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no membarrier")]
fn building_a_cache_settles_the_fence_choice() {
    let refused = std::env::var_os("CLOCKWISE_NO_MEMBARRIER").is_some_and(|v| v != "0");
    let cache: Cache<u64, u64> = Cache::builder().max_capacity(10).build();
    // Too late to change anything: `build` has chosen.
    std::env::set_var("CLOCKWISE_NO_MEMBARRIER", "1");
    cache.insert(1, 1);
    assert_eq!(cache.get(&1), Some(1));
    assert_eq!(
        clockwise::uses_membarrier(),
        membarrier_available() && !refused,
        "the choice was not made when the cache was built"
    );
}
