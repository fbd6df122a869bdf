//! The store's contract, checked on both backends (PostgreSQL: a real server on loopback),
//! and what sharing one PostgreSQL between LSP nodes means.

use std::sync::Arc;

use doze_test_servers::postgres::Postgres;
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};

use super::*;

fn key(byte: u8) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[byte; 32]).expect("key"))
}

fn request(nonce: &str, timestamp: u64, url: &str) -> VerifiedRequest {
    VerifiedRequest {
        node_id: key(3),
        app_name: "app".into(),
        target: PushTarget::webhook(url),
        timestamp,
        nonce: nonce.into(),
    }
}

fn window(since: u64) -> RegistrationWindow {
    RegistrationWindow { since, max: 10 }
}

/// A store on a running PostgreSQL, serving the LSP node `lsp`.
fn postgres_store(server: &Postgres, lsp: u8) -> PushStore {
    let store = PushStore::postgres(&server.url()).expect("connected");
    store.bind(key(lsp));
    store
}

/// Runs `check` on a SQLite store (on disk: the concurrency check needs real locking) and on a
/// PostgreSQL store.
fn on_each_backend(check: impl Fn(Arc<PushStore>)) {
    let dir = tempfile::tempdir().expect("dir");
    check(Arc::new(PushStore::open(dir.path()).expect("sqlite")));
    let server = Postgres::start();
    check(Arc::new(postgres_store(&server, 200)));
}

#[test]
fn registering_replaces_the_target_and_rejects_a_reused_nonce() {
    on_each_backend(|store| {
        let first = request("aa", 1_000, "http://a/");
        store.register(&first, 1_000, window(400)).expect("first");
        assert!(store.nonce_seen(&first.node_id, "aa").expect("query"));
        let again = store.register(&first, 1_001, window(400));
        assert!(matches!(again, Err(StoreError::ReplayedNonce)));

        let second = request("bb", 1_100, "http://b/");
        store.register(&second, 1_100, window(500)).expect("second");
        let stored = store.registration(&second.node_id).expect("query").expect("stored");
        assert_eq!(stored.target.value, "http://b/");
        assert_eq!(stored.signed_at, 1_100);
        assert_eq!(store.counts().expect("counts"), (1, 2));

        // Nonces signed before the window are pruned on the next registration.
        store.register(&request("cc", 2_000, "http://c/"), 2_000, window(1_050)).expect("third");
        assert_eq!(store.counts().expect("counts"), (1, 2), "aa pruned, bb and cc kept");
    });
}

#[test]
fn registrations_are_listed_a_page_at_a_time_in_node_order() {
    on_each_backend(|store| {
        let mut ids = Vec::new();
        for byte in 1..=5u8 {
            let request =
                VerifiedRequest { node_id: key(byte), ..request(&format!("n{byte}"), 1_000, "") };
            store.register(&request, 1_000, window(0)).expect("stored");
            ids.push(request.node_id);
        }
        ids.sort_by_key(|id| id.to_string());
        let first = store.registrations(None, 2).expect("page");
        let second = store.registrations(Some(&first[1].node_id), 2).expect("page");
        let last = store.registrations(Some(&second[1].node_id), 2).expect("page");
        let listed: Vec<_> = first.iter().chain(&second).chain(&last).map(|r| r.node_id).collect();
        assert_eq!(listed, ids);
        assert_eq!(last.len(), 1);
        assert_eq!(store.registration(&ids[3]).expect("query").as_ref(), Some(&second[1]));
    });
}

#[test]
fn a_refused_registration_leaves_nothing_behind() {
    on_each_backend(|store| {
        let bound = RegistrationWindow { since: 0, max: 2 };
        store.register(&request("aa", 1_000, "http://a/"), 1_000, bound).expect("first");
        store.register(&request("bb", 1_001, "http://b/"), 1_001, bound).expect("second");
        let third = store.register(&request("cc", 1_002, "http://c/"), 1_002, bound);
        assert!(
            matches!(third, Err(StoreError::TooMany { recent: 2, oldest: Some(1_000) })),
            "{third:?}"
        );
        let roomy = RegistrationWindow { since: 0, max: 10 };
        let older = store.register(&request("dd", 999, "http://d/"), 1_003, roomy);
        assert!(matches!(older, Err(StoreError::Older { current: 1_001 })), "{older:?}");
        let node = key(3);
        assert!(!store.nonce_seen(&node, "cc").expect("query"), "a refused nonce was kept");
        assert!(!store.nonce_seen(&node, "dd").expect("query"), "a refused nonce was kept");
        let stored = store.registration(&node).expect("query").expect("stored");
        assert_eq!(stored.target.value, "http://b/");
        assert_eq!(store.counts().expect("counts"), (1, 2));
    });
}

/// Registers one phone from 40 threads at once, spread over `stores`; returns how many were
/// stored. The count and the insert are one transaction, so no more than the bound may be.
fn register_at_once(stores: &[Arc<PushStore>]) -> usize {
    let bound = RegistrationWindow { since: 0, max: 10 };
    let start = Arc::new(std::sync::Barrier::new(40));
    let threads: Vec<_> = (0..40u64)
        .map(|i| {
            let store = Arc::clone(&stores[i as usize % stores.len()]);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                let nonce = format!("{i:02x}");
                store.register(&request(&nonce, 1_000 + i, "http://a/"), 1_100, bound)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .filter(|outcome| match outcome {
            Ok(()) => true,
            Err(StoreError::TooMany { .. } | StoreError::Older { .. }) => false,
            Err(e) => panic!("{e}"),
        })
        .count()
}

#[test]
fn concurrent_registrations_never_exceed_the_bound() {
    on_each_backend(|store| {
        let stored = register_at_once(&[Arc::clone(&store)]);
        let (_, nonces) = store.counts().expect("counts");
        assert!(stored <= 10 && nonces == stored as u64, "{stored} stored, {nonces} nonces");
        assert!(stored >= 1);
    });
}

#[test]
fn the_push_log_keeps_the_latest_rows() {
    on_each_backend(|store| {
        let node = key(3);
        store.log_outcome(&node, 5, Outcome::Failed, 3, "500").expect("log");
        store.log_outcome(&node, 6, Outcome::Delivered, 1, "200").expect("log");
        let log = store.push_log(10).expect("read");
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].outcome, Outcome::Delivered);
        assert_eq!(log[1].attempts, 3);
        assert_eq!(log[1].node_id, node.to_string());
        // The log keeps its newest `PUSH_LOG_ROWS` (5 in tests).
        for at in 7..15 {
            store.log_outcome(&node, at, Outcome::Delivered, 1, "200").expect("log");
        }
        let log = store.push_log(100).expect("read");
        let kept: Vec<u64> = log.iter().map(|entry| entry.at).collect();
        assert_eq!(kept, vec![14, 13, 12, 11, 10]);
    });
}

/// Two LSP nodes on one PostgreSQL: each sees only its own registrations and log rows, a
/// nonce used at one is replayed at the other, and a phone registered at both keeps both.
#[test]
fn lsp_nodes_sharing_postgres_keep_their_own_phones() {
    let server = Postgres::start();
    let (a, b) = (postgres_store(&server, 201), postgres_store(&server, 202));
    let at_a = VerifiedRequest { node_id: key(10), ..request("a1", 1_000, "http://phone-a/") };
    let at_b = VerifiedRequest { node_id: key(11), ..request("b1", 1_000, "http://phone-b/") };
    a.register(&at_a, 1_000, window(0)).expect("a registers its phone");
    b.register(&at_b, 1_000, window(0)).expect("b registers its phone");

    assert_eq!(a.registration(&key(11)).expect("query"), None, "b's phone is not a's");
    assert_eq!(b.registration(&key(10)).expect("query"), None, "a's phone is not b's");
    let listed: Vec<_> =
        a.registrations(None, 10).expect("list").iter().map(|r| r.node_id).collect();
    assert_eq!(listed, vec![key(10)]);
    assert_eq!(a.counts().expect("counts"), (1, 2), "one phone here, both nonces shared");

    // The signed request names no LSP: replaying it at the other node is refused.
    let replayed = b.register(&at_a, 1_001, window(0));
    assert!(matches!(replayed, Err(StoreError::ReplayedNonce)), "{replayed:?}");

    // The phone moves to b with a fresh request; a keeps its row (a only pushes for its own
    // peers), b now pushes it too.
    let moved = VerifiedRequest { nonce: "a2".into(), timestamp: 1_010, ..at_a.clone() };
    b.register(&moved, 1_010, window(0)).expect("the phone registers at b");
    assert_eq!(b.registration(&key(10)).expect("query").map(|r| r.signed_at), Some(1_010));
    assert_eq!(a.registration(&key(10)).expect("query").map(|r| r.signed_at), Some(1_000));

    a.log_outcome(&key(10), 5, Outcome::Delivered, 1, "200").expect("log");
    b.log_outcome(&key(11), 6, Outcome::Failed, 3, "500").expect("log");
    assert_eq!(a.push_log(10).expect("log").len(), 1);
    assert_eq!(b.push_log(10).expect("log")[0].node_id, key(11).to_string());
}

/// The per-phone bound holds across nodes: the phone's advisory lock serialises its
/// registrations wherever they arrive (eight nodes, so eight transactions at once).
#[test]
fn concurrent_registrations_at_many_nodes_never_exceed_the_bound() {
    let server = Postgres::start();
    let stores: Vec<_> = (0..8).map(|i| Arc::new(postgres_store(&server, 201 + i))).collect();
    let stored = register_at_once(&stores);
    let (_, nonces) = stores[0].counts().expect("counts");
    assert!(stored <= 10 && nonces == stored as u64, "{stored} stored, {nonces} nonces");
    assert!(stored >= 1);
}

#[test]
fn an_unreachable_postgres_is_a_typed_error() {
    let port = doze_devnet::nodes::free_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let error = PushStore::postgres(&url).err().expect("nothing listens there");
    assert!(matches!(error, DbError::Postgres(_)), "{error:?}");
    assert!(error.to_string().starts_with("PostgreSQL: "), "{error}");
}

#[test]
fn an_unbound_shared_store_refuses_instead_of_guessing() {
    let server = Postgres::start();
    let store = PushStore::postgres(&server.url()).expect("connected");
    assert!(matches!(store.registration(&key(1)), Err(DbError::Unbound)));
    // Dropping it on a tokio worker does not panic (the runtime shuts down in the background).
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async move { drop(store) });
}
