//! How a wallet proves to its backup server who it is. The reference deployment runs LDK's
//! `vss-server` with its signature authorizer: every request carries, in its `Authorization`
//! header, a public key, an ECDSA signature by that key over a fixed salt, the key and the
//! time, and the time itself; the server gives each key its own keyspace. The key comes from
//! the wallet's seed, so a restore on a new phone (the same recovery phrase) reaches the same
//! backup without any account or password, and nobody without the phrase can read or
//! overwrite it.

use std::collections::HashMap;

use async_trait::async_trait;
use ldk_node::bitcoin::bip32::ChildNumber;
use ldk_node::bitcoin::hashes::{sha256, Hash, HashEngine};
use ldk_node::bitcoin::hex::DisplayHex;
use ldk_node::bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use ldk_node::vss_client::headers::{VssHeaderProvider, VssHeaderProviderError};

use crate::config::Network;
use crate::error::WalletError;
use crate::mnemonic::{master_key, parse_mnemonic, Mnemonic};
use crate::store::now_secs;

/// The salt `vss-server`'s signature authorizer expects before the key and the time.
const SIGNING_CONSTANT: &[u8] = b"VSS Signature Authorizer Signing Salt Constant..................";
/// ldk-node derives its VSS keys under m/877' (877' itself encrypts the data, 877'/138' is
/// LNURL-auth); Doze's signature-auth key is m/877'/2', beside them.
pub(super) const VSS_HARDENED_CHILD_INDEX: u32 = 877;
const SIGNATURE_AUTH_HARDENED_CHILD_INDEX: u32 = 2;

/// The wallet's credentials at its backup server: a key derived from its recovery phrase. Its
/// public key names the wallet's keyspace on the server; the secret never leaves the phone.
pub struct BackupAuth {
    secret: SecretKey,
    public: PublicKey,
}

impl BackupAuth {
    /// The credentials of the wallet with this recovery phrase and passphrase on `network`.
    pub fn from_mnemonic(
        mnemonic: &str,
        passphrase: Option<&str>,
        network: Network,
    ) -> Result<BackupAuth, WalletError> {
        BackupAuth::from_parsed(&parse_mnemonic(mnemonic)?, passphrase, network)
    }

    /// [`BackupAuth::from_mnemonic`] for a phrase already parsed.
    pub(crate) fn from_parsed(
        mnemonic: &Mnemonic,
        passphrase: Option<&str>,
        network: Network,
    ) -> Result<BackupAuth, WalletError> {
        let secp = Secp256k1::new();
        let key = master_key(mnemonic, passphrase, network.to_bitcoin())?
            .derive_priv(
                &secp,
                &[
                    ChildNumber::Hardened { index: VSS_HARDENED_CHILD_INDEX },
                    ChildNumber::Hardened { index: SIGNATURE_AUTH_HARDENED_CHILD_INDEX },
                ],
            )
            .map_err(|e| WalletError::Node(format!("cannot derive the backup key: {e}")))?;
        let secret = key.private_key;
        Ok(BackupAuth { secret, public: secret.public_key(&secp) })
    }

    /// The public key the server knows this wallet by (hex).
    pub fn public_key_hex(&self) -> String {
        self.public.serialize().to_lower_hex_string()
    }

    /// The `Authorization` header value for a request signed at `time_secs`.
    fn authorization(&self, time_secs: u64) -> String {
        let time = time_secs.to_string();
        let mut engine = sha256::Hash::engine();
        engine.input(SIGNING_CONSTANT);
        engine.input(&self.public.serialize());
        engine.input(time.as_bytes());
        let digest = sha256::Hash::from_engine(engine);
        let signature = Secp256k1::signing_only()
            .sign_ecdsa(&Message::from_digest(digest.to_byte_array()), &self.secret);
        format!(
            "{}{}{time}",
            self.public_key_hex(),
            signature.serialize_compact().to_lower_hex_string()
        )
    }
}

impl std::fmt::Debug for BackupAuth {
    // Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupAuth").field("public_key", &self.public_key_hex()).finish()
    }
}

#[async_trait]
impl VssHeaderProvider for BackupAuth {
    async fn get_headers(
        &self,
        _request: &[u8],
    ) -> Result<HashMap<String, String>, VssHeaderProviderError> {
        Ok(HashMap::from([("Authorization".to_string(), self.authorization(now_secs()))]))
    }
}
