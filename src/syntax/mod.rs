//! The file syntax every input shares: a YAML subset parsed into [`node::Node`]s
//! that keep their positions, and strict decoding helpers ([`decode::Ctx`]) that
//! record every problem with file, line, column and a hint, and keep going.
//! It knows no evalgate concept; config, suites, checks and goldens decode with it.

pub mod decode;
pub mod node;
