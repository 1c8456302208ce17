//! Integration tests: the real `evalgate` binary against real files (and, in
//! later capabilities, real local HTTP servers). One test binary, as ripgrep does.

mod compare;
mod consumers;
mod endpoints;
mod golden;
mod interop;
mod invalid;
mod run;
mod servers;
mod util;
