//! An evidence bundle (FORMAT.md §12): an accepted file is its canonical text, and checking
//! it never panics.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::bundle(data));
