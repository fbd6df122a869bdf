//! Looking up what [`parse`] only recognises: names (BIP 353 `₿alice@example.com`, Lightning
//! Addresses `alice@example.com`) and LNURLs, as Doze's own [`HrnResolver`] (the trait of
//! `bitcoin-payment-instructions`) over the wallet's HTTP client (reqwest, rustls).
//!
//! A name is first asked of DNS: its BIP 353 record, fetched over DNS-over-HTTPS from the
//! resolver the app configures and verified on the phone with DNSSEC ([`dnssec`]). Without
//! one it is tried as a Lightning Address: LNURL-pay at
//! `https://<domain>/.well-known/lnurlp/<user>` ([`lnurl`]), whose invoice is fetched once an
//! amount is chosen and checked against it. Each request is bounded by the configured
//! timeout, each step (a lookup, an invoice) by twice that, and each answer by a size;
//! whatever a server does, the result is a typed [`ParseError`], never a hang or a panic.
//!
//! Who learns what: the DoH resolver sees the names looked up (not the amount); an LNURL
//! server sees the phone's IP address and the amount; a BIP 353 answer is proven by DNSSEC,
//! so the resolver cannot change it, while an LNURL server's answer is only as good as its
//! TLS certificate. `http://` is fetched only from this device and never on mainnet
//! ([`allowed_url`](crate::config::allowed_url)); domain routes (`DomainRoute`) send a
//! domain's Lightning Address requests to another base URL, like curl's `--resolve`.

mod dnssec;
mod http;
mod lnurl;
mod resolver;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin_payment_instructions::hrn_resolution::HumanReadableName;
use bitcoin_payment_instructions::hrn_resolution::{HrnResolution, HrnResolver};
use ldk_node::bitcoin::hex::DisplayHex;

use crate::config::{NameResolutionConfig, Network};
use crate::error::{ParseError, WalletError};
use crate::pay::parse::{parse, PaymentRequest};

/// How a recipient's payment details were found, to show beside the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ResolutionMethod {
    /// BIP 353: the name's DNS record, proven by DNSSEC and checked on this phone.
    Bip353,
    /// A Lightning Address: the domain's LNURL-pay server (trusted as far as its TLS).
    LightningAddress,
    /// An LNURL: the server it names (trusted as far as its TLS).
    Lnurl,
}

/// Who a name or LNURL led to, shown in the quote (`SendQuote.recipient`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ResolvedRecipient {
    /// The name looked up (`alice@example.com`), or an LNURL's server (`pay.example.com`).
    pub name: String,
    /// How it was found.
    pub method: ResolutionMethod,
    /// The least the recipient accepts, in msat (LNURL-pay only).
    pub min_sendable_msat: Option<u64>,
    /// The most the recipient accepts, in msat (LNURL-pay only).
    pub max_sendable_msat: Option<u64>,
    /// The recipient's description, if any.
    pub description: Option<String>,
}

/// A looked-up request: what to pay (an invoice, offer or address; or LNURL-pay terms while
/// no amount is chosen) and who it was found for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// What to pay.
    pub request: PaymentRequest,
    /// Who, when it came from a name or LNURL.
    pub recipient: Option<ResolvedRecipient>,
}

/// Doze's [`HrnResolver`]: looks up names and LNURLs as the module docs say.
pub struct NameResolver {
    client: reqwest::Client,
    doh_url: String,
    routes: Vec<(String, String)>,
    network: Network,
    timeout: Duration,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    /// The typed error behind the last `&'static str` the trait's methods returned.
    last_error: Mutex<Option<ParseError>>,
}

/// The name the module's parts use.
type Resolver = NameResolver;

impl NameResolver {
    /// A resolver for a wallet on `network` (the configuration checked as `Wallet::new` does).
    pub fn new(config: &NameResolutionConfig, network: Network) -> Result<Self, WalletError> {
        config.check(network)?;
        let timeout = Duration::from_secs(u64::from(config.timeout_secs));
        let client = http::client(timeout).map_err(WalletError::Node)?;
        let routes = config
            .domain_routes
            .iter()
            .map(|r| {
                let base = r.base_url.trim().trim_end_matches('/');
                (r.domain.trim().trim_end_matches('.').to_ascii_lowercase(), base.to_string())
            })
            .collect();
        Ok(NameResolver {
            client,
            doh_url: config.doh_url.trim().to_string(),
            routes,
            network,
            timeout,
            clock: Arc::new(crate::pay::parse::now_secs),
            last_error: Mutex::new(None),
        })
    }

    /// The same resolver, checking DNSSEC signatures' validity at `clock()` (seconds since the
    /// epoch) instead of the system clock: for tests of recorded proofs.
    pub fn with_clock(mut self, clock: Arc<dyn Fn() -> u64 + Send + Sync>) -> Self {
        self.clock = clock;
        self
    }

    /// Looks up `request` if it is a name, an LNURL or LNURL-pay terms (other requests come
    /// back as they are). With `amount_msat`, LNURL-pay terms become the server's invoice for
    /// exactly that amount; without, they are returned for the person to choose one.
    pub async fn resolve(
        &self,
        request: PaymentRequest,
        amount_msat: Option<u64>,
    ) -> Result<Resolution, ParseError> {
        let (request, recipient) = match request {
            PaymentRequest::Name { name } => {
                let lookup = self.name(&name);
                tokio::time::timeout(self.step_bound(), lookup).await.unwrap_or_else(|_| {
                    Err(ParseError::NameResolution { name, reason: self.too_slow() })
                })?
            }
            PaymentRequest::Lnurl { url } => {
                let lookup = self.lnurl(&url);
                tokio::time::timeout(self.step_bound(), lookup).await.unwrap_or_else(|_| {
                    let domain = lnurl::domain_of(&url);
                    Err(ParseError::LnurlServer { domain, reason: self.too_slow() })
                })?
            }
            PaymentRequest::LnurlPay { .. } => {
                let recipient = lnurl_recipient(&request);
                (request, recipient)
            }
            other => (other, None),
        };
        let (PaymentRequest::LnurlPay { .. }, Some(amount)) = (&request, amount_msat) else {
            return Ok(Resolution { request, recipient });
        };
        let request = self.invoice_for(&request, amount).await?;
        Ok(Resolution { request, recipient })
    }

    /// What one step (a name's lookup: several DoH queries and maybe the LNURL terms; or an
    /// invoice) may take in all. Each request has `timeout` and says so when it runs out
    /// (naming the server); this bound catches a chain of requests each just in time.
    fn step_bound(&self) -> Duration {
        self.timeout * 2
    }

    fn too_slow(&self) -> String {
        format!(
            "no complete answer within {} s; check the connection and try again later",
            self.step_bound().as_secs()
        )
    }

    /// A name: its BIP 353 record (parsed into what it asks to be paid with), else its
    /// Lightning Address terms.
    async fn name(
        &self,
        name: &str,
    ) -> Result<(PaymentRequest, Option<ResolvedRecipient>), ParseError> {
        let hrn =
            HumanReadableName::from_encoded(name).map_err(|()| ParseError::NameResolution {
                name: name.into(),
                reason: "it is not a valid name".into(),
            })?;
        match self.resolve_hrn(&hrn).await {
            Ok(HrnResolution::DNSSEC { result, .. }) => {
                let request = parse(&result, self.network)?;
                if matches!(
                    request,
                    PaymentRequest::Name { .. }
                        | PaymentRequest::Lnurl { .. }
                        | PaymentRequest::LnurlPay { .. }
                ) {
                    return Err(ParseError::NameResolution {
                        name: name.into(),
                        reason: "its record points to another name; ask for the final one".into(),
                    });
                }
                let recipient = ResolvedRecipient {
                    name: name.into(),
                    method: ResolutionMethod::Bip353,
                    min_sendable_msat: None,
                    max_sendable_msat: None,
                    description: description_of(&request),
                };
                Ok((request, Some(recipient)))
            }
            Ok(lnurl_pay) => {
                let request = from_lnurl_resolution(lnurl_pay, Some(name.into()))?;
                let recipient = lnurl_recipient(&request);
                Ok((request, recipient))
            }
            Err(_) => Err(self.take_error(name)),
        }
    }

    /// An LNURL's terms.
    async fn lnurl(
        &self,
        url: &str,
    ) -> Result<(PaymentRequest, Option<ResolvedRecipient>), ParseError> {
        match self.resolve_lnurl(url).await {
            Ok(resolution) => {
                let request = from_lnurl_resolution(resolution, None)?;
                let recipient = lnurl_recipient(&request);
                Ok((request, recipient))
            }
            Err(_) => Err(self.take_error(&lnurl::domain_of(url))),
        }
    }

    /// The LNURL-pay server's invoice for `amount_msat`, within its limits, parsed for this
    /// wallet's network and the clock.
    async fn invoice_for(
        &self,
        terms: &PaymentRequest,
        amount_msat: u64,
    ) -> Result<PaymentRequest, ParseError> {
        let PaymentRequest::LnurlPay {
            domain,
            min_sendable_msat,
            max_sendable_msat,
            callback,
            metadata_hash,
            ..
        } = terms
        else {
            return Err(ParseError::UnknownFormat);
        };
        if amount_msat < *min_sendable_msat || amount_msat > *max_sendable_msat {
            return Err(ParseError::InvalidAmount(format!(
                "the recipient accepts {} to {} sat, not {}",
                min_sendable_msat.div_ceil(1000),
                max_sendable_msat / 1000,
                crate::amounts::sat_text(amount_msat, false)
            )));
        }
        let fetch = lnurl::invoice(self, callback, amount_msat, metadata_hash);
        let invoice =
            tokio::time::timeout(self.step_bound(), fetch).await.unwrap_or_else(|_| {
                Err(ParseError::LnurlServer { domain: domain.clone(), reason: self.too_slow() })
            })?;
        parse(&invoice.to_string(), self.network)
    }

    /// Where a Lightning Address's terms are: the domain's well-known URL, or its route.
    fn lightning_address_url(&self, user: &str, domain: &str) -> String {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let base = self
            .routes
            .iter()
            .find(|(routed, _)| *routed == domain)
            .map(|(_, base)| base.clone())
            .unwrap_or_else(|| format!("https://{domain}"));
        format!("{base}/.well-known/lnurlp/{}", user.to_ascii_lowercase())
    }

    /// Keeps `result`'s error for [`Self::take_error`]; the trait's errors are only strings.
    fn remember<T>(&self, result: Result<T, ParseError>) -> Result<T, &'static str> {
        result.map_err(|e| {
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(e);
            }
            "name resolution failed; see the typed error"
        })
    }

    /// The typed error kept by [`Self::remember`] (a generic one about `what` if none is).
    fn take_error(&self, what: &str) -> ParseError {
        let kept = self.last_error.lock().ok().and_then(|mut last| last.take());
        kept.unwrap_or_else(|| ParseError::NameResolution {
            name: what.into(),
            reason: "the lookup failed".into(),
        })
    }
}

/// Verifies a BIP 353 proof (an RFC 9102 chain of DNSSEC records, as a resolution or a PSBT
/// carries) for `name` (`user@domain`, with or without `₿`) at `now_secs`, and reads the
/// payment record it proves for a wallet on `network`. Nothing is fetched: for re-checking a
/// stored proof, or a proof obtained elsewhere.
pub fn verify_bip353(
    name: &str,
    proof: &[u8],
    now_secs: u64,
    network: Network,
) -> Result<Resolution, ParseError> {
    let hrn = HumanReadableName::from_encoded(name.trim()).map_err(|()| {
        ParseError::NameResolution { name: name.into(), reason: "it is not a valid name".into() }
    })?;
    let (user, domain) = (hrn.user().to_ascii_lowercase(), hrn.domain().to_ascii_lowercase());
    let name = format!("{user}@{domain}");
    let dns_name =
        dnssec_prover::rr::Name::try_from(format!("{user}.user._bitcoin-payment.{domain}."))
            .map_err(|()| ParseError::NameResolution {
                name: name.clone(),
                reason: "it is too long for a DNS name".into(),
            })?;
    let Some(uri) = dnssec::verify(&name, &dns_name, proof, now_secs)? else {
        return Err(ParseError::NameResolution {
            name,
            reason: "the proof holds no payment record for it".into(),
        });
    };
    let request = parse(&uri, network)?;
    let recipient = ResolvedRecipient {
        name,
        method: ResolutionMethod::Bip353,
        min_sendable_msat: None,
        max_sendable_msat: None,
        description: description_of(&request),
    };
    Ok(Resolution { request, recipient: Some(recipient) })
}

/// The request for the crate's LNURL-pay resolution.
fn from_lnurl_resolution(
    resolution: HrnResolution,
    name: Option<String>,
) -> Result<PaymentRequest, ParseError> {
    match resolution {
        HrnResolution::LNURLPay {
            min_value,
            max_value,
            expected_description_hash,
            recipient_description,
            callback,
        } => Ok(PaymentRequest::LnurlPay {
            name,
            domain: lnurl::domain_of(&callback),
            min_sendable_msat: min_value.milli_sats(),
            max_sendable_msat: max_value.milli_sats(),
            description: recipient_description,
            callback,
            metadata_hash: expected_description_hash.to_lower_hex_string(),
        }),
        HrnResolution::DNSSEC { .. } => Err(ParseError::InvalidLnurl(
            "an LNURL led to a DNS record instead of LNURL-pay terms".into(),
        )),
    }
}

/// The recipient LNURL-pay terms describe.
fn lnurl_recipient(request: &PaymentRequest) -> Option<ResolvedRecipient> {
    let PaymentRequest::LnurlPay {
        name,
        domain,
        min_sendable_msat,
        max_sendable_msat,
        description,
        ..
    } = request
    else {
        return None;
    };
    Some(ResolvedRecipient {
        name: name.clone().unwrap_or_else(|| domain.clone()),
        method: match name {
            Some(_) => ResolutionMethod::LightningAddress,
            None => ResolutionMethod::Lnurl,
        },
        min_sendable_msat: Some(*min_sendable_msat),
        max_sendable_msat: Some(*max_sendable_msat),
        description: description.clone(),
    })
}

/// What a request says about itself, to show with a BIP 353 name.
fn description_of(request: &PaymentRequest) -> Option<String> {
    match request {
        PaymentRequest::Bolt11 { description, .. }
        | PaymentRequest::Bolt12Offer { description, .. } => description.clone(),
        PaymentRequest::OnChain { label, message, .. } => label.clone().or(message.clone()),
        _ => None,
    }
}
