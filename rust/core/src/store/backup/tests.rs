//! The backed-up store against a real backup server (vss-server on PostgreSQL, on loopback):
//! a request the server committed but the phone never applied (a kill in between, or an
//! answer lost on the way) ends up on the phone, and one the server never committed does not.

use std::path::{Path, PathBuf};

use doze_test_servers::backup_server::BackupServer;
use doze_test_servers::hostile_backup::{HostileBackup, Hostility};
use ldk_node::lightning::util::persist::KVStoreSync;

use super::journal::{self, Journal};
use super::remote::ObjectName;
use super::{open, BackedUpStore, BackupConfig, Opener};
use crate::config::Network;
use crate::mnemonic::{parse_mnemonic, Mnemonic};

/// The wallet of these tests (BIP39's test phrase).
fn mnemonic() -> Mnemonic {
    let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                  abandon abandon about";
    parse_mnemonic(phrase).unwrap_or_else(|e| panic!("{e}"))
}

fn opened(node_dir: &Path, url: &str, opener: Opener) -> BackedUpStore {
    let mnemonic = mnemonic();
    let config = BackupConfig { url: url.to_string() };
    open(node_dir, &config, &mnemonic, None, Network::Regtest, opener)
        .unwrap_or_else(|e| panic!("the store opens: {e}"))
}

fn read(store: &BackedUpStore, name: &ObjectName) -> Option<Vec<u8>> {
    KVStoreSync::read(store.local(), &name.primary, &name.secondary, &name.key).ok()
}

fn write(store: &BackedUpStore, name: &ObjectName, value: &[u8]) {
    KVStoreSync::write(store, &name.primary, &name.secondary, &name.key, value.to_vec())
        .unwrap_or_else(|e| panic!("{}/{} is written: {e}", name.primary, name.key));
}

fn server_version(store: &BackedUpStore) -> i64 {
    let remote = store.remote();
    store
        .block_on(async move { remote.global_version().await })
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("the server's version: {e}"))
}

/// What the server holds under `name`.
fn on_server(store: &BackedUpStore, name: &ObjectName) -> Option<Vec<u8>> {
    let (remote, name) = (store.remote(), name.clone());
    store
        .block_on(async move { remote.get(&name).await })
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("the server's copy: {e}"))
}

/// What a kill between the server's commit and the phone's copy leaves: `changes` on the
/// server (one request, as a persistence round sends them, naming itself as the last request)
/// and in the journal, not applied.
fn commit_without_applying(store: &BackedUpStore, changes: Vec<(ObjectName, Vec<u8>)>) {
    let version = server_version(store);
    let record = Journal::new(changes.iter().map(|(n, v)| (n.clone(), Some(v.clone()))).collect());
    journal::keep(store.local(), &record).unwrap_or_else(|e| panic!("{e}"));
    let mut puts = vec![(journal::last_request_object(), record.request.to_vec())];
    puts.extend(changes);
    let remote = store.remote();
    store
        .block_on(async move { remote.put(version, puts, &[]).await })
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("the server takes the round: {e}"));
}

fn node_dir(root: &tempfile::TempDir) -> PathBuf {
    root.path().join("node")
}

#[test]
fn a_round_the_server_committed_and_the_phone_never_applied_is_applied_at_the_next_open() {
    let server = BackupServer::start();
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = node_dir(&root);
    let manager = ObjectName::new("", "", "manager");
    let update = ObjectName::new("monitor_updates", "chan", "7");

    let store = opened(&dir, &server.url(), Opener::App);
    write(&store, &manager, b"manager at update 6");
    assert_eq!(journal::read(store.local()).ok(), Some(None), "a written request is resolved");
    commit_without_applying(
        &store,
        vec![(manager.clone(), b"manager at update 7".to_vec()), (update.clone(), b"7".to_vec())],
    );
    assert_eq!(read(&store, &manager).as_deref(), Some(&b"manager at update 6"[..]));
    drop(store);

    // A wake opens the store: the phone is brought up to the server before LDK reads it.
    let store = opened(&dir, &server.url(), Opener::Wake);
    assert_eq!(read(&store, &manager).as_deref(), Some(&b"manager at update 7"[..]));
    assert_eq!(read(&store, &update).as_deref(), Some(&b"7"[..]));
    assert_eq!(journal::read(store.local()).ok(), Some(None));
    // And writes go on at the server's version.
    write(&store, &manager, b"manager at update 8");
    assert_eq!(on_server(&store, &manager).as_deref(), Some(&b"manager at update 8"[..]));

    // A request recorded but never sent is dropped: LDK never took it as written.
    let version = server_version(&store);
    let never_sent = Journal::new(vec![(manager.clone(), Some(b"never sent".to_vec()))]);
    journal::keep(store.local(), &never_sent).unwrap_or_else(|e| panic!("{e}"));
    drop(store);
    let store = opened(&dir, &server.url(), Opener::App);
    assert_eq!(read(&store, &manager).as_deref(), Some(&b"manager at update 8"[..]));
    assert_eq!(journal::read(store.local()).ok(), Some(None));
    assert_eq!(server_version(&store), version, "nothing was sent at the open");
}

#[test]
fn a_write_whose_answer_was_lost_counts_once_the_server_shows_it_has_it() {
    let server = BackupServer::start();
    let proxy = HostileBackup::start(&server);
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = opened(&node_dir(&root), &proxy.url(), Opener::App);
    let channel = ObjectName::new("monitors", "", "chan");
    write(&store, &channel, b"state 1");
    let before = server_version(&store);

    // The server commits, the answer never arrives (and a retry of the same request is
    // refused as stale): the write is done all the same, on the server and on the phone.
    proxy.set(Hostility::LostWriteAnswers);
    write(&store, &channel, b"state 2");
    assert!(proxy.requests().get("putObjects").is_some_and(|&n| n >= 1), "{:?}", proxy.requests());
    assert_eq!(read(&store, &channel).as_deref(), Some(&b"state 2"[..]));
    assert_eq!(server_version(&store), before + 1, "one request committed");
    assert_eq!(journal::read(store.local()).ok(), Some(None));

    // The next write goes on from there, not refused as if another device had written.
    proxy.set(Hostility::Honest);
    write(&store, &channel, b"state 3");
    assert_eq!(on_server(&store, &channel).as_deref(), Some(&b"state 3"[..]));
    assert!(!store.moved());
}
