//! The wake's answer to BOLT 12 invoice requests: none. The phone's LSP forwards a payer's
//! `invoice_request` to the phone's mailbox in case the phone is online, and answers it itself
//! with the phone's static invoice. A wake cannot build a fresh invoice (it has no router for
//! blinded payment paths), and the channel manager would answer with an `InvoiceError`, on
//! which the payer abandons the payment, the static-invoice one included. So invoice requests
//! go unanswered; every other offers message goes to the channel manager.

use std::sync::Arc;

use ldk_node::lightning::blinded_path::message::OffersContext;
use ldk_node::lightning::onion_message::messenger::{
    MessageSendInstructions, Responder, ResponseInstruction,
};
use ldk_node::lightning::onion_message::offers::{OffersMessage, OffersMessageHandler};

/// The channel manager's offers handler, minus invoice requests.
pub(crate) struct NoInvoicesDuringAWake<H> {
    inner: Arc<H>,
}

impl<H> NoInvoicesDuringAWake<H> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: Arc<H>) -> Self {
        NoInvoicesDuringAWake { inner }
    }
}

impl<H: OffersMessageHandler> OffersMessageHandler for NoInvoicesDuringAWake<H> {
    fn handle_message(
        &self,
        message: OffersMessage,
        context: Option<OffersContext>,
        responder: Option<Responder>,
    ) -> Option<(OffersMessage, ResponseInstruction)> {
        if let OffersMessage::InvoiceRequest(_) = message {
            log::debug!(
                "wake: an invoice request left unanswered (the LSP answered it with our static \
                 invoice)"
            );
            return None;
        }
        self.inner.handle_message(message, context, responder)
    }

    fn release_pending_messages(&self) -> Vec<(OffersMessage, MessageSendInstructions)> {
        self.inner.release_pending_messages()
    }
}
