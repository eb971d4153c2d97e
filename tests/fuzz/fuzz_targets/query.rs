//! A query string (`a=1&b=2`, percent-decoded as API Gateway does) through the parameter
//! checks and the list and queue parsers; never a panic.
#![no_main]

use ledgerdesk_fuzz::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::query(data));
