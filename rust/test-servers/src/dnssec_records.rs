//! The DNSSEC records of a real BIP 353 name, `matt@mattcorallo.com`, as recorded in
//! `dnssec-prover` 0.6.10's tests (`src/validation.rs`): the root's, `com.`'s and
//! `mattcorallo.com.`'s keys and delegations, and the name's TXT records, each with its
//! signature. Their signatures are valid between 1785988800 and 1786415920 (August 2026);
//! the offer in the payment record is for mainnet.

// As recorded upstream (vectors of records), so that it can be compared line by line.
#![allow(clippy::useless_vec)]

use base64::Engine as _;
use dnssec_prover::rr::{DnsKey, RRSig, Txt, DS, RR};

/// A moment inside every recorded signature's validity window (seconds since the epoch).
pub const VALID_AT: u64 = 1_786_200_000;

/// The name whose records these are, as BIP 353 writes it.
pub const NAME: &str = "matt@mattcorallo.com";

/// The records as one RFC 9102 proof (what a proof builder collects), for a verifier.
pub fn proof(tampered: bool) -> Vec<u8> {
    let mut proof = Vec::new();
    for record in all(tampered) {
        dnssec_prover::ser::write_rr(&record, 3600, &mut proof);
    }
    proof
}

fn b64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD.decode(text)
}

fn hexd(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    hex::decode(text)
}

/// Every recorded record. With `tampered`, the payment record's address is changed after it
/// was signed (its signature no longer matches).
pub fn all(tampered: bool) -> Vec<RR> {
    let mut records = Vec::new();
    records.extend(root_dnskey().1);
    records.extend(com_dnskey().1);
    records.extend(mattcorallo_dnskey().1);
    let (mut txts, rrsig) = mattcorallo_txt_record();
    if tampered {
        let forged = "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
        txts[1].data = forged.try_into().expect("a TXT record");
    }
    records.extend(txts.into_iter().map(RR::from));
    records.push(RR::from(rrsig));
    records
}

fn root_dnskey() -> (Vec<DnsKey>, Vec<RR>) {
    let dnskeys = vec![
        DnsKey {
            name: ".".try_into().expect("recorded"),
            flags: 256,
            protocol: 3,
            alg: 8,
            pubkey: b64(concat!(
                "AwEAAeCYD6Z7WWKVLeuWgowKP+3g+Gs1cnLKq7a3CaQxQpv8bfuFVI0WnG33",
                "qaSH/Mw9IBgifrdzf4XY/DQLnyBJ9MfaOyAWuEaEmYJ+GQPiwVVfstGwSA1M",
                "cfFJUttTgq2Huu74KARhtA8wPo/N3XcyYQtNhz+qCM5NBb3ecx/naw6sYab9",
                "LxS6f2cU0q03++BP5Ks0Uef8WJCa/1izCYE+vMkwoltV+tENa3hpXiZ7jle/",
                "xdgaZrPi5ZGmyLVI34g1XVYrNlsCCTmNvFQIfzW5STFQFsQpizczyFn9r3Lz",
                "SxxPCNwdlCG84bER0BmdwqbF6Tanv+FxMOavrahkj4wIy5k="
            ))
            .expect("recorded"),
        },
        DnsKey {
            name: ".".try_into().expect("recorded"),
            flags: 257,
            protocol: 3,
            alg: 8,
            pubkey: b64(concat!(
                "AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4R",
                "gWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROx",
                "VQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3",
                "rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6",
                "H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM",
                "8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU="
            ))
            .expect("recorded"),
        },
        DnsKey {
            name: ".".try_into().expect("recorded"),
            flags: 257,
            protocol: 3,
            alg: 8,
            pubkey: b64(concat!(
                "AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidlt",
                "pkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx",
                "4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+siFUiRAAxm9qy",
                "JNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB+ZOT4Y",
                "eGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyv",
                "aBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc="
            ))
            .expect("recorded"),
        },
    ];
    let dnskey_rrsig = RRSig {
        name: ".".try_into().expect("recorded"),
        ty: 48,
        alg: 8,
        labels: 0,
        orig_ttl: 172800,
        expiration: 1787270400,
        inception: 1785456000,
        key_tag: 20326,
        key_name: ".".try_into().expect("recorded"),
        signature: b64(concat!(
            "kKpaPEyKDhNNs9rizpyOEcK2Nwg04lOQEeUgL175fR1W7zTzCo96Lpf5xuMe",
            "N9vZKHq362Yi6pX11BeCL5JejRJ0q4OflNu2jkjZpqW4JWNeim0gaJxd2fg8",
            "MMh7qg9gZnMfFLzK8y2Hudve+JF3LD/MjIPpdPd/GEISqynmOLYxNmol2eKM",
            "diDJ3RNxVTfzmEo8QqXGGDEozWf5pM9XvTa22LLJ37NHblwT0eeHnhxKwt5q",
            "4RH7YabmC2NlUge5R/GoCQD0WJdmi139O7DyyRDa1YEHSPigdLDRjXuAmw1a",
            "cBrLbmvS7F9j1Zbc2Mm1MO924z6z9L3GXPlaSV1NJw=="
        ))
        .expect("recorded"),
    };
    let rrs = vec![
        dnskeys[0].clone().into(),
        dnskeys[1].clone().into(),
        dnskeys[2].clone().into(),
        dnskey_rrsig.into(),
    ];
    (dnskeys, rrs)
}

fn com_dnskey() -> (Vec<DnsKey>, Vec<RR>) {
    let mut com_ds = vec![DS {
        name: "com.".try_into().expect("recorded"),
        key_tag: 19718,
        alg: 13,
        digest_type: 2,
        digest: hexd("8ACBB0CD28F41250A80A491389424D341522D946B0DA0C0291F2D3D771D7805A")
            .expect("recorded"),
    }];
    let ds_rrsig = RRSig {
        name: "com.".try_into().expect("recorded"),
        ty: 43,
        alg: 8,
        labels: 1,
        orig_ttl: 86400,
        expiration: 1787115600,
        inception: 1785988800,
        key_tag: 57780,
        key_name: ".".try_into().expect("recorded"),
        signature: b64(concat!(
            "n8/OgzlB4FN+3Qmdv+U7tVrHXIRumf2fqRXun1TQW4GUwQr7RMFLiYuymzog",
            "8chIA+7RsIkTMTNmV2FezFqGWtl2/Kp1PSTtdEKgziLDtXz2em0KZmvoOdm/",
            "uH+37wRtgK91HdVXpKKhESp4zGYZKBQP1oMZQ4hsCHndZrIh7sHgmp7b7lyp",
            "bqrPFSlDm71VZsYpEXKF+3nD3CUD3S0spCHkS5StcXNfxZGDyr/UBX3/gYWP",
            "yX9VU3zcHfShOckX+QLIKqtbbXzM8/LjMwZHnZdehv156JQzOJRoGGrhDlKZ",
            "6L5C5PPXVRi6JthP+bwGRFWeJ9/yyWbH6o/RtUJdLg=="
        ))
        .expect("recorded"),
    };
    let dnskeys = vec![
        DnsKey {
            name: "com.".try_into().expect("recorded"),
            flags: 256,
            protocol: 3,
            alg: 13,
            pubkey: b64(concat!(
                "o6onp+t66olg3PFhuIXaaatogT3OrqHrqt48IkYGuxwW8tSnQVMGyO+TSmp8",
                "sTRtkD9km+N/VQvvtqVM8ra9/Q=="
            ))
            .expect("recorded"),
        },
        DnsKey {
            name: "com.".try_into().expect("recorded"),
            flags: 257,
            protocol: 3,
            alg: 13,
            pubkey: b64(concat!(
                "tx8EZRAd2+K/DJRV0S+hbBzaRPS/G6JVNBitHzqpsGlz8huE61Ms9ANe6NSD",
                "LKJtiTBqfTJWDAywEp1FCsEINQ=="
            ))
            .expect("recorded"),
        },
    ];
    let dnskey_rrsig = RRSig {
        name: "com.".try_into().expect("recorded"),
        ty: 48,
        alg: 13,
        labels: 1,
        orig_ttl: 86400,
        expiration: 1787234555,
        inception: 1785938255,
        key_tag: 19718,
        key_name: "com.".try_into().expect("recorded"),
        signature: b64(concat!(
            "+mh5ldazL68oULmaud6VQrHXYpcjbUZ8sJLBlc8HWf4jaB7TXCSsnUCQhxpZ",
            "9wtemVxj7TptSGsAhHXEvrgpvw=="
        ))
        .expect("recorded"),
    };
    let rrs = vec![
        com_ds.pop().expect("recorded").into(),
        ds_rrsig.into(),
        dnskeys[0].clone().into(),
        dnskeys[1].clone().into(),
        dnskey_rrsig.into(),
    ];
    (dnskeys, rrs)
}

fn mattcorallo_dnskey() -> (Vec<DnsKey>, Vec<RR>) {
    let mattcorallo_ds = vec![
        DS {
            name: "mattcorallo.com.".try_into().expect("recorded"),
            key_tag: 9033,
            alg: 13,
            digest_type: 2,
            digest: hexd("282511C1378832188575A172F29A89C09AC28C826FC4FE78534D4C6DF5EED2F0")
                .expect("recorded"),
        },
        DS {
            name: "mattcorallo.com.".try_into().expect("recorded"),
            key_tag: 58101,
            alg: 13,
            digest_type: 2,
            digest: hexd("F0E161567D468087FF27B051ABC94476178A7CB635DA1AA705E05C77CA81DE52")
                .expect("recorded"),
        },
    ];
    let ds_rrsig = RRSig {
        name: "mattcorallo.com.".try_into().expect("recorded"),
        ty: 43,
        alg: 13,
        labels: 2,
        orig_ttl: 86400,
        expiration: 1786415920,
        inception: 1785806920,
        key_tag: 41446,
        key_name: "com.".try_into().expect("recorded"),
        signature: b64(concat!(
            "e0j29NIzuHAvtSKf04LKShm2vVOiwkKlluoXyTsq9yB+prqyJ/RTU4Na/ZBH",
            "uH0ygnQUET6C5SEaQuM5gUd9+w=="
        ))
        .expect("recorded"),
    };
    let dnskeys = vec![
        DnsKey {
            name: "mattcorallo.com.".try_into().expect("recorded"),
            flags: 256,
            protocol: 3,
            alg: 13,
            pubkey: b64(concat!(
                "eEAgU/iS8VR7ubg5lArqTACdBHxK8ERx5TpTWCw9wc25pe2JiN0/iN3QgfmO",
                "Bs6AUpVu+iF36abdUdct/TRLjQ=="
            ))
            .expect("recorded"),
        },
        DnsKey {
            name: "mattcorallo.com.".try_into().expect("recorded"),
            flags: 256,
            protocol: 3,
            alg: 13,
            pubkey: b64(concat!(
                "yPAeYPanlAxAHZ9rb7LAqP2LrTZYVhECybfwXqn84b1kvhtBCS22I++mTIcY",
                "d681BKwv6WazOi03h8se5mK/KA=="
            ))
            .expect("recorded"),
        },
        DnsKey {
            name: "mattcorallo.com.".try_into().expect("recorded"),
            flags: 257,
            protocol: 3,
            alg: 13,
            pubkey: b64(concat!(
                "yN2riWFvCTElBchzLyt0U1RjCcXW+evRcq7Ap5EU6gOacleOXft49H2oQDcR",
                "qK6C/dJDPbZ52EB5C1WlIYDY4Q=="
            ))
            .expect("recorded"),
        },
    ];
    let dnskey_rrsig = RRSig {
        name: "mattcorallo.com.".try_into().expect("recorded"),
        ty: 48,
        alg: 13,
        labels: 2,
        orig_ttl: 604800,
        expiration: 1787071850,
        inception: 1785856850,
        key_tag: 9033,
        key_name: "mattcorallo.com.".try_into().expect("recorded"),
        signature: b64(concat!(
            "njvuObzGh/mdUjX5mmJKI+hw7ByPlKe6OKI5m/zhQloLXEg9DUxgS2ShV+tw",
            "WZuuun5x7RXs1FzEIHxf8W6ikQ=="
        ))
        .expect("recorded"),
    };
    let rrs = vec![
        mattcorallo_ds[0].clone().into(),
        mattcorallo_ds[1].clone().into(),
        ds_rrsig.into(),
        dnskeys[0].clone().into(),
        dnskeys[1].clone().into(),
        dnskeys[2].clone().into(),
        dnskey_rrsig.into(),
    ];
    (dnskeys, rrs)
}

fn mattcorallo_txt_record() -> (Vec<Txt>, RRSig) {
    let txts = vec![
        Txt {
            name: "matt.user._bitcoin-payment.mattcorallo.com.".try_into().expect("recorded"),
            data: "as long as it doesn't start with bitcoin:, other records should be ignored"
                .try_into()
                .expect("recorded"),
        },
        Txt {
            name: "matt.user._bitcoin-payment.mattcorallo.com.".try_into().expect("recorded"),
            data: concat!(
                "bitcoin:bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l?lno=lno1z",
                "r5qyugqgskrk70kqmuq7v3dnr2fnmhukps9n8hut48vkqpqnskt2svsqwjak",
                "p7k6pyhtkuxw7y2kqmsxlwruhzqv0zsnhh9q3t9xhx39suc6qsr07ekm5esd",
                "yum0w66mnx8vdquwvp7dp5jp7j3v5cp6aj0w329fnkqqv60q96sz5nkrc5r9",
                "5qffx002q53tqdk8x9m2tmt85jtpmcycvfnrpx3lr45h2g7na3sec7xguctf",
                "zzcm8jjqtj5ya27te60j03vpt0vq9tm2n9yxl2hngfnmygesa25s4u4zlxew",
                "qpvp94xt7rur4rhxunwkthk9vly3lm5hh0pqv4aymcqejlgssnlpzwlggykk",
                "ajp7yjs5jvr2agkyypcdlj280cy46jpynsezrcj2kwa2lyr8xvd6lfkph4xr",
                "xtk2xc3lpq"
            )
            .try_into()
            .expect("recorded"),
        },
    ];
    let txt_rrsig = RRSig {
        name: "matt.user._bitcoin-payment.mattcorallo.com.".try_into().expect("recorded"),
        ty: 16,
        alg: 13,
        labels: 5,
        orig_ttl: 3600,
        expiration: 1787055757,
        inception: 1785840757,
        key_tag: 41141,
        key_name: "mattcorallo.com.".try_into().expect("recorded"),
        signature: b64(concat!(
            "u1Sl6uNJvSZcxoEsew6/MM7GI8smdPkuDSS26t8tEiFece6d8ezI6wcalSbk",
            "LKObXeUmdbW5lHZjnBKkUck3MA=="
        ))
        .expect("recorded"),
    };
    (txts, txt_rrsig)
}
