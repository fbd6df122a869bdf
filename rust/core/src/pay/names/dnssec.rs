//! BIP 353: a name's `TXT` record at `user.user._bitcoin-payment.domain`, fetched over
//! DNS-over-HTTPS (RFC 8484 GET, `application/dns-message`) together with every `DNSKEY`, `DS`
//! and `RRSIG` up to the root, as `dnssec-prover`'s proof builder asks; the proof is then
//! verified here, from the root's trust anchor down, and its signatures' validity window is
//! checked against the clock. The DoH resolver sees the name but cannot forge the answer.

use base64::Engine as _;
use dnssec_prover::query::{ProofBuilder, ProofBuildingError, QueryBuf};
use dnssec_prover::rr::{Name, RR, TXT_TYPE};
use dnssec_prover::ser::parse_rr_stream;
use dnssec_prover::validation::{verify_rr_stream, ValidationError};

use super::http::{get, Failure};
use super::Resolver;
use crate::error::ParseError;

/// A DNS message over DoH is at most 64 KiB (its length fits in 16 bits).
const MAX_DNS_MESSAGE: usize = 65_535;

/// The `bitcoin:` URI of `user@domain` (`name`), verified; `None` if the name has no BIP 353
/// record (then the caller may try it as a Lightning Address). Also returns the proof.
pub(super) async fn lookup(
    resolver: &Resolver,
    name: &str,
    user: &str,
    domain: &str,
) -> Result<Option<(String, Vec<u8>)>, ParseError> {
    let not_found = |reason: String| ParseError::NameResolution { name: name.into(), reason };
    let dns_name = Name::try_from(format!("{user}.user._bitcoin-payment.{domain}."))
        .map_err(|()| not_found("it is too long for a DNS name".into()))?;
    let (mut builder, first) = ProofBuilder::new(&dns_name, TXT_TYPE);
    let mut pending = vec![first];
    let mut answered = 0;
    while let Some(query) = pending.pop() {
        let body = doh(resolver, &query)
            .await
            .map_err(|f| not_found(format!("the name server {}", f.words(resolver.timeout))))?;
        let mut answer = QueryBuf::new_zeroed(0);
        answer.extend_from_slice(&body);
        match builder.process_response(&answer) {
            Ok(more) => pending.extend(more),
            // No record, or a domain without DNSSEC: the name is no BIP 353 name.
            Err(ProofBuildingError::NoSuchName | ProofBuildingError::Unauthenticated)
                if answered == 0 =>
            {
                return Ok(None)
            }
            Err(e) => return Err(not_found(format!("the name server's answer was refused ({e})"))),
        }
        answered += 1;
    }
    let (proof, _ttl) = builder
        .finish_proof()
        .map_err(|()| not_found("proving it needs too many DNS queries".into()))?;
    let uri = verify(name, &dns_name, &proof, (resolver.clock)())?;
    Ok(uri.map(|uri| (uri, proof)))
}

/// One DNS query over DoH: `{doh_url}?dns={base64url(query)}`.
async fn doh(resolver: &Resolver, query: &QueryBuf) -> Result<Vec<u8>, Failure> {
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&query[..]);
    let separator = if resolver.doh_url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}dns={encoded}", resolver.doh_url);
    get(&resolver.client, &url, resolver.network, "application/dns-message", MAX_DNS_MESSAGE).await
}

/// Verifies `proof` (an RFC 9102 chain of records) for `dns_name` at `now` (seconds since the
/// epoch) and returns its one `bitcoin:` TXT record; `None` if it has none.
pub(crate) fn verify(
    name: &str,
    dns_name: &Name,
    proof: &[u8],
    now: u64,
) -> Result<Option<String>, ParseError> {
    let refused =
        |reason: &str| ParseError::NameNotVerified { name: name.into(), reason: reason.into() };
    let records = parse_rr_stream(proof).map_err(|()| refused("the proof is malformed"))?;
    let verified = verify_rr_stream(&records).map_err(|e| match e {
        ValidationError::UnsupportedAlgorithm => {
            refused("it is signed with an algorithm this wallet cannot check")
        }
        ValidationError::Invalid => {
            refused("its DNSSEC signatures do not match its records: it may have been forged")
        }
        ValidationError::ValidationCountLimited => refused("its proof is too long to check"),
    })?;
    if now < verified.valid_from {
        return Err(refused("its signatures are not valid yet: check the phone's date and time"));
    }
    if now > verified.expires {
        return Err(refused(
            "its signatures have expired: check the phone's date and time, or try again later",
        ));
    }
    let mut found = None;
    for record in verified.resolve_name(dns_name) {
        let RR::Txt(txt) = record else { continue };
        let text = txt.data.as_vec();
        if !text.get(..8).is_some_and(|p| p.eq_ignore_ascii_case(b"bitcoin:")) {
            // BIP 353: other TXT records at the name are ignored.
            continue;
        }
        if found.is_some() {
            return Err(ParseError::NameResolution {
                name: name.into(),
                reason: "it has more than one payment record; its owner must keep one".into(),
            });
        }
        let text = String::from_utf8(text).map_err(|_| refused("its record is not text"))?;
        found = Some(text);
    }
    Ok(found)
}
