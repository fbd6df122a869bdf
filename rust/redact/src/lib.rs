//! `doze-redact`: the secrets LDK writes into its log records, taken out before a record
//! reaches a log. LDK logs a payment's preimage (proof of payment) when it claims or learns
//! it, in the `Debug` of the events and messages it traces, and every LSPS message it sends,
//! JSON and all, so an LSPS2 `get_info` with the LSP's access token. The phone's log forwarder
//! (doze-core) and the LSP's log hub (doze-lsp) both pass every record through
//! [`redact_secrets`]. Text a stranger sent is quoted in errors only [`clip`]ped.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

/// `message` without the secrets LDK puts in its records: payment preimages and LSPS tokens.
pub fn redact_secrets(message: &str) -> String {
    redact_tokens(&redact_preimages(message))
}

/// At most `max_chars` characters of `text`, with `…` where it was cut: what an error quotes
/// of a stranger's input (a pasted string, a request body), so that a message stays readable
/// and an attacker cannot make a log line as long as they like.
pub fn clip(text: &str, max_chars: usize) -> String {
    let mut short: String = text.chars().take(max_chars).collect();
    if text.chars().nth(max_chars).is_some() {
        short.push('…');
    }
    short
}

/// LDK logs payment preimages at debug and trace level (`Claiming inbound HTLC ... with
/// preimage <hex>`, and in the `Debug` of events and messages: `payment_preimage: Some(<hex>)`);
/// a preimage is proof of payment and must not reach an app's logs. Every run of exactly 64 hex
/// digits after the first "preimage" is replaced (a payment secret that follows goes too).
pub fn redact_preimages(message: &str) -> String {
    let Some(first) = message.to_ascii_lowercase().find("preimage") else {
        return message.to_string();
    };
    let (mut out, mut rest) = (message[..first].to_string(), &message[first..]);
    while let Some(start) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        let len =
            rest[start..].find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(rest.len() - start);
        out.push_str(&rest[..start]);
        let run = &rest[start..start + len];
        out.push_str(if len == 64 { "<redacted>" } else { run });
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

/// LDK logs every LSPS message it sends or receives at trace level, JSON and all: an LSPS2
/// `get_info` carries the LSP's access token (`"token":"…"`, or `\"token\":\"…\"` inside a
/// `Debug` string). Each such value is replaced.
pub fn redact_tokens(message: &str) -> String {
    const KEY: &str = "token";
    let (mut out, mut rest) = (String::with_capacity(message.len()), message);
    while let Some(at) = rest.find(KEY) {
        out.push_str(&rest[..at + KEY.len()]);
        rest = &rest[at + KEY.len()..];
        let Some(separator) = ["\\\":\\\"", "\":\""].into_iter().find(|s| rest.starts_with(s))
        else {
            continue;
        };
        rest = &rest[separator.len()..];
        let end = rest.find('"').map_or(rest.len(), |e| e - usize::from(rest[..e].ends_with('\\')));
        out.push_str(separator);
        out.push_str("<redacted>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{redact_preimages, redact_secrets};

    #[test]
    fn preimages_never_reach_the_log() {
        let hash = "b6734c92a78ffa45b790a11e35e36f90d106896873926c70851092f3ed5c6f68";
        let preimage = "3f7d1e70ea3caf153cff56e548697071ab673e5c530c4919dc556cc2fa4a9f82";
        let line =
            format!("Claiming inbound HTLC id 0 with payment hash {hash} with preimage {preimage}");
        let redacted = redact_preimages(&line);
        assert!(!redacted.contains(preimage), "{redacted}");
        assert!(redacted.contains(hash), "hashes are not secrets");
        assert!(redacted.ends_with("preimage <redacted>"));
        assert_eq!(redact_preimages("nothing secret"), "nothing secret");
    }

    #[test]
    fn preimages_and_tokens_in_debug_output_never_reach_the_log() {
        let preimage = "3f7d1e70ea3caf153cff56e548697071ab673e5c530c4919dc556cc2fa4a9f82";
        let event = format!(
            "Handling event PaymentClaimable {{ purpose: Bolt11InvoicePayment {{ \
             payment_preimage: Some({preimage}), payment_secret: Some({preimage}) }} }}"
        );
        let redacted = redact_secrets(&event);
        assert!(!redacted.contains(preimage), "{redacted}");
        assert!(redacted.contains("payment_preimage: Some(<redacted>)"), "{redacted}");
        let message = concat!(
            r#"Enqueueing message RawLSPSMessage { payload: "{\"method\":\"lsps2.get_info\","#,
            r#"\"params\":{\"token\":\"s3cr3t\"}}" }"#
        );
        let redacted = redact_secrets(message);
        assert!(!redacted.contains("s3cr3t"), "{redacted}");
        assert!(redacted.contains(r#"{\"token\":\"<redacted>\"}"#), "{redacted}");
        let json = r#"{"params":{"token":"s3cr3t"},"token_count":1,"token": null}"#;
        assert_eq!(
            redact_secrets(json),
            r#"{"params":{"token":"<redacted>"},"token_count":1,"token": null}"#
        );
    }
}
