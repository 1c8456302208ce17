//! The `evalgate` binary: everything lives in the library.

/// mimalloc: faster small allocations than the system allocator, and no
/// lock handed between threads when a result allocated by a worker is
/// freed by the reporters' thread (measured in `scripts/bench_scale.sh`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(evalgate::app::main_with_args(std::env::args_os()));
}
