//! Tuning of the process allocator, mimalloc (installed in `main.rs`).
//!
//! mimalloc returns freed memory to the kernel 1 s after it was freed. The
//! store copies B-tree leaves on every write, so under a sustained import the
//! same memory is freed and needed again within milliseconds: the kernel
//! zeroed a fresh huge page each time, 8–11 % of the server's CPU during a
//! 1M-identifier import (113,637 page faults; 7,804 with a 10 s delay;
//! docs/PERFORMANCE.md). This module owns that one setting and nothing else;
//! it must not allocate or touch server state.

use libmimalloc_sys::mi_option_t;

/// `mi_option_purge_delay`'s position in mimalloc's `mi_option_e` (v3
/// `mimalloc.h`); `libmimalloc-sys` has no constant for it. The unit test
/// checks the position against the option's default in v3 `options.c`.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// How long freed memory stays with the process before it goes back to the
/// kernel: long enough to cover a burst of writes, short enough that an idle
/// server gives back a transient peak.
pub const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

/// Applies the tuning; call first thing in `main`, before other threads start.
pub fn tune() {
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table;
    // it has no preconditions beyond a valid option id, which the test checks.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_id_is_the_purge_delay() {
        // v3 `options.c` gives `purge_delay` a default of 1000 ms (the header
        // comment still says 10); the options around it default to 0.
        // SAFETY: reading an option has no preconditions.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(
                default, 1000,
                "option {MI_OPTION_PURGE_DELAY} is not the purge delay"
            );
        }
        tune();
        // SAFETY: as above.
        let tuned = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(tuned, PURGE_DELAY_MS);
    }
}
