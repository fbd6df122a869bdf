#![no_main]
//! `doze_lsp::fuzz::HttpHarness::connection` (see its doc), on a harness in $TMPDIR.
use std::sync::LazyLock;

use doze_lsp::fuzz::HttpHarness;

static HARNESS: LazyLock<HttpHarness> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("doze-fuzz-http-{}", std::process::id()));
    HttpHarness::new(&dir)
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    HARNESS.connection(data);
});
