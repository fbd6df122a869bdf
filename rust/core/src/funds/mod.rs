//! What the wallet holds and has done, for an app's home and history screens: [`balances`],
//! [`channels`] (and closing one), and the [`payments`] list. Built on the lifecycle
//! (`wallet/`), the stores (`store/`) and, for an address a close pays to, `pay/`'s parser.

pub(crate) mod balances;
pub(crate) mod channels;
mod payments;
