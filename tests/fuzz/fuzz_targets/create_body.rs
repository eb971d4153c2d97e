//! A create body, as the API reads it (JSON → the input struct → the domain's parse), for a
//! customer and for the partner's own tenant: never a panic.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::create_body(data));
