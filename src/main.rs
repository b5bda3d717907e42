//! The `mimidns` binary: a thin shell over the library's command line.

/// sled copies a B-tree leaf on every write and the query path allocates
/// per answer; glibc's malloc spent a third of the import's CPU time in
/// `_int_malloc`/`malloc_consolidate` (docs/PERFORMANCE.md). mimalloc's
/// thread-local free lists do not. Its one tuned option is in
/// `mimidns::allocator`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mimidns::allocator::tune();
    mimidns::cli::main()
}
