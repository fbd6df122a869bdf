//! What the devnet says a wallet owns or has coming, worked out from the chain alone (its
//! Esplora API), to check a wallet's balances against. From the coins a test knows are the
//! phone's (an on-chain receive's output, and each channel's funding output with the phone's
//! share as the LSP's books have it), every transaction spending one of them is followed to the
//! phone's outputs it creates: a closing transaction's output of the phone's share, a commitment
//! transaction's timelocked output of it, a sweep's output, and the outputs of the wallet's own
//! transactions but those to addresses the test names as not the phone's. What is left unspent
//! is what the wallet owns or has coming. Assumes the LSP opened the channels (it pays the
//! closing and commitment fees, so the phone's output is exactly its share).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// The devnet's Esplora API, as a block explorer would show it.
pub struct Esplora {
    base: String,
    http: reqwest::blocking::Client,
}

impl Esplora {
    /// A reader of the Esplora API at `base` (`Devnet::esplora_url`).
    pub fn new(base: String) -> Esplora {
        Esplora { base, http: reqwest::blocking::Client::new() }
    }

    fn get(&self, path: &str) -> String {
        let url = format!("{}{path}", self.base);
        let response = self.http.get(&url).send().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(response.status().is_success(), "GET {url}: {}", response.status());
        response.text().unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    fn json(&self, path: &str) -> Value {
        let body = self.get(path);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// The transaction `txid` as Esplora's JSON (fee, status, inputs' prevouts, outputs).
    pub fn tx(&self, txid: &str) -> Value {
        self.json(&format!("/tx/{txid}"))
    }

    /// The transaction spending `txid:vout` (in a block or in the mempool), if any.
    pub fn spender(&self, txid: &str, vout: u32) -> Option<String> {
        let spend = self.json(&format!("/tx/{txid}/outspend/{vout}"));
        flag(&spend, "spent").then(|| text(&spend, "txid").to_string())
    }

    /// The height of the best block.
    pub fn tip(&self) -> u32 {
        let tip = self.get("/blocks/tip/height");
        tip.trim().parse().unwrap_or_else(|e| panic!("the tip height {tip:?}: {e}"))
    }
}

/// How the phone holds a coin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Held {
    /// Paid to the on-chain wallet.
    Wallet,
    /// A channel's funding output, of which `share` is the phone's.
    Channel {
        /// The phone's part of the channel.
        share: u64,
        /// Whether the test closes it cooperatively (else by force, from the phone).
        cooperative: bool,
    },
    /// The phone's output of its own commitment transaction, under the channel's timelock.
    Timelocked,
}

/// An output of the phone's, or one it has a share of.
#[derive(Clone, Debug)]
pub struct Coin {
    /// Its transaction.
    pub txid: String,
    /// Its index there.
    pub vout: u32,
    /// Its value.
    pub value: u64,
    /// How the phone holds it.
    pub held: Held,
}

impl Coin {
    /// What the coin is worth to the phone.
    pub fn worth(&self) -> u64 {
        match self.held {
            Held::Channel { share, .. } => share,
            Held::Wallet | Held::Timelocked => self.value,
        }
    }
}

/// A transaction that moved the phone's funds.
#[derive(Clone, Debug, PartialEq)]
pub struct Movement {
    /// Its txid.
    pub txid: String,
    /// What it is: "closing tx", "commitment tx", "sweep", "on-chain send", "anchor fee bump"
    /// (or what the test names its roots).
    pub what: &'static str,
    /// Its fee, whoever paid it.
    pub fee: u64,
    /// Its block's height, if in one.
    pub height: Option<u32>,
    /// What it changed in the phone's total (fees it paid, an anchor it took in).
    pub delta: i64,
    /// Whether it pays or spends the on-chain wallet (and so belongs in the history).
    pub in_wallet: bool,
}

/// What the devnet says the phone owns or has coming, and the movements that led there.
#[derive(Clone, Debug)]
pub struct Truth {
    /// What the phone owns or has coming, in sat.
    pub total: u64,
    /// The transactions that moved its funds, oldest first (those in the mempool last).
    pub movements: Vec<Movement>,
}

/// Where the phone's funds started: the coins the test knows are the phone's, and the
/// addresses it sends to that are not.
pub struct Ledger<'a> {
    /// The devnet.
    pub esplora: &'a Esplora,
    /// The phone's coins at the start.
    pub roots: Vec<Coin>,
    /// Addresses the phone pays that are not its own.
    pub external: HashSet<String>,
}

impl Ledger<'_> {
    /// Follows every spend of the phone's coins to the unspent ones.
    pub fn truth(&self) -> Truth {
        let mut todo = self.roots.clone();
        let mut total = 0;
        let mut txs: HashMap<String, (Value, Held)> = HashMap::new();
        let mut spent_into: HashMap<String, u64> = HashMap::new();
        while let Some(coin) = todo.pop() {
            let Some(spender) = self.esplora.spender(&coin.txid, coin.vout) else {
                total += coin.worth();
                continue;
            };
            *spent_into.entry(spender.clone()).or_default() += coin.worth();
            if txs.contains_key(&spender) {
                continue;
            }
            let tx = self.esplora.tx(&spender);
            todo.extend(self.phone_outputs(&tx, coin.held));
            txs.insert(spender, (tx, coin.held));
        }
        let mut movements: Vec<Movement> = txs
            .into_iter()
            .map(|(txid, (tx, held))| {
                let outputs: u64 = self.phone_outputs(&tx, held).iter().map(Coin::worth).sum();
                let (what, in_wallet) = match held {
                    Held::Channel { cooperative: true, .. } => ("closing tx", true),
                    Held::Channel { cooperative: false, .. } => ("commitment tx", false),
                    Held::Timelocked => ("sweep", true),
                    Held::Wallet if self.pays_external(&tx) => ("on-chain send", true),
                    Held::Wallet => ("anchor fee bump", true),
                };
                Movement {
                    delta: outputs as i64 - spent_into[&txid] as i64,
                    fee: number(&tx, "fee"),
                    height: height(&tx),
                    txid,
                    what,
                    in_wallet,
                }
            })
            .collect();
        movements.sort_by_key(|m| (m.height.unwrap_or(u32::MAX), m.what));
        Truth { total, movements }
    }

    fn pays_external(&self, tx: &Value) -> bool {
        outputs(tx).any(|(_, _, address)| self.external.contains(&address))
    }

    /// The outputs of `tx` that are the phone's, given that it spends a coin held as `held`.
    fn phone_outputs(&self, tx: &Value, held: Held) -> Vec<Coin> {
        let txid = text(tx, "txid").to_string();
        let coin = |(vout, value, _): (u32, u64, String), held| Coin {
            txid: txid.clone(),
            vout,
            value,
            held,
        };
        match held {
            // The wallet's own transactions pay it everything but what they send away; the
            // sweep pays it everything.
            Held::Wallet | Held::Timelocked => outputs(tx)
                .filter(|(_, _, address)| !self.external.contains(address))
                .map(|o| coin(o, Held::Wallet))
                .collect(),
            // The LSP opened the channel and pays the closing transaction's and the
            // commitment's fees: the phone's output is exactly its share.
            Held::Channel { share, cooperative } => {
                let mine: Vec<Coin> = outputs(tx)
                    .filter(|(_, value, _)| *value == share)
                    .map(|o| coin(o, if cooperative { Held::Wallet } else { Held::Timelocked }))
                    .collect();
                assert_eq!(mine.len(), 1, "one output of the phone's {share} sat in {tx:#}");
                mine
            }
        }
    }
}

/// The outputs of `tx`: index, value and address (empty for scripts without one).
pub fn outputs(tx: &Value) -> impl Iterator<Item = (u32, u64, String)> + '_ {
    let vout = tx["vout"].as_array().unwrap_or_else(|| panic!("no outputs in {tx}"));
    vout.iter().enumerate().map(|(index, output)| {
        let address = output["scriptpubkey_address"].as_str().unwrap_or_default().to_string();
        (index as u32, number(output, "value"), address)
    })
}

/// The height of the block `tx` is in, if it is in one.
pub fn height(tx: &Value) -> Option<u32> {
    let status = &tx["status"];
    flag(status, "confirmed").then(|| number(status, "block_height") as u32)
}

/// `value[key]` as a number; panics naming it if Esplora answered something else.
fn number(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or_else(|| panic!("{key} is not a number in {value}"))
}

/// `value[key]` as text; panics naming it if Esplora answered something else.
fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_else(|| panic!("{key} is not text in {value}"))
}

/// `value[key]` as a flag; panics naming it if Esplora answered something else.
fn flag(value: &Value, key: &str) -> bool {
    value[key].as_bool().unwrap_or_else(|| panic!("{key} is not a flag in {value}"))
}
