//! The `doze` command's parts, shared by its two binaries: `doze` (the demo and every
//! subcommand) and `doze-wake` (the notification extension's stand-in alone, so that what a
//! wake maps into memory is doze-core and ldk-node, not the embedded devnet and LSP).

pub mod demo;
pub mod logger;
pub mod progress;
pub mod wake;
