//! Panics must never carry request data out of the process.
//!
//! A panic message may quote whatever the failing code was looking at — a
//! plaintext identifier, a query name, an admin request body. This module
//! owns the process-wide panic hook, which reports where a panic happened
//! and withholds its message, and [`guarded`], which keeps one bad request
//! from taking a worker down with it. It must not log or keep any payload.

use std::panic::{AssertUnwindSafe, PanicHookInfo, catch_unwind};

/// The one line the hook prints: the location only, never the message.
fn report(info: &PanicHookInfo<'_>) -> String {
    let location = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_else(|| "an unknown location".into());
    format!(
        "mimidns: internal error (panic) at {location}; its message is withheld because it may contain request data"
    )
}

/// Replaces the default panic hook (which prints the message) for the
/// whole process. Call once, first thing in `main`.
pub fn install_redacting_hook() {
    std::panic::set_hook(Box::new(|info| eprintln!("{}", report(info))));
}

/// Runs `work`; a panic inside it becomes `None` (the hook has already
/// reported where). For per-request work whose state dies with the request.
pub fn guarded<T>(work: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(work)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guarded_turns_a_panic_into_none() {
        assert_eq!(guarded(|| 7), Some(7));
        let secret = String::from("+14155550100");
        assert_eq!(guarded(|| -> u8 { panic!("{secret}") }), None);
    }
}
