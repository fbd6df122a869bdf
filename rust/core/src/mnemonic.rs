//! Recovery phrases (BIP39, English). The app keeps the phrase in the Keychain/Keystore and
//! hands it to [`crate::Wallet::new`]; the core never writes it to disk or logs it.

use ldk_node::bip39::{self, Language};

use ldk_node::bitcoin::bip32::Xpriv;

use crate::error::{MnemonicError, WalletError};

pub use bip39::Mnemonic;

/// How many words a new recovery phrase has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum WordCount {
    /// 12 words (128 bits of entropy).
    Words12,
    /// 24 words (256 bits of entropy).
    Words24,
}

/// Generates a new random recovery phrase.
pub fn generate_mnemonic(words: WordCount) -> Mnemonic {
    let count = match words {
        WordCount::Words12 => 12,
        WordCount::Words24 => 24,
    };
    // Only fails for word counts other than 12..=24 in steps of 3, which `WordCount` rules out.
    Mnemonic::generate_in(Language::English, count)
        .unwrap_or_else(|_| unreachable!("12 and 24 are valid BIP39 word counts"))
}

/// Parses a recovery phrase typed or pasted by a person: any case, any whitespace.
pub fn parse_mnemonic(phrase: &str) -> Result<Mnemonic, MnemonicError> {
    let normalized = phrase.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>();
    let count = normalized.len() as u32;
    if count != 12 && count != 24 {
        return Err(MnemonicError::WrongWordCount { count });
    }
    Mnemonic::parse_in_normalized(Language::English, &normalized.join(" ")).map_err(|e| match e {
        bip39::Error::BadWordCount(n) => MnemonicError::WrongWordCount { count: n as u32 },
        bip39::Error::UnknownWord(index) => {
            MnemonicError::UnknownWord { position: index as u32 + 1 }
        }
        _ => MnemonicError::BadChecksum,
    })
}

/// The BIP32 master key of the wallet's BIP39 seed, as ldk-node derives it: its LDK seed (the
/// wake engine) and its backup key (`backup_auth.rs`) both come from it.
pub(crate) fn master_key(
    mnemonic: &Mnemonic,
    passphrase: Option<&str>,
    network: ldk_node::bitcoin::Network,
) -> Result<Xpriv, WalletError> {
    let seed = mnemonic.to_seed(passphrase.unwrap_or(""));
    Xpriv::new_master(network, &seed)
        .map_err(|e| WalletError::Node(format!("cannot derive the wallet's keys: {e}")))
}
