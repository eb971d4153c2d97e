//! A receipt (FORMAT.md §10): an accepted text writes back byte for byte.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::receipt(data));
