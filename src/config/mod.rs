pub mod decode;
pub mod node;
