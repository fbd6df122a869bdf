#![no_main]
//! `doze_core::fuzz::Harness::backup_object` (see its doc), on a harness in $TMPDIR.
use std::sync::LazyLock;

use doze_core::fuzz::Harness;

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("doze-fuzz-backup_object-{}", std::process::id()));
    Harness::new(&dir)
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| HARNESS.backup_object(data));
