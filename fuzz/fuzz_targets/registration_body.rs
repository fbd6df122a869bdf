#![no_main]
//! `doze_lsp::fuzz::registration_body` (see its doc).
libfuzzer_sys::fuzz_target!(|data: &[u8]| doze_lsp::fuzz::registration_body(data));
