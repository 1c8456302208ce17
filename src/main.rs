//! The `evalgate` binary: everything lives in the library.

fn main() {
    std::process::exit(evalgate::app::main_with_args(std::env::args_os()));
}
