//! The `doze` command's parts: `doze demo` (the whole story on an embedded devnet, built with
//! doze-testkit's scene) and the terminal lines it prints. `doze wake` is the doze-wake crate,
//! which is also the notification extension's stand-in alone (`doze-wake`, linking doze-core
//! only, not the devnet, the LSP or the test kit).

pub mod demo;
pub mod progress;
