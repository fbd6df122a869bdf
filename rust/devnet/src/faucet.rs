//! The devnet's own wallet: one P2WPKH key that mined the first blocks and funds addresses
//! from their matured coinbases, signing like any wallet so the mempool checks it like any other.

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{rand, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, ecdsa, transaction, Amount, CompressedPublicKey, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Txid, Witness,
};

use crate::chain::{Chain, COINBASE_MATURITY};
use crate::mempool::Rejection;

/// The flat fee the faucet pays per funding transaction (about 10 sat/vB for one input).
const FAUCET_FEE: Amount = Amount::from_sat(2_000);

/// A key the devnet holds, with its P2WPKH script.
pub struct Faucet {
    secret: SecretKey,
    public: CompressedPublicKey,
}

/// Why funding an address failed.
#[derive(Debug, thiserror::Error)]
pub enum FundError {
    /// No single matured coin of the faucet covers the amount and the fee.
    #[error("the faucet has no matured coin worth {needed} sat; mine more blocks to it")]
    InsufficientFunds {
        /// The amount plus the fee, in sat.
        needed: u64,
    },
    /// The funding transaction was refused by the mempool (a devnet bug if it ever happens).
    #[error("the funding transaction was rejected: {0}")]
    Rejected(#[from] Rejection),
}

impl Faucet {
    /// A faucet with a fresh random key.
    pub fn random() -> Self {
        let secp = Secp256k1::new();
        let secret = SecretKey::new(&mut rand::thread_rng());
        let public = CompressedPublicKey(secret.public_key(&secp));
        Faucet { secret, public }
    }

    /// The script the faucet's coins are locked to.
    pub fn script(&self) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&self.public.wpubkey_hash())
    }

    /// Builds and signs a version 2 transaction spending `inputs` (faucet coins) to `outputs`.
    pub fn sign(&self, inputs: &[(OutPoint, TxOut)], outputs: Vec<TxOut>) -> Transaction {
        let tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: inputs
                .iter()
                .map(|(outpoint, _)| TxIn {
                    previous_output: *outpoint,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        let prevouts: Vec<TxOut> = inputs.iter().map(|(_, out)| out.clone()).collect();
        self.sign_tx(tx, &prevouts)
    }

    /// (Re-)signs every input of `tx`, whose `prevouts[i]` are P2WPKH outputs of the faucet's
    /// key; for tests that change lock times or sequences after building.
    pub fn sign_tx(&self, mut tx: Transaction, prevouts: &[TxOut]) -> Transaction {
        let secp = Secp256k1::signing_only();
        let mut witnesses = Vec::with_capacity(prevouts.len());
        {
            let mut cache = SighashCache::new(&tx);
            for (index, prevout) in prevouts.iter().enumerate() {
                let Ok(sighash) = cache.p2wpkh_signature_hash(
                    index,
                    &prevout.script_pubkey,
                    prevout.value,
                    EcdsaSighashType::All,
                ) else {
                    // Not a P2WPKH prevout: leave the input unsigned; the mempool will say so.
                    witnesses.push(Witness::new());
                    continue;
                };
                let message = Message::from_digest(sighash.to_byte_array());
                let signature =
                    ecdsa::Signature::sighash_all(secp.sign_ecdsa(&message, &self.secret));
                witnesses.push(Witness::p2wpkh(&signature, &self.public.0));
            }
        }
        for (input, witness) in tx.input.iter_mut().zip(witnesses) {
            input.witness = witness;
        }
        tx
    }
}

impl Chain {
    /// Faucet coins that can be spent in the next block and that no mempool transaction spends:
    /// matured coinbases, confirmed change and unconfirmed change.
    pub(crate) fn faucet_coins(&self, faucet: &Faucet) -> Vec<(OutPoint, TxOut)> {
        let script = faucet.script();
        let next_height = self.tip_height() + 1;
        let confirmed = self.utxos.iter().filter(|(_, coin)| {
            coin.output.script_pubkey == script
                && (!coin.is_coinbase || next_height - coin.height >= COINBASE_MATURITY)
        });
        let mut coins: Vec<(OutPoint, TxOut)> =
            confirmed.map(|(op, coin)| (*op, coin.output.clone())).collect();
        for entry in self.mempool.entries() {
            let txid = entry.tx.compute_txid();
            for (vout, output) in entry.tx.output.iter().enumerate() {
                if output.script_pubkey == script {
                    coins.push((OutPoint { txid, vout: vout as u32 }, output.clone()));
                }
            }
        }
        coins.retain(|(op, _)| self.mempool.spender(op).is_none());
        coins
    }

    /// Pays `amount` to `script` from the faucet's largest coin, change back to the faucet,
    /// through the mempool. The caller mines it.
    pub(crate) fn fund(
        &mut self,
        faucet: &Faucet,
        script: ScriptBuf,
        amount: Amount,
    ) -> Result<Txid, FundError> {
        let needed = amount + FAUCET_FEE;
        let coin = self
            .faucet_coins(faucet)
            .into_iter()
            .filter(|(_, out)| out.value >= needed)
            .max_by_key(|(_, out)| out.value)
            .ok_or(FundError::InsufficientFunds { needed: needed.to_sat() })?;
        let change = coin.1.value - needed;
        let mut outputs = vec![TxOut { value: amount, script_pubkey: script }];
        if change > Amount::from_sat(1_000) {
            outputs.push(TxOut { value: change, script_pubkey: faucet.script() });
        }
        let tx = faucet.sign(&[coin], outputs);
        Ok(self.accept_to_mempool(tx)?)
    }
}
