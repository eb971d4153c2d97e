//! A disclosures file checked against the v2 vectors' chain: never a panic.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::disclosures(data));
