//! The miner fee of on-chain sends: a rate the user picks, or how soon it should confirm, at
//! the rate the chain source estimates for that (Esplora's `/fee-estimates`, Electrum's
//! `blockchain.estimatefee`), checked against what the network relays and what confirming
//! needs. ldk-node 0.7.1 keeps its own estimates private, so the wallet asks the chain source
//! itself, as ldk-node does.

use std::collections::BTreeMap;
use std::time::Duration;

use electrum_client::{ConfigBuilder, ElectrumApi};
use ldk_node::bitcoin::FeeRate;

use crate::config::ChainSource;
use crate::error::WalletError;
use crate::pay::quote::SendQuote;
use crate::pay::send::{msat_of, parse_address};
use crate::wallet::Wallet;

/// How soon an on-chain send should confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum FeeTarget {
    /// In the next block (about 10 minutes).
    NextBlock,
    /// Within 6 blocks, about an hour.
    OneHour,
    /// Within 144 blocks, about a day: the cheapest.
    Economy,
}

impl FeeTarget {
    /// The confirmation target in blocks, as the chain source takes it.
    fn blocks(self) -> u16 {
        match self {
            FeeTarget::NextBlock => 1,
            FeeTarget::OneHour => 6,
            FeeTarget::Economy => 144,
        }
    }
}

/// The miner fee of an on-chain send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum OnchainFee {
    /// A rate the user chose, in sat per virtual byte: at least 1 (what the network relays)
    /// and at most ten times the next block's rate (or 20 sat/vB when that is more), so that
    /// a slip of the finger cannot pay many times the fee needed.
    Rate {
        /// Satoshis per virtual byte.
        sat_per_vb: u64,
    },
    /// The chain source's estimate for `target` when the transaction is made (never below
    /// 1 sat/vB).
    Target {
        /// How soon it should confirm.
        target: FeeTarget,
    },
}

/// The chain source's fee rates now, in sat per virtual byte (fractions allowed), for each
/// [`FeeTarget`]. A target the chain source has no estimate for reads as the nearest faster
/// one's; none at all (a quiet regtest or signet server) reads as 1 sat/vB, the least the
/// network relays, as ldk-node reads it. Never below 1 sat/vB.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct OnchainFeeEstimates {
    /// To confirm in the next block.
    pub next_block_sat_per_vb: f64,
    /// To confirm within about an hour (6 blocks).
    pub one_hour_sat_per_vb: f64,
    /// To confirm within about a day (144 blocks).
    pub economy_sat_per_vb: f64,
}

impl OnchainFeeEstimates {
    /// The estimate for `target`.
    fn for_target(&self, target: FeeTarget) -> f64 {
        match target {
            FeeTarget::NextBlock => self.next_block_sat_per_vb,
            FeeTarget::OneHour => self.one_hour_sat_per_vb,
            FeeTarget::Economy => self.economy_sat_per_vb,
        }
    }

    /// From a chain source's answers, `(blocks, sat/vB)`: as ldk-node reads Esplora's, the
    /// answer for the largest target at or below ours (the fastest otherwise), and 1 sat/vB
    /// where there is none.
    fn from_answers(answers: &BTreeMap<u16, f64>) -> OnchainFeeEstimates {
        let pick = |target: FeeTarget| {
            let blocks = target.blocks();
            answers
                .range(..=blocks)
                .next_back()
                .or_else(|| answers.iter().next())
                .map(|(_, rate)| *rate)
                .filter(|rate| rate.is_finite() && *rate >= MIN_SAT_PER_VB as f64)
                .unwrap_or(MIN_SAT_PER_VB as f64)
        };
        OnchainFeeEstimates {
            next_block_sat_per_vb: pick(FeeTarget::NextBlock),
            one_hour_sat_per_vb: pick(FeeTarget::OneHour),
            economy_sat_per_vb: pick(FeeTarget::Economy),
        }
    }
}

/// The least fee rate bitcoind relays by default (Core up to 29.0), and the devnet.
const MIN_SAT_PER_VB: u64 = 1;
/// How many times the next block's rate a chosen rate may be: beyond it the rate buys nothing
/// but a larger fee, and is a typing slip (an extra zero, sat/kvB for sat/vB).
const ABSURD_FACTOR: u64 = 10;
/// Rates up to this are never refused as too high: with low estimates ten times is still
/// a small fee, and a user may well want it.
const NEVER_ABSURD_SAT_PER_VB: u64 = 20;
/// How long asking the chain source for its estimates may take.
const ESTIMATES_TIMEOUT: Duration = Duration::from_secs(10);

/// The rate `fee` stands for with these `estimates`, or why it is refused.
pub(crate) fn fee_rate(
    fee: OnchainFee,
    estimates: &OnchainFeeEstimates,
) -> Result<FeeRate, WalletError> {
    match fee {
        OnchainFee::Rate { sat_per_vb } => {
            if sat_per_vb < MIN_SAT_PER_VB {
                return Err(WalletError::InvalidFeeRate(format!(
                    "{sat_per_vb} sat/vB is below {MIN_SAT_PER_VB} sat/vB, the least the network \
                     relays"
                )));
            }
            let next_block = estimates.next_block_sat_per_vb;
            let ceiling = (next_block * ABSURD_FACTOR as f64).max(NEVER_ABSURD_SAT_PER_VB as f64);
            if sat_per_vb as f64 > ceiling {
                return Err(WalletError::InvalidFeeRate(format!(
                    "{sat_per_vb} sat/vB is more than {ABSURD_FACTOR} times what the next block \
                     needs ({next_block:.1} sat/vB): the fee would be far more than confirming \
                     takes; check the rate"
                )));
            }
            FeeRate::from_sat_per_vb(sat_per_vb)
                .ok_or_else(|| WalletError::InvalidFeeRate(format!("{sat_per_vb} sat/vB")))
        }
        OnchainFee::Target { target } => {
            let rate = estimates.for_target(target).max(MIN_SAT_PER_VB as f64);
            // 1 vB is 4 weight units: sat/vB × 250 is sat per 1000 weight units. Rounded up,
            // so that the transaction never pays less than the estimate.
            Ok(FeeRate::from_sat_per_kwu((rate * 250.0).ceil() as u64))
        }
    }
}

async fn esplora_answers(url: String) -> Result<BTreeMap<u16, f64>, String> {
    let url = format!("{}/fee-estimates", url.trim_end_matches('/'));
    let answer = async {
        let client = reqwest::Client::builder().timeout(ESTIMATES_TIMEOUT).build()?;
        let response = client.get(&url).send().await?.error_for_status()?;
        response.json::<std::collections::HashMap<String, f64>>().await
    };
    let answers = answer.await.map_err(|e| format!("cannot read fee estimates at {url}: {e}"))?;
    // Keys are targets in blocks; anything else is skipped, not fatal.
    Ok(answers.into_iter().filter_map(|(k, v)| Some((k.parse().ok()?, v))).collect())
}

/// Electrum answers in BTC per 1000 vB, and -1 where it has no estimate.
fn electrum_answers(url: &str) -> Result<BTreeMap<u16, f64>, String> {
    let timeout = u8::try_from(ESTIMATES_TIMEOUT.as_secs()).unwrap_or(u8::MAX);
    let config = ConfigBuilder::new().timeout(Some(timeout)).retry(1).build();
    let targets = [FeeTarget::NextBlock, FeeTarget::OneHour, FeeTarget::Economy];
    let blocks: Vec<usize> = targets.iter().map(|t| usize::from(t.blocks())).collect();
    let rates = electrum_client::Client::from_config(url, config)
        .and_then(|client| client.batch_estimate_fee(blocks))
        .map_err(|e| format!("cannot read fee estimates from {url}: {e}"))?;
    Ok(targets
        .iter()
        .zip(rates)
        .filter(|(_, btc_per_kvb)| *btc_per_kvb > 0.0)
        .map(|(target, btc_per_kvb)| (target.blocks(), btc_per_kvb * 100_000.0))
        .collect())
}

impl Wallet {
    /// The fee rates the chain source estimates now for each [`FeeTarget`], to show the
    /// choices of an on-chain send. Works whether or not the wallet runs;
    /// [`WalletError::ChainSync`] if the chain source cannot be reached.
    pub async fn onchain_fee_estimates(&self) -> Result<OnchainFeeEstimates, WalletError> {
        let answers = match self.inner.config.chain_source.clone() {
            ChainSource::Esplora { url } => self.on_runtime(esplora_answers(url)).await?,
            ChainSource::Electrum { url } => {
                self.blocking(move |_| Ok(electrum_answers(&url))).await?
            }
        };
        answers.map(|a| OnchainFeeEstimates::from_answers(&a)).map_err(WalletError::ChainSync)
    }

    /// The rate `fee` stands for now, checked (see [`OnchainFee`]).
    pub(crate) async fn onchain_fee_rate(&self, fee: OnchainFee) -> Result<FeeRate, WalletError> {
        fee_rate(fee, &self.onchain_fee_estimates().await?)
    }

    /// Prices an on-chain send of `amount_sat` to `address` (an address or a `bitcoin:` URI),
    /// or of everything spendable when `None`, at the miner fee `fee`: the quote
    /// [`Wallet::send`] pays, with `fee` in [`SendQuote::onchain_fee`]. A rate out of range is
    /// [`WalletError::InvalidFeeRate`]; a target's rate is taken again when sending.
    pub async fn prepare_send_onchain(
        &self,
        address: &str,
        amount_sat: Option<u64>,
        fee: OnchainFee,
    ) -> Result<SendQuote, WalletError> {
        let address = parse_address(address, self.inner.config.network)?.to_string();
        self.onchain_fee_rate(fee).await?;
        let mut quote = match amount_sat {
            None => self.prepare_send_max(&address, None)?,
            Some(sat) => self.prepare_send(&address, Some(msat_of(sat)?), None)?,
        };
        quote.onchain_fee = Some(fee);
        Ok(quote)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};

    use super::*;

    fn estimates(next_block: f64) -> OnchainFeeEstimates {
        OnchainFeeEstimates {
            next_block_sat_per_vb: next_block,
            one_hour_sat_per_vb: 3.4,
            economy_sat_per_vb: 1.0,
        }
    }

    #[test]
    fn each_target_reads_the_answer_at_or_below_it() {
        let answers = BTreeMap::from([(2, 30.0), (6, 8.5), (24, 4.0), (504, 0.5)]);
        let e = OnchainFeeEstimates::from_answers(&answers);
        // No answer for 1 block: the fastest there is.
        assert_eq!(e, estimates(30.0).with(8.5, 4.0));
        let none = OnchainFeeEstimates::from_answers(&BTreeMap::new());
        assert_eq!(none, estimates(1.0).with(1.0, 1.0), "nothing known reads as 1 sat/vB");
        let low = OnchainFeeEstimates::from_answers(&BTreeMap::from([(1, 0.2)]));
        assert_eq!(low.next_block_sat_per_vb, 1.0, "never below what bitcoind relays");
    }

    impl OnchainFeeEstimates {
        fn with(self, one_hour: f64, economy: f64) -> Self {
            OnchainFeeEstimates {
                one_hour_sat_per_vb: one_hour,
                economy_sat_per_vb: economy,
                ..self
            }
        }
    }

    #[test]
    fn chosen_rates_must_be_relayed_and_not_absurd() {
        let e = estimates(12.0);
        let rate = |sat_per_vb| fee_rate(OnchainFee::Rate { sat_per_vb }, &e);
        assert_eq!(rate(7).unwrap(), FeeRate::from_sat_per_kwu(7 * 250));
        assert_eq!(rate(120).unwrap(), FeeRate::from_sat_per_kwu(120 * 250));
        let Err(WalletError::InvalidFeeRate(m)) = rate(0) else { panic!("0 sat/vB accepted") };
        assert!(m.contains("below 1 sat/vB"), "{m}");
        let Err(WalletError::InvalidFeeRate(m)) = rate(121) else { panic!("121 accepted") };
        assert!(m.contains("12.0 sat/vB"), "{m}");
        // Low estimates never refuse a modest rate.
        let quiet = estimates(1.0);
        assert!(fee_rate(OnchainFee::Rate { sat_per_vb: 20 }, &quiet).is_ok());
        assert!(fee_rate(OnchainFee::Rate { sat_per_vb: 21 }, &quiet).is_err());
    }

    #[test]
    fn targets_pay_their_estimate_rounded_up() {
        let e = estimates(12.0);
        let target = |target| fee_rate(OnchainFee::Target { target }, &e).unwrap();
        assert_eq!(target(FeeTarget::NextBlock), FeeRate::from_sat_per_kwu(3_000));
        assert_eq!(target(FeeTarget::OneHour), FeeRate::from_sat_per_kwu(850));
        assert_eq!(target(FeeTarget::Economy), FeeRate::from_sat_per_kwu(250));
    }

    /// One line-delimited JSON-RPC exchange, as an Electrum server answers a batch of
    /// `blockchain.estimatefee`: 0.0002 BTC/kvB (20 sat/vB), 0.00005, and -1 (no estimate).
    #[test]
    fn electrum_estimates_are_read_in_sat_per_vb() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("tcp://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            // One request per line, one answer per line.
            let mut targets = Vec::new();
            for answer in [0.0002, 0.00005, -1.0] {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let request: serde_json::Value = serde_json::from_str(&line).unwrap();
                assert_eq!(request["method"], "blockchain.estimatefee");
                targets.push(request["params"][0].as_u64().unwrap());
                let reply =
                    serde_json::json!({"jsonrpc": "2.0", "id": request["id"], "result": answer});
                writeln!(writer, "{reply}").unwrap();
            }
            targets
        });
        let answers = electrum_answers(&url).unwrap();
        assert_eq!(server.join().unwrap(), [1, 6, 144]);
        let e = OnchainFeeEstimates::from_answers(&answers);
        assert!((e.next_block_sat_per_vb - 20.0).abs() < 1e-9, "{e:?}");
        assert!((e.one_hour_sat_per_vb - 5.0).abs() < 1e-9, "{e:?}");
        assert!((e.economy_sat_per_vb - 5.0).abs() < 1e-9, "no estimate: the faster one's");
    }
}
