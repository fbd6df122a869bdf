//! A wallet's keyspace on its VSS server, read the way the wallet signs in (its
//! [`BackupAuth`]): the server's global version (which every Doze backup write moves on by
//! one, so that its difference counts Doze's remote writes) and how many objects it holds.

use std::sync::Arc;
use std::time::Duration;

use doze_core::{BackupAuth, Network};
use ldk_node::vss_client::client::VssClient;
use ldk_node::vss_client::error::VssError;
use ldk_node::vss_client::types::ListKeyVersionsRequest;
use ldk_node::vss_client::util::retry::{
    ExponentialBackoffRetryPolicy, MaxAttemptsRetryPolicy, RetryPolicy,
};

type Client = VssClient<MaxAttemptsRetryPolicy<ExponentialBackoffRetryPolicy<VssError>>>;

/// Doze's keyspace name on the server (`doze-<network>`, as `backup::open` names it).
pub const DOZE_STORE_ID: &str = "doze-regtest";

/// One wallet's keyspace (see the module docs).
pub struct Keyspace {
    client: Client,
    store_id: String,
    runtime: tokio::runtime::Runtime,
}

/// One page of a listing: the global version (first page only), the keys, the next page.
type Page = (Option<i64>, Vec<String>, Option<String>);

impl Keyspace {
    /// The keyspace `store_id` at `url` of the wallet with recovery phrase `mnemonic`.
    pub fn new(url: &str, store_id: &str, mnemonic: &str) -> Result<Keyspace, String> {
        let auth = BackupAuth::from_mnemonic(mnemonic, None, Network::Regtest)
            .map_err(|e| format!("the backup key: {e}"))?;
        let retry =
            ExponentialBackoffRetryPolicy::new(Duration::from_millis(10)).with_max_attempts(3);
        let client = VssClient::new_with_headers(url.into(), retry, Arc::new(auth));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("a runtime: {e}"))?;
        Ok(Keyspace { client, store_id: store_id.into(), runtime })
    }

    fn list(&self, page_size: Option<i32>, page_token: Option<String>) -> Result<Page, String> {
        let request = ListKeyVersionsRequest {
            store_id: self.store_id.clone(),
            key_prefix: None,
            page_token,
            page_size,
        };
        let response = self
            .runtime
            .block_on(self.client.list_key_versions(&request))
            .map_err(|e| format!("cannot list the keyspace: {e}"))?;
        let keys = response.key_versions.into_iter().map(|kv| kv.key).collect();
        Ok((response.global_version, keys, response.next_page_token.filter(|t| !t.is_empty())))
    }

    /// The server's global version of this keyspace (0 before any versioned write).
    pub fn global_version(&self) -> Result<i64, String> {
        Ok(self.list(Some(0), None)?.0.unwrap_or(0))
    }

    /// How many objects the keyspace holds, and in how many pages of the server's default size
    /// they list (each page is a round trip).
    pub fn count(&self) -> Result<(usize, usize), String> {
        let (mut objects, mut pages, mut token) = (0, 0, None);
        loop {
            let (_, keys, next) = self.list(None, token)?;
            pages += 1;
            objects += keys.len();
            match next {
                Some(next) if !keys.is_empty() => token = Some(next),
                _ => return Ok((objects, pages)),
            }
        }
    }
}
