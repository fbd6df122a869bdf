//! The secrets searched for, derived as the wallet and the LSP derive them, and the search.

use super::*;

/// A string not to be found (`needle` in ASCII lower case), optionally only when followed by
/// `then_hex` hex digits, anywhere but in the log of `party` (a stock node that was party to
/// the payment whose preimage it is).
pub struct Secret {
    pub name: String,
    pub needle: String,
    pub then_hex: usize,
    pub party: Option<String>,
}

impl Secret {
    pub fn new(name: impl Into<String>, value: impl AsRef<str>) -> Secret {
        let needle = value.as_ref().to_ascii_lowercase();
        Secret { name: name.into(), needle, then_hex: 0, party: None }
    }

    pub fn hex(name: impl Into<String>, bytes: &[u8]) -> Secret {
        Secret::new(format!("{} (hex, any case)", name.into()), hex::encode(bytes))
    }

    /// The byte ranges of its occurrences in `lower` (an ASCII-lower-cased string).
    pub fn find(&self, lower: &str) -> Vec<(usize, usize)> {
        lower
            .match_indices(&self.needle)
            .map(|(at, _)| (at, at + self.needle.len()))
            .filter_map(|(at, end)| {
                let digits = lower[end..].bytes().take_while(u8::is_ascii_hexdigit).count();
                (digits >= self.then_hex).then_some((at, end + self.then_hex))
            })
            .collect()
    }
}

/// `text` with every secret replaced by `<REDACTED>`.
pub fn redacted(text: &str, secrets: &[Secret]) -> String {
    let mut text = text.to_string();
    loop {
        let lower = text.to_ascii_lowercase();
        let Some((at, end)) = secrets.iter().flat_map(|s| s.find(&lower)).min() else {
            return text;
        };
        // The needles are ASCII, so the byte ranges are character boundaries in `text` too.
        text.replace_range(at..end, "<REDACTED>");
    }
}

/// A secret's hits: how many strings, and the first of each source (redacted).
pub struct Hit {
    pub secret: String,
    pub count: usize,
    pub first_by_source: Vec<(String, String)>,
}

/// Every secret found in `strings` (`(source, text)` pairs), and how many strings of stock
/// nodes hold the preimages of their own payments (not searched there: see the module docs).
pub fn search(strings: &[(String, String)], secrets: &[Secret]) -> (Vec<Hit>, usize) {
    let mut own_preimages = 0;
    let mut hits: Vec<Hit> = secrets
        .iter()
        .map(|s| Hit { secret: s.name.clone(), count: 0, first_by_source: Vec::new() })
        .collect();
    for (source, text) in strings {
        let lower = text.to_ascii_lowercase();
        for (secret, hit) in secrets.iter().zip(hits.iter_mut()) {
            if secret.party.as_ref() == Some(source) {
                own_preimages += usize::from(!secret.find(&lower).is_empty());
            } else if !secret.find(&lower).is_empty() {
                hit.count += 1;
                if !hit.first_by_source.iter().any(|(s, _)| s == source) {
                    hit.first_by_source.push((source.clone(), redacted(text, secrets)));
                }
            }
        }
    }
    hits.retain(|h| h.count > 0);
    (hits, own_preimages)
}

/// HMAC-SHA256 keyed with `salt`, as ldk-node's VSS store derives its keys.
pub fn hkdf(material: &[u8], salt: &[u8]) -> [u8; 32] {
    let mut engine = HmacEngine::<sha256::Hash>::new(salt);
    engine.input(material);
    Hmac::from_engine(engine).to_byte_array()
}

/// The node secret key ldk-node derives from a 64-byte seed.
pub fn node_secret(seed: &[u8; 64]) -> SecretKey {
    let master = Xpriv::new_master(ldk_node::bitcoin::Network::Regtest, seed).unwrap();
    KeysManager::new(&master.private_key.secret_bytes(), 0, 0, true).get_node_secret_key()
}

/// The phone's secrets: its phrase and everything derived from it that a log must not show.
pub fn phone_secrets(
    phone_id: &str,
    secp: &Secp256k1<ldk_node::bitcoin::secp256k1::All>,
) -> Vec<Secret> {
    let mnemonic: Mnemonic = PHONE_MNEMONIC.parse().unwrap();
    let words: Vec<&str> = PHONE_MNEMONIC.split(' ').collect();
    let mut secrets = vec![
        Secret::new("the recovery phrase", PHONE_MNEMONIC),
        Secret::hex("the recovery phrase's entropy", &mnemonic.to_entropy()),
    ];
    for (i, run) in words.windows(3).enumerate() {
        let name = format!("recovery phrase words {}-{}", i + 1, i + 3);
        secrets.push(Secret::new(format!("{name} (space-separated)"), run.join(" ")));
        secrets.push(Secret::new(format!("{name} (as a Debug list)"), run.join("\", \"")));
    }
    let seed = mnemonic.to_seed("");
    secrets.push(Secret::hex("the BIP39 seed", &seed));
    let master = Xpriv::new_master(ldk_node::bitcoin::Network::Regtest, &seed).unwrap();
    secrets.push(Secret::new("the BIP32 master key (tprv)", master.to_string()));
    secrets
        .push(Secret::hex("the LDK seed (master private key)", &master.private_key.secret_bytes()));
    let node = node_secret(&seed);
    assert_eq!(node.public_key(secp).to_string(), phone_id, "the node key is derived right");
    secrets.push(Secret::hex("the phone's node secret key", &node.secret_bytes()));

    // The backup's keys (`doze_core::backup`): m/877' seals the objects (ldk-node's VSS
    // derivation), m/877'/2' signs in to the server.
    let vss = master.derive_priv(secp, &[ChildNumber::Hardened { index: 877 }]).unwrap();
    let vss_seed = vss.private_key.secret_bytes();
    let prk = hkdf(&vss_seed, b"pseudo_random_key");
    let data_key = hkdf(&prk, b"data_encryption_key");
    let obfuscation_key = hkdf(&prk, &[&data_key[..], b"obfuscation_key"].concat());
    let auth = vss.derive_priv(secp, &[ChildNumber::Hardened { index: 2 }]).unwrap();
    let auth_public = hex::encode(auth.private_key.public_key(secp).serialize());
    let expected = BackupAuth::from_mnemonic(PHONE_MNEMONIC, None, Network::Regtest).unwrap();
    assert_eq!(auth_public, expected.public_key_hex(), "the backup keys are derived right");
    secrets.extend([
        Secret::hex("the backup's VSS seed (m/877')", &vss_seed),
        Secret::hex("the backup encryption key", &data_key),
        Secret::hex("the backup key-obfuscation key", &obfuscation_key),
        Secret::hex("the backup sign-in key (m/877'/2')", &auth.private_key.secret_bytes()),
        Secret {
            // The header's value: the public key, a signature (64 bytes) and the time.
            name: "the backup server's Authorization credential (key and signature)".into(),
            needle: auth_public,
            then_hex: 128,
            party: None,
        },
    ]);
    secrets
}

/// The LSP's secrets: its seed file and the node key it signs pushes with.
pub fn lsp_secrets(lsp_dir: &std::path::Path, lsp_id: PublicKey) -> Vec<Secret> {
    let seed: [u8; 64] = std::fs::read(lsp_dir.join(SEED_FILE))
        .unwrap()
        .try_into()
        .unwrap_or_else(|s: Vec<u8>| panic!("the LSP's seed has {} bytes, not 64", s.len()));
    let key = node_secret(&seed);
    assert_eq!(key.public_key(&Secp256k1::new()), lsp_id, "the push key is derived right");
    vec![
        Secret::hex("the LSP's seed", &seed),
        Secret::hex("the LSP's push signing key (its node key)", &key.secret_bytes()),
        Secret::new("the LSP's operator token", OPERATOR_TOKEN),
        Secret::new("the LSP's LSPS2 token", LSPS2_TOKEN),
    ]
}

/// Every payment preimage a stock node knows, as a secret everywhere but in its own log.
pub fn preimages(node: &TestNode) -> Vec<Secret> {
    let payments: Vec<(String, String)> = node
        .list_payments()
        .into_iter()
        .filter_map(|p| match p.kind {
            PaymentKind::Bolt11 { hash, preimage: Some(preimage), .. }
            | PaymentKind::Bolt11Jit { hash, preimage: Some(preimage), .. }
            | PaymentKind::Spontaneous { hash, preimage: Some(preimage) } => {
                Some((hex::encode(hash.0), hex::encode(preimage.0)))
            }
            PaymentKind::Bolt12Offer { hash: Some(hash), preimage: Some(preimage), .. }
            | PaymentKind::Bolt12Refund { hash: Some(hash), preimage: Some(preimage), .. } => {
                Some((hex::encode(hash.0), hex::encode(preimage.0)))
            }
            _ => None,
        })
        .collect();
    payments
        .into_iter()
        .map(|(hash, preimage)| Secret {
            party: Some(format!("stock {}", node.name)),
            ..Secret::new(format!("the preimage of payment {hash}"), preimage)
        })
        .collect()
}
