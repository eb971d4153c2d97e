//! An export stream, verified (with and without a kept checkpoint): never a panic, every
//! outcome a report or a located failure.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::export(data));
