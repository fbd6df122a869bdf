//! Paying and being paid: reading what a person pastes or scans ([`parse`]) and looking up
//! names and LNURLs ([`names`]), quoting a send
//! across the wallet's channels ([`quote`]) and sending it ([`send`]), receiving ([`receive`],
//! and claiming a BOLT 12 refund: [`refund`]), and the fees each costs ([`fees`]). Built on the
//! wallet's lifecycle (`wallet/`) and its stores (`store/`); nothing here is imported from
//! below.

pub(crate) mod fees;
pub(crate) mod names;
pub(crate) mod parse;
pub(crate) mod quote;
pub(crate) mod receive;
pub(crate) mod refund;
pub(crate) mod send;
