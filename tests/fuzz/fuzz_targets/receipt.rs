//! A receipt (FORMAT.md §10): an accepted text writes back byte for byte.
#![no_main]

#[path = "../src/properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::receipt(data));
