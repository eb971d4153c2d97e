//! The bearer token's verified claims (as API Gateway hands them: a map of strings) mapped
//! to a caller: never a panic; a token is one population or refused.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::claims(data));
