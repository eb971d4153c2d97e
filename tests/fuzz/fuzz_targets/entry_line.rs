//! A ledger entry line (FORMAT.md §2-§3): an accepted line is exactly what its fields write.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::entry_line(data));
