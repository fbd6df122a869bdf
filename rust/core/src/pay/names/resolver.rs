//! [`NameResolver`] as the crate's [`HrnResolver`]: BIP 353 first, then the Lightning
//! Address; LNURLs; an LNURL-pay invoice. The trait's errors are `&'static str`: the typed
//! error is kept beside them (`remember`) for [`NameResolver::resolve`] to return.

use bitcoin_payment_instructions::amount::Amount;
use bitcoin_payment_instructions::hrn_resolution::{
    HrnResolution, HrnResolutionFuture, HrnResolver, HumanReadableName, LNURLResolutionFuture,
};
use ldk_node::bitcoin::hex::DisplayHex;

use super::{dnssec, lnurl, NameResolver};
use crate::error::ParseError;
use crate::pay::parse::PaymentRequest;

impl NameResolver {
    /// BIP 353, else the Lightning Address's terms.
    async fn hrn(&self, hrn: &HumanReadableName) -> Result<HrnResolution, ParseError> {
        let (user, domain) = (hrn.user().to_ascii_lowercase(), hrn.domain().to_ascii_lowercase());
        let name = format!("{user}@{domain}");
        if let Some((result, proof)) = dnssec::lookup(self, &name, &user, &domain).await? {
            return Ok(HrnResolution::DNSSEC { proof: Some(proof), result });
        }
        let url = self.lightning_address_url(&user, &domain);
        let terms = lnurl::terms(self, &url, Some(name.clone())).await.map_err(|e| match e {
            // No BIP 353 record and no Lightning Address: the name does not take payments.
            ParseError::LnurlServer { reason, .. } if reason.contains("status 404") => {
                ParseError::NameResolution {
                    name: name.clone(),
                    reason: "it has no payment record and is no Lightning Address; check the \
                             spelling"
                        .into(),
                }
            }
            other => other,
        })?;
        to_crate(terms)
    }

    async fn lnurl_terms(&self, url: &str) -> Result<HrnResolution, ParseError> {
        to_crate(lnurl::terms(self, url, None).await?)
    }
}

/// LNURL-pay terms as the crate's resolution.
fn to_crate(terms: PaymentRequest) -> Result<HrnResolution, ParseError> {
    let PaymentRequest::LnurlPay {
        domain,
        min_sendable_msat,
        max_sendable_msat,
        description,
        callback,
        metadata_hash,
        ..
    } = terms
    else {
        return Err(ParseError::UnknownFormat);
    };
    let odd = |what: &str| ParseError::LnurlServer {
        domain: domain.clone(),
        reason: format!("its {what} makes no sense"),
    };
    let mut hash = [0u8; 32];
    let bytes: Vec<u8> = (0..metadata_hash.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(metadata_hash.get(i..i + 2)?, 16).ok())
        .collect();
    if bytes.len() != 32 {
        return Err(odd("metadata"));
    }
    hash.copy_from_slice(&bytes);
    Ok(HrnResolution::LNURLPay {
        min_value: Amount::from_milli_sats(min_sendable_msat).map_err(|()| odd("minimum"))?,
        max_value: Amount::from_milli_sats(max_sendable_msat).map_err(|()| odd("maximum"))?,
        expected_description_hash: hash,
        recipient_description: description,
        callback,
    })
}

impl HrnResolver for NameResolver {
    fn resolve_hrn<'a>(&'a self, hrn: &'a HumanReadableName) -> HrnResolutionFuture<'a> {
        Box::pin(async move { self.remember(self.hrn(hrn).await) })
    }

    fn resolve_lnurl<'a>(&'a self, url: &'a str) -> HrnResolutionFuture<'a> {
        Box::pin(async move { self.remember(self.lnurl_terms(url).await) })
    }

    fn resolve_lnurl_to_invoice<'a>(
        &'a self,
        callback_url: String,
        amount: Amount,
        expected_description_hash: [u8; 32],
    ) -> LNURLResolutionFuture<'a> {
        Box::pin(async move {
            let hash = expected_description_hash.to_lower_hex_string();
            let invoice = lnurl::invoice(self, &callback_url, amount.milli_sats(), &hash).await;
            self.remember(invoice)
        })
    }
}
