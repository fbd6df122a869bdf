//! The wallet's objects on its VSS server, in ldk-node's `VssStore` format (schema V1): each
//! value is sealed with ChaCha20-Poly1305 under a key derived from the seed at m/877', with its
//! storage key as associated data, and stored under `obfuscate(primary#secondary)#obfuscate(key)`.
//! The server learns neither the values nor the names. Unlike ldk-node's store, every write
//! carries the server's global version: a write from a device that is not the latest writer is
//! refused by the server (see `mod.rs`).

use std::sync::Arc;
use std::time::Duration;

use ldk_node::bitcoin::hashes::{sha256, Hash, HashEngine, Hmac, HmacEngine};
use ldk_node::vss_client::client::VssClient;
use ldk_node::vss_client::error::VssError;
use ldk_node::vss_client::types::{
    GetObjectRequest, GetObjectResponse, KeyValue, ListKeyVersionsRequest, ListKeyVersionsResponse,
    PutObjectRequest, Storable,
};
use ldk_node::vss_client::util::key_obfuscator::KeyObfuscator;
use ldk_node::vss_client::util::retry::{
    ExponentialBackoffRetryPolicy, FilteredRetryPolicy, MaxAttemptsRetryPolicy,
    MaxTotalDelayRetryPolicy, RetryPolicy,
};
use ldk_node::vss_client::util::storable_builder::{EntropySource, StorableBuilder};
use prost::Message;

use super::auth::BackupAuth;

type Retry = FilteredRetryPolicy<
    MaxTotalDelayRetryPolicy<MaxAttemptsRetryPolicy<ExponentialBackoffRetryPolicy<VssError>>>,
    Box<dyn Fn(&VssError) -> bool + Send + Sync>,
>;

/// The key under which vss-server keeps a keyspace's global version.
const GLOBAL_VERSION_KEY: &str = "global_version";

/// Objects per request when writing many at once (vss-server takes up to 1000).
pub(crate) const MAX_OBJECTS_PER_REQUEST: usize = 500;

/// Why the server did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RemoteError {
    /// Another device wrote since this one last did: its global version moved on.
    #[error("another device wrote to this backup")]
    Conflict,
    /// The server did not answer, or refused in a way a retry will not fix.
    #[error("{0}")]
    Failed(String),
}

impl From<VssError> for RemoteError {
    fn from(e: VssError) -> Self {
        match e {
            VssError::ConflictError(_) => RemoteError::Conflict,
            VssError::AuthError(m) => {
                RemoteError::Failed(format!("the backup server refused this wallet's key: {m}"))
            }
            other => RemoteError::Failed(other.to_string()),
        }
    }
}

impl From<RemoteError> for ldk_node::lightning::io::Error {
    fn from(e: RemoteError) -> Self {
        ldk_node::lightning::io::Error::new(
            ldk_node::lightning::io::ErrorKind::Other,
            e.to_string(),
        )
    }
}

/// The name of an object: ldk-node's three-part key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ObjectName {
    pub primary: String,
    pub secondary: String,
    pub key: String,
}

impl ObjectName {
    pub(crate) fn new(primary: &str, secondary: &str, key: &str) -> Self {
        ObjectName { primary: primary.into(), secondary: secondary.into(), key: key.into() }
    }
}

/// The wallet's keyspace on the server.
pub(crate) struct Remote {
    /// For writes and restores: worth waiting for.
    client: VssClient<Retry>,
    /// For the checks at start, wake and sync: a phone offline should hear so soon.
    quick: VssClient<Retry>,
    store_id: String,
    data_key: [u8; 32],
    obfuscator: KeyObfuscator,
}

impl Remote {
    /// The keyspace `store_id` at `url`, sealed with keys from `vss_seed` (the m/877' private
    /// key, as ldk-node derives it), signed in with `auth`.
    pub(crate) fn new(
        url: &str,
        store_id: &str,
        vss_seed: [u8; 32],
        auth: Arc<BackupAuth>,
    ) -> Remote {
        let (data_key, obfuscation_key) = derive_keys(&vss_seed);
        let url = url.trim_end_matches('/').to_string();
        let quick = VssClient::new_with_headers(url.clone(), retry(QUICK), auth.clone());
        let client = VssClient::new_with_headers(url, retry(PATIENT), auth);
        Remote {
            client,
            quick,
            store_id: store_id.into(),
            data_key,
            obfuscator: KeyObfuscator::new(obfuscation_key),
        }
    }

    /// The server's name for `name`.
    pub(crate) fn store_key(&self, name: &ObjectName) -> String {
        let prefix = self.obfuscator.obfuscate(&format!("{}#{}", name.primary, name.secondary));
        format!("{prefix}#{}", self.obfuscator.obfuscate(&name.key))
    }

    /// The object name behind a server key; `None` for keys this format did not write.
    pub(crate) fn object_name(&self, store_key: &str) -> Option<ObjectName> {
        let (prefix, key) = store_key.split_once('#')?;
        let namespaces = self.obfuscator.deobfuscate(prefix).ok()?;
        let (primary, secondary) = namespaces.split_once('#')?;
        let key = self.obfuscator.deobfuscate(key).ok()?;
        Some(ObjectName::new(primary, secondary, &key))
    }

    /// `value` sealed for the server under `store_key`.
    pub(crate) fn seal(&self, store_key: &str, value: Vec<u8>) -> Vec<u8> {
        // The version inside the sealed blob is not the server's; ldk-node writes -1 there too.
        StorableBuilder::new(OsEntropy)
            .build(value, -1, &self.data_key, store_key.as_bytes())
            .encode_to_vec()
    }

    /// The value sealed under `store_key`; an error if it was sealed under another key or name.
    pub(crate) fn open(&self, store_key: &str, sealed: &[u8]) -> Result<Vec<u8>, RemoteError> {
        let storable = Storable::decode(sealed)
            .map_err(|e| RemoteError::Failed(format!("a backed-up object is damaged: {e}")))?;
        StorableBuilder::new(OsEntropy)
            .deconstruct(storable, &self.data_key, store_key.as_bytes())
            .map(|(value, _)| value)
            .map_err(|e| {
                RemoteError::Failed(format!(
                    "a backed-up object cannot be decrypted with this recovery phrase: {e}"
                ))
            })
    }

    /// The object `name`, or `None` if the server has none.
    pub(crate) async fn get(&self, name: &ObjectName) -> Result<Option<Vec<u8>>, RemoteError> {
        self.get_with(&self.client, name).await
    }

    /// [`Remote::get`], giving up after a few seconds.
    pub(crate) async fn get_quick(
        &self,
        name: &ObjectName,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        quickly(self.get_with(&self.quick, name)).await
    }

    async fn get_with(
        &self,
        client: &VssClient<Retry>,
        name: &ObjectName,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        let key = self.store_key(name);
        let request = GetObjectRequest { store_id: self.store_id.clone(), key: key.clone() };
        match client.get_object(&request).await {
            Ok(response) => self.value_of(&key, response).map(Some),
            Err(VssError::NoSuchKeyError(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The value in the server's answer to a request for `key`, opened.
    pub(crate) fn value_of(
        &self,
        key: &str,
        response: GetObjectResponse,
    ) -> Result<Vec<u8>, RemoteError> {
        match response.value {
            Some(value) => self.open(key, &value.value),
            None => Err(RemoteError::Failed("the backup server sent no value".into())),
        }
    }

    /// The names of the objects on one page of the server's list. A key this wallet cannot
    /// read is an error, not a key to skip: a server that lists another wallet's keyspace (or
    /// one written by other software) would otherwise look like a server that lost this
    /// wallet's objects, and the wallet would start empty, without the channels it has.
    pub(crate) fn names_in(
        &self,
        page: &ListKeyVersionsResponse,
    ) -> Result<Vec<ObjectName>, RemoteError> {
        let mut names = Vec::with_capacity(page.key_versions.len());
        let mut unreadable = 0usize;
        for kv in page.key_versions.iter().filter(|kv| kv.key != GLOBAL_VERSION_KEY) {
            match self.object_name(&kv.key) {
                Some(name) => names.push(name),
                None => unreadable += 1,
            }
        }
        if unreadable > 0 {
            return Err(RemoteError::Failed(format!(
                "the backup server lists {unreadable} objects this recovery phrase cannot read \
                 (another wallet's backup, or one written by other software); nothing was \
                 restored or overwritten"
            )));
        }
        Ok(names)
    }

    /// The server's global version now (it keeps it as a key of its own).
    pub(crate) async fn global_version(&self) -> Result<i64, RemoteError> {
        self.global_version_with(&self.client).await
    }

    /// [`Remote::global_version`], giving up after a few seconds.
    pub(crate) async fn global_version_quick(&self) -> Result<i64, RemoteError> {
        quickly(self.global_version_with(&self.quick)).await
    }

    async fn global_version_with(&self, client: &VssClient<Retry>) -> Result<i64, RemoteError> {
        let request =
            GetObjectRequest { store_id: self.store_id.clone(), key: GLOBAL_VERSION_KEY.into() };
        let response = client.get_object(&request).await?;
        Ok(response.value.map_or(0, |v| v.version))
    }

    /// The server's global version now, and the name of every object.
    pub(crate) async fn list(&self) -> Result<(i64, Vec<ObjectName>), RemoteError> {
        let mut names = Vec::new();
        let mut page_token = None;
        let mut global_version = None;
        loop {
            let request = ListKeyVersionsRequest {
                store_id: self.store_id.clone(),
                key_prefix: None,
                page_token: page_token.clone(),
                page_size: None,
            };
            // The first call of a restore: quick to say the server is away.
            let response = if page_token.is_none() {
                quickly(async { Ok(self.quick.list_key_versions(&request).await?) }).await?
            } else {
                self.client.list_key_versions(&request).await?
            };
            // Only the first page carries it.
            global_version = global_version.or(response.global_version);
            names.extend(self.names_in(&response)?);
            match response.next_page_token {
                Some(token) if !token.is_empty() && !response.key_versions.is_empty() => {
                    page_token = Some(token)
                }
                _ => break,
            }
        }
        Ok((global_version.unwrap_or(0), names))
    }

    /// [`Remote::list`] on a shared handle, for work spawned onto the backup runtime.
    pub(crate) async fn list_owned(self: Arc<Self>) -> Result<(i64, Vec<ObjectName>), RemoteError> {
        self.list().await
    }

    /// Writes `puts` and deletes `deletes` in one transaction, if the server's global version
    /// is still `global_version` (it is then one more).
    pub(crate) async fn put(
        &self,
        global_version: i64,
        puts: Vec<(ObjectName, Vec<u8>)>,
        deletes: &[ObjectName],
    ) -> Result<(), RemoteError> {
        let transaction_items = puts
            .into_iter()
            .map(|(name, value)| {
                let key = self.store_key(&name);
                let value = self.seal(&key, value);
                KeyValue { key, version: -1, value }
            })
            .collect();
        let delete_items = deletes
            .iter()
            .map(|name| KeyValue { key: self.store_key(name), version: -1, value: Vec::new() })
            .collect();
        let request = PutObjectRequest {
            store_id: self.store_id.clone(),
            global_version: Some(global_version),
            transaction_items,
            delete_items,
        };
        self.client.put_object(&request).await?;
        Ok(())
    }

    /// Uploads `objects` in batches starting at `global_version`; returns the version after.
    pub(crate) async fn put_all(
        &self,
        mut global_version: i64,
        objects: Vec<(ObjectName, Vec<u8>)>,
    ) -> Result<i64, RemoteError> {
        let mut objects = objects.into_iter().peekable();
        while objects.peek().is_some() {
            let batch: Vec<_> = objects.by_ref().take(MAX_OBJECTS_PER_REQUEST).collect();
            self.put(global_version, batch, &[]).await?;
            global_version += 1;
        }
        Ok(global_version)
    }
}

/// ldk-node's derivation of the encryption and key-obfuscation keys from the VSS seed, so that
/// what Doze writes ldk-node's `VssStore` can read.
fn derive_keys(vss_seed: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let hkdf = |material: &[u8], salt: &[u8]| -> [u8; 32] {
        let mut engine = HmacEngine::<sha256::Hash>::new(salt);
        engine.input(material);
        Hmac::from_engine(engine).to_byte_array()
    };
    let prk = hkdf(vss_seed, b"pseudo_random_key");
    let data = hkdf(&prk, b"data_encryption_key");
    let obfuscation = hkdf(&prk, &[&data[..], b"obfuscation_key"].concat());
    (data, obfuscation)
}

/// How long to retry: attempts and total delay.
type Patience = (u32, Duration);
/// Writes: a write that fails is fatal to the node (LDK cannot go on without persisting).
const PATIENT: Patience = (10, Duration::from_secs(30));
/// Checks: a start, wake or sync without its server fails in about 2 s (at most
/// [`QUICK_DEADLINE`] when the server answers slowly).
const QUICK: Patience = (5, Duration::from_secs(2));

/// The longest a quick call takes in all, retries included. The client's own timeout is per
/// request (10 s, and the quick policy makes up to five): a server that accepts connections
/// and answers slowly would hold a wake past the OS's 30 s.
const QUICK_DEADLINE: Duration = Duration::from_secs(4);

/// `call` within [`QUICK_DEADLINE`].
async fn quickly<T>(
    call: impl std::future::Future<Output = Result<T, RemoteError>>,
) -> Result<T, RemoteError> {
    tokio::time::timeout(QUICK_DEADLINE, call).await.unwrap_or_else(|_| {
        Err(RemoteError::Failed(format!(
            "the backup server did not answer within {} s",
            QUICK_DEADLINE.as_secs()
        )))
    })
}

/// Retries what a retry can fix (the network, the server's own errors) within `patience`; a
/// conflict, a missing key or a refused key is an answer, not a failure.
fn retry((attempts, total): Patience) -> Retry {
    ExponentialBackoffRetryPolicy::new(Duration::from_millis(50))
        .with_max_attempts(attempts)
        .with_max_total_delay(total)
        .skip_retry_on_error(Box::new(|e: &VssError| {
            matches!(
                e,
                VssError::NoSuchKeyError(..)
                    | VssError::InvalidRequestError(..)
                    | VssError::ConflictError(..)
                    | VssError::AuthError(..)
            )
        }) as _)
}

/// Nonces from the OS's random source.
struct OsEntropy;

impl EntropySource for OsEntropy {
    fn fill_bytes(&self, buffer: &mut [u8]) {
        rand::RngCore::fill_bytes(&mut rand::rng(), buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Network;

    fn remote() -> Remote {
        let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                      abandon abandon about";
        let auth = BackupAuth::from_mnemonic(phrase, None, Network::Regtest).unwrap();
        // Nothing is sent: names and sealing are local.
        Remote::new("http://127.0.0.1:9/vss", "doze-regtest", [7; 32], Arc::new(auth))
    }

    #[test]
    fn names_are_hidden_from_the_server_and_read_back() {
        let remote = remote();
        for name in [
            ObjectName::new("", "", "manager"),
            ObjectName::new("monitors", "", "abcd_0"),
            ObjectName::new("monitor_updates", "abcd_0", "12"),
        ] {
            let key = remote.store_key(&name);
            assert!(!key.contains(&name.key) && !key.contains("monitor"), "{key}");
            assert_eq!(remote.object_name(&key), Some(name));
        }
        assert_eq!(remote.object_name("global_version"), None);
    }

    #[test]
    fn a_sealed_value_opens_only_under_its_own_name() {
        let remote = remote();
        let key = remote.store_key(&ObjectName::new("", "", "manager"));
        let other = remote.store_key(&ObjectName::new("", "", "peers"));
        let sealed = remote.seal(&key, b"channel state".to_vec());
        assert!(!sealed.windows(13).any(|w| w == b"channel state"));
        assert_eq!(remote.open(&key, &sealed).unwrap(), b"channel state");
        // Moved to another name by the server, it no longer opens.
        assert!(remote.open(&other, &sealed).is_err());
    }
}
