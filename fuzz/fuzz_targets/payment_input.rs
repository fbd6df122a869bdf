#![no_main]
//! `doze_core::fuzz::payment_input` (see its doc).
libfuzzer_sys::fuzz_target!(|data: &[u8]| doze_core::fuzz::payment_input(data));
