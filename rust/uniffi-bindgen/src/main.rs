//! `uniffi-bindgen`, built from the same pinned uniffi as `doze-ffi` (generated code and
//! scaffolding must come from one uniffi version). Generates Swift, Kotlin and Python from the
//! built library:
//!
//! ```sh
//! cargo run -p uniffi-bindgen -- generate --library $CARGO_TARGET_DIR/debug/libdoze.so \
//!     --language kotlin --config uniffi.toml --out-dir out/kotlin
//! ```
//!
//! `scripts/gen-bindings` does all three languages.

fn main() {
    uniffi::uniffi_bindgen_main()
}
