//! An evidence bundle (FORMAT.md §12): an accepted file is its canonical text, and checking
//! it never panics.
#![no_main]

#[path = "../src/properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::bundle(data));
