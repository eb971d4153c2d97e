//! A signed note and the checkpoint in it (C2SP signed-note, tlog-checkpoint): an accepted
//! note writes back byte for byte, and so does its checkpoint body.
#![no_main]

#[path = "../src/properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::note(data));
