#![no_main]
//! `doze_core::fuzz::Harness::address_book_row` (see its doc), on a harness in $TMPDIR.
use std::sync::LazyLock;

use doze_core::fuzz::Harness;

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("doze-fuzz-address_book_row-{}", std::process::id()));
    Harness::new(&dir)
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| HARNESS.address_book_row(data));
