//! The phone's connections to its LSPs: reaching them without being held by one that does
//! not answer ([`connect`]), and the loopback relay every LSP connection of the app's node
//! runs through, with the fence that cuts them all at once ([`relay`]); and sending a kept
//! `release_held_htlc` again through an onion messenger ([`release`]). Imports only the
//! crate's vocabulary (config, errors).

pub(crate) mod connect;
pub(crate) mod relay;
pub(crate) mod release;
