//! One configuration of the bench: its phones taking turns, and what was measured of them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use doze_bench::keyspace::Keyspace;
use doze_testkit::latency_proxy::LatencyProxy;
use serde_json::{json, Value};

use crate::phone::{Phone, Store};
use crate::{round, stats};

/// What a phone had asked of its stores at one point: the Doze backup's global version, the
/// requests through its proxy by path, its local store's writes by object (`stock_local`).
pub(crate) type Snapshot = (Option<i64>, BTreeMap<String, u64>, Option<BTreeMap<String, u64>>);

/// The objects Doze's backed-up store keeps local only (`backup/store.rs`, `is_local_only`).
pub(crate) const DOZE_LOCAL_ONLY: [&str; 4] =
    ["network_graph", "scorer", "external_pathfinding_scores_cache", "node_metrics"];

/// One configuration of the bench: its phones (taking turns) and what was measured of them.
pub(crate) struct Bench {
    pub(crate) name: &'static str,
    pub(crate) phones: Vec<Phone>,
    /// The phone whose turn it is.
    pub(crate) turn: usize,
    pub(crate) store: Store,
    /// Each phone's keyspace on the server, if the store is remote.
    pub(crate) keyspaces: Vec<Keyspace>,
    /// `stock_local`: its phones' store writes by object.
    pub(crate) writes: Option<Arc<Mutex<BTreeMap<String, u64>>>>,
    /// The proxy in front of the server, if this phone's store goes through one.
    pub(crate) proxy: Option<Arc<LatencyProxy>>,
    pub(crate) samples: BTreeMap<&'static str, Vec<f64>>,
    pub(crate) start_parts: BTreeMap<&'static str, Vec<f64>>,
    pub(crate) restore_parts: BTreeMap<&'static str, Vec<f64>>,
    /// Per phase: the global version's moves and the proxy's requests.
    pub(crate) remote: BTreeMap<&'static str, Value>,
    /// Payments that failed (not measured): which way, which phone, why.
    pub(crate) failures: Vec<String>,
}

impl Bench {
    pub(crate) fn record(&mut self, what: &'static str, value: f64) {
        self.samples.entry(what).or_default().push(value);
    }

    /// Records a failed payment (said at once, with the phone's state; not measured).
    pub(crate) fn failed(&mut self, way: &str, who: &str, turn: usize, why: String) {
        let state = self.phones[turn].state();
        eprintln!("{who}: a {way} failed: {why}; {state}");
        self.failures.push(format!("{way} by phone {turn}: {why}"));
    }

    /// The index of the phone whose turn it is, and moves the turn on.
    pub(crate) fn next(&mut self) -> usize {
        let index = self.turn % self.phones.len();
        self.turn += 1;
        index
    }

    pub(crate) fn doze(&self) -> bool {
        matches!(self.phones.first(), Some(Phone::Doze(_)))
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        // Only Doze's writes move the global version on; stock ldk-node's do not.
        let version = (self.doze() && !self.keyspaces.is_empty()).then(|| {
            self.keyspaces
                .iter()
                .map(|k| k.global_version().expect("the backup's global version"))
                .sum()
        });
        let requests = self.proxy.as_ref().map(|p| p.requests()).unwrap_or_default();
        let writes =
            self.writes.as_ref().map(|w| w.lock().unwrap_or_else(|p| p.into_inner()).clone());
        (version, requests, writes)
    }

    /// Records what the phone asked of the server between `before` (a [`Bench::snapshot`])
    /// and now, over `count` operations of `phase`.
    pub(crate) fn account(&mut self, phase: &'static str, before: Snapshot, count: usize) {
        if self.proxy.is_none() && before.0.is_none() && before.2.is_none() {
            return;
        }
        let (version, requests, writes) = self.snapshot();
        let per = |n: f64| round(n / count.max(1) as f64 * 100.0) / 100.0;
        let mut entry = serde_json::Map::new();
        entry.insert("operations".into(), json!(count));
        if let (Some(after), Some(before)) = (version, before.0) {
            entry.insert("doze_writes".into(), json!(after - before));
            entry.insert("doze_writes_per_operation".into(), json!(per((after - before) as f64)));
        }
        if self.proxy.is_some() {
            let mut by_path = serde_json::Map::new();
            for (path, n) in &requests {
                let n = n - before.1.get(path).copied().unwrap_or(0);
                if n > 0 {
                    by_path
                        .insert(path.clone(), json!({"total": n, "per_operation": per(n as f64)}));
                }
            }
            entry.insert("proxied_requests".into(), Value::Object(by_path));
        }
        if let (Some(after), Some(before)) = (writes, before.2) {
            let (mut all, mut backed_up) = (0, 0);
            let mut by_object = serde_json::Map::new();
            for (object, n) in &after {
                let n = n - before.get(object).copied().unwrap_or(0);
                if n > 0 {
                    all += n;
                    if !DOZE_LOCAL_ONLY.contains(&object.as_str()) {
                        backed_up += n;
                    }
                    by_object.insert(object.clone(), json!(per(n as f64)));
                }
            }
            entry.insert("store_writes_per_operation".into(), json!(per(all as f64)));
            entry.insert(
                "of_which_doze_would_back_up_per_operation".into(),
                json!(per(backed_up as f64)),
            );
            entry.insert("store_writes_per_operation_by_object".into(), Value::Object(by_object));
        }
        self.remote.insert(phase, Value::Object(entry));
    }

    pub(crate) fn summary(&self) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("phones".into(), json!(self.phones.len()));
        out.insert(
            "store".into(),
            json!(match (&self.store, &self.proxy) {
                (Store::Local, _) => "local SQLite".to_string(),
                (Store::Remote(_), None) => "VSS on loopback".to_string(),
                (Store::Remote(_), Some(p)) =>
                    format!("VSS through a proxy adding {} ms each way", p.one_way().as_millis()),
            }),
        );
        for (what, samples) in &self.samples {
            out.insert(what.to_string(), stats(samples));
        }
        for (prefix, parts) in [("start", &self.start_parts), ("restore", &self.restore_parts)] {
            if !parts.is_empty() {
                let parts: serde_json::Map<_, _> =
                    parts.iter().map(|(k, v)| (k.to_string(), stats(v))).collect();
                out.insert(format!("{prefix}_parts"), Value::Object(parts));
            }
        }
        if !self.remote.is_empty() {
            out.insert("remote".into(), json!(self.remote));
        }
        out.insert("failed_payments".into(), json!(self.failures));
        Value::Object(out)
    }
}
