//! Entry points for the fuzz targets in `fuzz/` and for their corpus replay
//! (`tests/fuzz_corpora.rs`): each takes bytes a stranger controls and runs them through the
//! code that reads them in a real wallet. Not API: hidden from the docs, stable for nobody.
//!
//! An entry point panics only when the code under it breaks one of the invariants it checks
//! (a forged push accepted, a sealed object opening to other bytes, a decoded value that does
//! not encode back, an error message that runs on); every other outcome, any typed error
//! included, is a pass.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::lightning::blinded_path::Direction;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::routing::gossip::NodeId;
use ldk_node::lightning::util::message_signing;
use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;
use ldk_node::vss_client::types::{GetObjectResponse, ListKeyVersionsResponse};
use prost::Message;
use rusqlite::params;

use crate::config::ParsedLsp;
use crate::store::address_book::AddressBook;
use crate::store::backup::remote::{ObjectName, Remote};
use crate::store::backup::BackupAuth;
use crate::store::WalletDb;
use crate::{MnemonicError, Network};

/// The longest error message an entry point accepts from the code under it: messages quote
/// at most a short snippet of their input.
const MAX_MESSAGE_CHARS: usize = 400;

/// The mnemonic of the harness's backup keys (BIP39's all-zero test vector): no wallet's.
const TEST_MNEMONIC: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                             abandon abandon abandon about";

fn bounded(message: &str) {
    let chars = message.chars().count();
    assert!(chars <= MAX_MESSAGE_CHARS, "an error message of {chars} characters: {message}");
}

/// A payment string as pasted or scanned: [`crate::parse`] on every network. What
/// parses once parses again from the request it gave.
pub fn payment_input(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for network in [Network::Bitcoin, Network::Testnet, Network::Signet, Network::Regtest] {
        match crate::pay::parse::parse(text, network) {
            Ok(request) => {
                let canonical = format!("{request:?}");
                assert!(!canonical.is_empty());
            }
            Err(e) => bounded(&e.to_string()),
        }
    }
}

/// A recovery phrase as typed: [`crate::parse_mnemonic`]. A phrase that parses prints back to
/// one that parses to the same words; an error never quotes the phrase.
pub fn recovery_phrase(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match crate::parse_mnemonic(text) {
        Ok(mnemonic) => {
            let again = crate::parse_mnemonic(&mnemonic.to_string());
            assert_eq!(again.ok().map(|m| m.to_string()), Some(mnemonic.to_string()));
        }
        Err(e) => {
            // Every word of the message comes from the errors' own wording, so none can be a
            // word of the phrase (a phrase may itself contain "recovery phrase", so looking
            // for the phrase's words in the message would not tell).
            let message = e.to_string();
            bounded(&message);
            let wording = [
                MnemonicError::WrongWordCount { count: 0 },
                MnemonicError::UnknownWord { position: 0 },
                MnemonicError::BadChecksum,
            ]
            .map(|e| e.to_string())
            .join(" ");
            fn words(s: &str) -> Vec<String> {
                s.split(|c: char| !c.is_alphabetic())
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            let known = words(&wording).into_iter().collect::<HashSet<_>>();
            for word in words(&message) {
                assert!(known.contains(&word), "the error quotes {word:?}, not its own wording");
            }
        }
    }
}

/// The peer list a wake reads from ldk-node's store (`net/relay.rs`): what decodes encodes back
/// to bytes that decode to the same list.
pub fn peer_list(data: &[u8]) {
    if let Some(peers) = crate::net::relay::decode_peers(data) {
        let again = crate::net::relay::decode_peers(&crate::net::relay::encode_peers(&peers));
        assert_eq!(again.as_ref(), Some(&peers), "the peer list does not encode back");
    }
}

/// What the stateful entry points share: a wallet database, an address book and backup keys,
/// in a directory of the caller's.
pub struct Harness {
    lsp: ParsedLsp,
    lsp_secret: SecretKey,
    db: Mutex<WalletDb>,
    book: Mutex<(AddressBook, rusqlite::Connection)>,
    remote: Remote,
}

impl Harness {
    /// A harness keeping its databases in `dir` (best a RAM disk: every push is a write).
    pub fn new(dir: &Path) -> Harness {
        let secp = Secp256k1::new();
        let lsp_secret = SecretKey::from_slice(&[0x42; 32]).unwrap_or_else(|_| unreachable!());
        let lsp = ParsedLsp {
            node_id: PublicKey::from_secret_key(&secp, &lsp_secret),
            address: SocketAddress::from_str("127.0.0.1:9735").unwrap_or_else(|_| unreachable!()),
            token: None,
            api_url: None,
        };
        fn ready<T>(opened: Result<T, crate::WalletError>) -> T {
            opened.unwrap_or_else(|e| panic!("the harness cannot start: {e}"))
        }
        let db = ready(WalletDb::open(dir));
        let book = ready(AddressBook::open(dir));
        let raw = ready(crate::store::open(dir));
        let auth = ready(BackupAuth::from_mnemonic(TEST_MNEMONIC, None, Network::Regtest));
        let remote = Remote::new("http://127.0.0.1:1", "fuzz", [7; 32], Arc::new(auth));
        Harness { lsp, lsp_secret, db: Mutex::new(db), book: Mutex::new((book, raw)), remote }
    }

    /// A push as the extension receives it. The first byte picks the shape: even, raw bytes
    /// (`name: value` header lines, a blank line, then the payload), which must never be
    /// accepted, since nobody but the LSP can sign; odd, the rest as the payload of a push the
    /// LSP really signed now, which is accepted once (if it asks for a wake) and refused as a
    /// replay the second time. Returns whether it was accepted.
    pub fn push_notification(&self, data: &[u8]) -> bool {
        let Some((&mode, rest)) = data.split_first() else { return false };
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if mode % 2 == 0 {
            let split = rest.windows(2).position(|w| w == b"\n\n");
            let (head, payload) = match split {
                Some(at) => (&rest[..at], &rest[at + 2..]),
                None => (rest, &[][..]),
            };
            let headers: HashMap<String, String> = String::from_utf8_lossy(head)
                .lines()
                .filter_map(|line| line.split_once(':'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            match crate::wake::verify_push(&self.lsp, payload, &headers, &db) {
                Ok(_) => panic!("a push nobody signed was accepted"),
                Err(e) => bounded(&e.to_string()),
            }
            return false;
        }
        let Ok(notification) = serde_json::from_slice::<WebhookNotification>(rest) else {
            return false;
        };
        let Ok(json) = serde_json::to_string(&notification) else { return false };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let timestamp = LSPSDateTime::new_from_duration_since_epoch(now).to_rfc3339();
        let message = format!(
            "LSPS5: DO NOT SIGN THIS MESSAGE MANUALLY: LSP: At {timestamp} I notify {json}"
        );
        let signature = message_signing::sign(message.as_bytes(), &self.lsp_secret);
        let headers = HashMap::from([
            ("x-lsps5-timestamp".to_string(), timestamp),
            ("x-lsps5-signature".to_string(), signature),
        ]);
        let first = crate::wake::verify_push(&self.lsp, json.as_bytes(), &headers, &db);
        let second = crate::wake::verify_push(&self.lsp, json.as_bytes(), &headers, &db);
        let accepted = first.is_ok();
        if accepted {
            assert!(second.is_err(), "a replayed push was accepted");
        }
        for outcome in [first, second] {
            if let Err(e) = outcome {
                bounded(&e.to_string());
            }
        }
        accepted
    }

    /// A row of the address book as a wake reads it back: the first 33 bytes the node id,
    /// the next 8 a channel id, the rest the addresses column (text if UTF-8, else a blob, as
    /// a damaged or foreign file may hold). Reading gives addresses that print and parse back,
    /// or a typed error; never a panic.
    pub fn address_book_row(&self, data: &[u8]) {
        if data.len() < 41 {
            return;
        }
        let (key, rest) = data.split_at(33);
        let (scid, addresses) = rest.split_at(8);
        let scid = u64::from_le_bytes(scid.try_into().unwrap_or_else(|_| unreachable!()));
        let guard = self.book.lock().unwrap_or_else(|p| p.into_inner());
        let (book, raw) = &*guard;
        let stored = match std::str::from_utf8(addresses) {
            Ok(text) => raw.execute(
                "INSERT OR REPLACE INTO node_addresses (node_id, addresses, updated_at) \
                 VALUES (?1, ?2, 0)",
                params![key, text],
            ),
            Err(_) => raw.execute(
                "INSERT OR REPLACE INTO node_addresses (node_id, addresses, updated_at) \
                 VALUES (?1, ?2, 0)",
                params![key, addresses],
            ),
        };
        let ends = raw.execute(
            "INSERT OR REPLACE INTO channel_ends (scid, node_one, node_two) VALUES (?1, ?2, ?3)",
            params![scid as i64, key, addresses],
        );
        if stored.is_err() || ends.is_err() {
            return;
        }
        if let Ok(node_id) = PublicKey::from_slice(key) {
            match book.lookup(&node_id) {
                Ok(found) => {
                    // Compared as printed: LDK reads "1.2.3.4:+5" as a host name that prints
                    // as the IPv4 address it names, the same place to connect to.
                    for address in found {
                        let printed = address.to_string();
                        let again = SocketAddress::from_str(&printed).map(|a| a.to_string());
                        assert_eq!(again.ok(), Some(printed), "an address does not print back");
                    }
                }
                Err(e) => bounded(&e.to_string()),
            }
        }
        for direction in [Direction::NodeOne, Direction::NodeTwo] {
            match book.channel_end(scid, direction) {
                Ok(Some(end)) => assert_eq!(NodeId::from_pubkey(&end).as_slice().len(), 33),
                Ok(None) => {}
                Err(e) => bounded(&e.to_string()),
            }
        }
    }

    /// What a backup server answers, read as the wallet reads it: as an object (`GetObject`'s
    /// protobuf), as a page of names (`ListKeyVersions`'), and as a sealed value under a known
    /// name. A value the wallet did not seal never opens; one it sealed from these bytes opens
    /// to exactly them, and only under its own name.
    pub fn backup_object(&self, data: &[u8]) {
        if let Ok(answer) = GetObjectResponse::decode(data) {
            let key = answer.value.as_ref().map(|v| v.key.clone()).unwrap_or_default();
            match self.remote.value_of(&key, answer) {
                Ok(_) => panic!("a value the wallet did not seal was opened"),
                Err(e) => bounded(&e.to_string()),
            }
        }
        if let Ok(page) = ListKeyVersionsResponse::decode(data) {
            match self.remote.names_in(&page) {
                Ok(names) => {
                    for name in names {
                        let key = self.remote.store_key(&name);
                        assert_eq!(self.remote.object_name(&key), Some(name), "not mapped back");
                    }
                }
                Err(e) => bounded(&e.to_string()),
            }
        }
        // A name as ldk-node makes them: characters of its key alphabet only.
        let alphabet = |bytes: &[u8]| -> String {
            const KEY_ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
            bytes
                .iter()
                .map(|b| KEY_ALPHABET[usize::from(*b) % KEY_ALPHABET.len()] as char)
                .collect()
        };
        let half = data.len() / 2;
        let name = ObjectName::new(
            &alphabet(&data[..half.min(16)]),
            "",
            &format!("k{}", alphabet(&data[half.min(16)..half])),
        );
        let key = self.remote.store_key(&name);
        assert_eq!(self.remote.object_name(&key).as_ref(), Some(&name), "a name does not map back");
        let sealed = self.remote.seal(&key, data.to_vec());
        let opened = self.remote.open(&key, &sealed);
        assert_eq!(opened.as_deref().ok(), Some(data), "a sealed value opened to other bytes");
        let elsewhere = self.remote.store_key(&ObjectName::new("other", "", "name"));
        assert!(
            self.remote.open(&elsewhere, &sealed).is_err(),
            "a value opened under another name"
        );
    }
}
