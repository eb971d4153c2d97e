//! A signed note and the checkpoint in it (C2SP signed-note, tlog-checkpoint): an accepted
//! note writes back byte for byte, and so does its checkpoint body.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::note(data));
