#![no_main]
//! `doze_core::fuzz::peer_list` (see its doc).
libfuzzer_sys::fuzz_target!(|data: &[u8]| doze_core::fuzz::peer_list(data));
