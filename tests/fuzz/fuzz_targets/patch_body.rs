//! A PATCH body: JSON → the input struct → `Action::parse`; never a panic.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::patch_body(data));
