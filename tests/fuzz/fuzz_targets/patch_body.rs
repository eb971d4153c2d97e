//! A PATCH body: JSON → the input struct → `Action::parse`; never a panic.
#![no_main]

#[path = "../src/properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::patch_body(data));
