//! What the fuzz targets check, as a library: the targets (`fuzz_targets/`, built by cargo
//! fuzz with the `fuzz` feature) call [`properties`] with libFuzzer's inputs, and the workspace
//! test `tests/fuzz_corpus.rs` replays [`seeds`] and the regression inputs through them on
//! stable Rust.

pub mod properties;
pub mod seeds;
