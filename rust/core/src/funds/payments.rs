//! The payment history as an app lists it: pages, filters and each send's attempts.

use crate::error::WalletError;
use crate::store::history::{History, PaymentFilter, PaymentPage, SendAttempt};
use crate::store::payments::PaymentInfo;
use crate::wallet::Wallet;

impl Wallet {
    /// One page of the wallet's payment history, newest first, filtered; pass the returned
    /// `next_cursor` to get the next page. Works whether or not the node runs.
    pub fn list_payments_page(
        &self,
        filter: PaymentFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<PaymentPage, WalletError> {
        History::open(&self.inner.storage_dir())?.page(&filter, cursor.as_deref(), limit)
    }

    /// The send attempts of one payment, first first.
    pub fn payment_attempts(&self, payment_id: &str) -> Result<Vec<SendAttempt>, WalletError> {
        History::open(&self.inner.storage_dir())?.attempts(payment_id)
    }

    /// Every payment in the wallet's history, newest first. Works whether or not the node
    /// runs; for long histories prefer [`Wallet::list_payments_page`].
    pub fn list_payments(&self) -> Result<Vec<PaymentInfo>, WalletError> {
        History::open(&self.inner.storage_dir())?.all()
    }
}
