//! Block assembly and regtest proof of work, the way bitcoind's `generatetoaddress` does it:
//! every mempool transaction, a BIP34 coinbase paying subsidy plus fees, a witness commitment,
//! a timestamp above the median time past, and a nonce ground until the hash meets the target.

use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::block::{Header, Version};
use bitcoin::blockdata::opcodes::all::OP_RETURN;
use bitcoin::hashes::Hash;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence,
    Target, Transaction, TxIn, TxMerkleNode, TxOut, Witness,
};

use crate::chain::{subsidy, Chain};

/// Regtest's proof-of-work limit, which is also every regtest block's target.
const REGTEST_BITS: u32 = 0x207f_ffff;
/// The witness reserved value committed to in the coinbase witness.
const WITNESS_RESERVED_VALUE: [u8; 32] = [0u8; 32];
/// Prefix of the witness commitment output script (BIP141).
const WITNESS_COMMITMENT_MAGIC: [u8; 4] = [0xaa, 0x21, 0xa9, 0xed];

fn now_secs() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0)
}

impl Chain {
    /// Mines one block on the best tip paying the coinbase to `payout`, with every mempool
    /// transaction in it unless `empty`. `extra_nonce` keeps coinbases unique across competing
    /// chains.
    pub(crate) fn mine_block(
        &mut self,
        payout: &ScriptBuf,
        extra_nonce: u64,
        empty: bool,
    ) -> BlockHash {
        let height = self.tip_height() + 1;
        let entries = if empty { Vec::new() } else { self.mempool.take_all() };
        let fees: Amount = entries.iter().map(|e| e.fee).sum();

        let mut coinbase_script = Builder::new().push_int(i64::from(height));
        if let Ok(nonce) = PushBytesBuf::try_from(extra_nonce.to_le_bytes().to_vec()) {
            coinbase_script = coinbase_script.push_slice(nonce);
        }
        let coinbase = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: coinbase_script.into_script(),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[WITNESS_RESERVED_VALUE]),
            }],
            output: vec![TxOut { value: subsidy(height) + fees, script_pubkey: payout.clone() }],
        };

        let mut prevouts = vec![Vec::new()];
        let mut txdata = vec![coinbase];
        for entry in entries {
            prevouts.push(entry.prevouts);
            txdata.push(entry.tx);
        }

        let time = now_secs().max(self.median_time_past(self.tip_height()) + 1);
        let mut block = Block {
            header: Header {
                version: Version::from_consensus(0x2000_0000),
                prev_blockhash: self.tip_hash(),
                merkle_root: TxMerkleNode::all_zeros(),
                time,
                bits: CompactTarget::from_consensus(REGTEST_BITS),
                nonce: 0,
            },
            txdata,
        };
        add_witness_commitment(&mut block);
        if let Some(root) = block.compute_merkle_root() {
            block.header.merkle_root = root;
        }
        grind(&mut block.header);
        debug_assert!(block.check_merkle_root() && block.check_witness_commitment());

        let hash = block.block_hash();
        self.connect(block, prevouts);
        if empty {
            // What the new block spent is gone from the mempool's view of the UTXO set.
            self.revalidate_mempool(Vec::new());
        }
        hash
    }
}

fn add_witness_commitment(block: &mut Block) {
    let Some(witness_root) = block.witness_root() else { return };
    let commitment = Block::compute_witness_commitment(&witness_root, &WITNESS_RESERVED_VALUE);
    let mut data = WITNESS_COMMITMENT_MAGIC.to_vec();
    data.extend_from_slice(commitment.as_byte_array());
    let Ok(push) = PushBytesBuf::try_from(data) else { return };
    let script = Builder::new().push_opcode(OP_RETURN).push_slice(push).into_script();
    block.txdata[0].output.push(TxOut { value: Amount::ZERO, script_pubkey: script });
}

/// Regtest's target is so easy that about every second nonce meets it.
fn grind(header: &mut Header) {
    let target = Target::from_compact(header.bits);
    while header.validate_pow(target).is_err() {
        header.nonce = header.nonce.wrapping_add(1);
        if header.nonce == 0 {
            header.time += 1;
        }
    }
}
