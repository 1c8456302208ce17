//! The `evalgate` binary: everything lives in the library.

/// mimalloc: faster small allocations than the system allocator, and no
/// lock handed between threads when a result allocated by a worker is
/// freed by the reporters' thread (measured in `scripts/bench_scale.sh`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_e`, the
/// same in mimalloc 2 and 3; the Rust bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's default purge delays (milliseconds): 10 in mimalloc 2, 1000
/// in mimalloc 3.
const MI_DEFAULT_PURGE_DELAYS: [std::ffi::c_long; 2] = [10, 1000];

/// Memory freed is given back to the system at once instead of up to a
/// second later: loading a large suite frees each case's syntax tree as the
/// next is read, and with the delay those pages still counted in the peak
/// resident memory (71 MB for 50,000 inline cases, 53.5 MB without it, at
/// the same time). Left alone when the user set `MIMALLOC_PURGE_DELAY` (or
/// its old name) or the option does not hold one of mimalloc's defaults.
fn purge_at_once() {
    if ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
    {
        return;
    }
    // SAFETY: plain reads and writes of mimalloc's option table, done
    // before any other thread exists.
    unsafe {
        let delay = libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY);
        if MI_DEFAULT_PURGE_DELAYS.contains(&delay) {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

fn main() {
    purge_at_once();
    std::process::exit(evalgate::app::main_with_args(std::env::args_os()));
}
