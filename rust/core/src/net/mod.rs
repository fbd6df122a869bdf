//! The phone's connections to its LSPs: reaching them without being held by one that does
//! not answer ([`connect`]), and the loopback relay every LSP connection of the app's node
//! runs through, with the fence that cuts them all at once ([`relay`]). Imports only the
//! crate's vocabulary (config, errors).

pub(crate) mod connect;
pub(crate) mod relay;
