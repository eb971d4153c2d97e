//! A pagination cursor: opening one the server did not seal never succeeds, never panics;
//! and a sealed one opens only for its own partner and query.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::cursor(data));
