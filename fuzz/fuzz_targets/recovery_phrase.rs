#![no_main]
//! `doze_core::fuzz::recovery_phrase` (see its doc).
libfuzzer_sys::fuzz_target!(|data: &[u8]| doze_core::fuzz::recovery_phrase(data));
