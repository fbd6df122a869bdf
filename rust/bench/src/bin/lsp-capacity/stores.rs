//! Part 1: registrations stored. Synthetic phones (a real secp256k1 key each) sign a
//! registration the way a phone does; the LSP's checks that need no node (`verify`: JSON,
//! signature, timestamp window) and the store's transaction (`PushStore::register`: nonce,
//! per-phone bound, "not older", the row) are timed one registration at a time, as the LSP
//! runs them, and at each size the store's footprint and the dispatcher's lookup
//! (`PushStore::registration`) are measured.

use std::path::Path;
use std::time::Instant;

use doze_bench::{median, percentile};
use doze_lsp::push::registration::verify;
use doze_lsp::push::{PushStore, PushTarget, RegisterRequest, RegistrationWindow, TargetKind};
use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::lightning::util::message_signing;
use serde::Serialize;

/// The registration window the LSP uses by default (`push.timestamp_window_secs`).
pub const WINDOW_SECS: u64 = 600;

/// Lookups timed at each size.
const LOOKUPS: usize = 2_000;

/// A synthetic phone: a node key and the device token it registers.
pub struct Phone {
    /// Its node key.
    pub secret: SecretKey,
    /// Its node id.
    pub node_id: PublicKey,
    /// The device token it registers.
    pub token: String,
}

/// `count` phones with keys derived from `seed` and their index (distinct seeds, distinct
/// phones), and device tokens `tok-<index>` (the gateway reads the index back).
pub fn phones(seed: &str, count: usize) -> Vec<Phone> {
    let secp = Secp256k1::signing_only();
    (0..count)
        .map(|i| {
            let digest = sha256::Hash::hash(format!("doze-bench|{seed}|{i}").as_bytes());
            let secret = SecretKey::from_slice(&digest.to_byte_array()).expect("a valid key");
            Phone {
                node_id: PublicKey::from_secret_key(&secp, &secret),
                secret,
                token: format!("tok-{i}"),
            }
        })
        .collect()
}

/// A fresh nonce: 16 bytes of hex, distinct per phone and call.
pub fn nonce(phone: &Phone, salt: u64) -> String {
    let digest = sha256::Hash::hash(format!("{}|{salt}", phone.node_id).as_bytes());
    hex::encode(&digest.to_byte_array()[..16])
}

/// The body of `POST /v1/push/register` that `phone` signs at `now` for its APNs token.
pub fn signed_body(phone: &Phone, now: u64) -> Vec<u8> {
    let target = PushTarget { kind: TargetKind::Apns, value: phone.token.clone() };
    let request =
        RegisterRequest::signed(phone.node_id, "doze-bench", target, now, &nonce(phone, 0), |m| {
            message_signing::sign(m, &phone.secret)
        });
    serde_json::to_vec(&request).expect("a request serialises")
}

/// What one size step measured.
#[derive(Debug, Clone, Serialize)]
pub struct SizeStep {
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Registrations stored so far.
    pub registrations: usize,
    /// Registrations per second over this step (verify + store, one at a time).
    pub per_sec: f64,
    /// The LSP's checks of the signed body (JSON, signature, window), median.
    pub verify_p50_us: f64,
    /// `PushStore::register`, one transaction: median, p99 and worst.
    pub store_p50_ms: f64,
    pub store_p99_ms: f64,
    pub store_max_ms: f64,
    /// The store's files (SQLite and its WAL) or tables (PostgreSQL), and per registration.
    pub bytes_on_disk: u64,
    pub bytes_per_registration: f64,
    /// `PushStore::registration` of a registered phone, median and p99.
    pub lookup_p50_us: f64,
    pub lookup_p99_us: f64,
}

/// Where a store's bytes are, to measure its footprint.
pub enum Footprint<'a> {
    /// `push.sqlite3` and its `-wal` in this directory.
    Sqlite(&'a Path),
    /// The push store's tables in the PostgreSQL database at this URL.
    Postgres(&'a str),
}

impl Footprint<'_> {
    fn bytes(&self) -> u64 {
        match self {
            Footprint::Sqlite(dir) => ["push.sqlite3", "push.sqlite3-wal"]
                .iter()
                .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
                .map(|m| m.len())
                .sum(),
            Footprint::Postgres(url) => crate::pg::push_tables_size(url),
        }
    }
}

/// Registers `phones` into `store` one at a time, measuring at each of `sizes` (ascending).
pub fn grow(
    store: &PushStore,
    kind: &'static str,
    footprint: &Footprint<'_>,
    phones: &[Phone],
    sizes: &[usize],
) -> Vec<SizeStep> {
    let mut steps = Vec::new();
    let mut done = 0;
    for &size in sizes {
        let size = size.min(phones.len());
        let mut verify_us = Vec::with_capacity(size - done);
        let mut store_ms = Vec::with_capacity(size - done);
        for phone in &phones[done..size] {
            let now = doze_testkit::register::unix_now();
            // Signed by the phone, outside the LSP's share of the time.
            let body = signed_body(phone, now);
            let t = Instant::now();
            let request = verify(&body, now, WINDOW_SECS).expect("a valid registration");
            let verified = t.elapsed();
            let window = RegistrationWindow { since: now - WINDOW_SECS, max: 10 };
            let t = Instant::now();
            store.register(&request, now, window).expect("stored");
            store_ms.push(t.elapsed().as_secs_f64() * 1e3);
            verify_us.push(verified.as_secs_f64() * 1e6);
        }
        // The LSP's time only: signing is the phones' work.
        let lsp_secs = (verify_us.iter().sum::<f64>() / 1e6) + (store_ms.iter().sum::<f64>() / 1e3);
        done = size;
        let lookups = lookup_times(store, &phones[..done]);
        let bytes = footprint.bytes();
        let step = SizeStep {
            store: kind,
            registrations: done,
            per_sec: store_ms.len() as f64 / lsp_secs.max(1e-9),
            verify_p50_us: median(verify_us),
            store_p50_ms: percentile(store_ms.clone(), 0.5),
            store_p99_ms: percentile(store_ms.clone(), 0.99),
            store_max_ms: percentile(store_ms, 1.0),
            bytes_on_disk: bytes,
            bytes_per_registration: bytes as f64 / done as f64,
            lookup_p50_us: percentile(lookups.clone(), 0.5),
            lookup_p99_us: percentile(lookups, 0.99),
        };
        eprintln!("stores: {step:?}");
        steps.push(step);
    }
    steps
}

/// `LOOKUPS` lookups of registered phones spread over the store, in microseconds.
fn lookup_times(store: &PushStore, registered: &[Phone]) -> Vec<f64> {
    let stride = (registered.len() / LOOKUPS).max(1);
    (0..LOOKUPS)
        .map(|i| {
            // A pseudo-random walk over the registered phones (not the store's order).
            let phone = &registered[(i * stride * 7919) % registered.len()];
            let t = Instant::now();
            let found = store.registration(&phone.node_id).expect("lookup");
            let us = t.elapsed().as_secs_f64() * 1e6;
            assert!(found.is_some(), "a registered phone is found");
            us
        })
        .collect()
}
