//! The history's filters and cursor at scale: thousands of payments (many created in the same
//! second, so that pages end inside a run of equal timestamps), every filter dimension and
//! combinations of them, paged at several page sizes against a reference computed in memory;
//! and a paging that carries on while payments arrive and change.
//!
//! Rows are written straight into `doze.sqlite` (as a reconcile or an event would, with the
//! stored codes pinned here: they are the on-disk format) and read back only through
//! `Wallet::list_payments_page`, on a wallet that is never started.

use std::collections::HashSet;

use doze_core::{
    PaymentDirection, PaymentFilter, PaymentInfo, PaymentKind, PaymentStatus, Wallet, WalletError,
};
use doze_testkit::phone::config_without_lsp;
use doze_testkit::MNEMONIC;

/// The history at the start of each test.
const PAYMENTS: usize = 5_000;
/// The first payment's time; the others within `SPREAD_SECS` after it.
const FIRST_SECS: u64 = 1_700_000_000;
/// Fewer seconds than payments: most seconds hold several.
const SPREAD_SECS: u64 = 2_000;

const DIRECTIONS: [PaymentDirection; 2] = [PaymentDirection::Inbound, PaymentDirection::Outbound];
const STATUSES: [PaymentStatus; 3] =
    [PaymentStatus::Pending, PaymentStatus::Succeeded, PaymentStatus::Failed];
const KINDS: [PaymentKind; 6] = [
    PaymentKind::Onchain,
    PaymentKind::Bolt11,
    PaymentKind::Bolt11Jit,
    PaymentKind::Bolt12Offer,
    PaymentKind::Bolt12Refund,
    PaymentKind::Spontaneous,
];

/// A small deterministic generator (splitmix64): the same history on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A random subset of `items` (possibly empty: no filter on that dimension).
    fn subset<T: Copy>(&mut self, items: &[T]) -> Vec<T> {
        items.iter().copied().filter(|_| self.below(3) == 0).collect()
    }

    fn payment_id(&mut self) -> String {
        format!("{:016x}{:016x}{:016x}{:016x}", self.next(), self.next(), self.next(), self.next())
    }

    /// A payment created in `from..from + spread` seconds.
    fn payment_in(&mut self, from: u64, spread: u64) -> PaymentInfo {
        let created_at = from + self.below(spread);
        self.payment(created_at)
    }

    /// A payment created at `created_at`, everything else random.
    fn payment(&mut self, created_at: u64) -> PaymentInfo {
        let kind = self.pick(&KINDS);
        let id = self.payment_id();
        let onchain = kind == PaymentKind::Onchain;
        PaymentInfo {
            payment_hash: (!onchain).then(|| id.clone()),
            txid: onchain.then(|| id.clone()),
            id,
            kind,
            direction: self.pick(&DIRECTIONS),
            status: self.pick(&STATUSES),
            amount_msat: (self.below(10) != 0).then(|| self.below(10_000_000_000)),
            fee_msat: (self.below(2) == 0).then(|| self.below(100_000)),
            created_at_secs: created_at,
            updated_at_secs: created_at + self.below(600),
            request: (self.below(2) == 0).then(|| format!("lnbcrt{}", self.below(1_000_000))),
        }
    }
}

/// The codes `doze.sqlite` stores (`store/history/rows.rs`); a change here is a format change.
fn codes(p: &PaymentInfo) -> (i64, i64, i64) {
    let direction = DIRECTIONS.iter().position(|d| *d == p.direction);
    let status = STATUSES.iter().position(|s| *s == p.status);
    let kind = KINDS.iter().position(|k| *k == p.kind);
    match (direction, status, kind) {
        (Some(d), Some(s), Some(k)) => (d as i64, s as i64, k as i64),
        _ => panic!("a variant without a code: {p:?}"),
    }
}

/// A never-started wallet on its own directory, and a connection to its history.
struct History {
    wallet: Wallet,
    conn: rusqlite::Connection,
    _dir: tempfile::TempDir,
}

impl History {
    fn new() -> History {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a directory: {e}"));
        // Never contacted: the wallet is not started.
        let config = config_without_lsp("http://127.0.0.1:9", dir.path());
        let wallet = Wallet::new(config, MNEMONIC, None).unwrap_or_else(|e| panic!("{e}"));
        // The first read creates the history's tables.
        let empty = wallet.list_payments_page(PaymentFilter::default(), None, 10);
        assert_eq!(empty.map(|p| p.payments.len()).ok(), Some(0), "a new history is empty");
        let conn = rusqlite::Connection::open(dir.path().join("doze.sqlite"))
            .unwrap_or_else(|e| panic!("doze.sqlite: {e}"));
        History { wallet, conn, _dir: dir }
    }

    /// Writes `payments` (new or changed) as one transaction.
    fn write(&mut self, payments: &[PaymentInfo]) {
        let tx = self.conn.transaction().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR REPLACE INTO payments (id, created_at, updated_at, direction,
                         status, kind, amount_msat, fee_msat, payment_hash, txid, request)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .unwrap_or_else(|e| panic!("{e}"));
            for p in payments {
                let (direction, status, kind) = codes(p);
                insert
                    .execute(rusqlite::params![
                        p.id,
                        p.created_at_secs as i64,
                        p.updated_at_secs as i64,
                        direction,
                        status,
                        kind,
                        p.amount_msat.map(|a| a as i64),
                        p.fee_msat.map(|f| f as i64),
                        p.payment_hash,
                        p.txid,
                        p.request,
                    ])
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        tx.commit().unwrap_or_else(|e| panic!("{e}"));
    }

    /// One page, as the app asks for it.
    fn page(
        &self,
        filter: &PaymentFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> (Vec<PaymentInfo>, Option<String>) {
        let page = self
            .wallet
            .list_payments_page(filter.clone(), cursor, limit)
            .unwrap_or_else(|e| panic!("a page ({filter:?}): {e}"));
        (page.payments, page.next_cursor)
    }

    /// Every page of `filter` at `limit` a page, joined.
    fn all_pages(&self, filter: &PaymentFilter, limit: u32) -> Vec<PaymentInfo> {
        let (mut out, mut cursor) = self.page(filter, None, limit);
        while let Some(next) = cursor {
            let (payments, after) = self.page(filter, Some(next), limit);
            assert!(!payments.is_empty(), "a cursor led to an empty page ({filter:?})");
            assert!(payments.len() <= limit as usize, "a page holds at most its limit");
            out.extend(payments);
            cursor = after;
        }
        out
    }
}

/// The history's order: newest first, then by id, descending.
fn newest_first(payments: &mut [PaymentInfo]) {
    payments.sort_by(|a, b| (b.created_at_secs, &b.id).cmp(&(a.created_at_secs, &a.id)));
}

fn matches(filter: &PaymentFilter, p: &PaymentInfo) -> bool {
    filter.direction.is_none_or(|d| d == p.direction)
        && (filter.statuses.is_empty() || filter.statuses.contains(&p.status))
        && (filter.kinds.is_empty() || filter.kinds.contains(&p.kind))
        && filter.from_secs.is_none_or(|from| p.created_at_secs >= from)
        && filter.to_secs.is_none_or(|to| p.created_at_secs < to)
}

/// Each dimension alone (every value), then random combinations, with time ranges that
/// start or end inside a run of equal timestamps, and one that is empty.
fn filters(rng: &mut Rng) -> Vec<PaymentFilter> {
    let mut out = vec![PaymentFilter::default()];
    out.extend(DIRECTIONS.map(|d| PaymentFilter { direction: Some(d), ..Default::default() }));
    out.extend(STATUSES.map(|s| PaymentFilter { statuses: vec![s], ..Default::default() }));
    out.extend(KINDS.map(|k| PaymentFilter { kinds: vec![k], ..Default::default() }));
    let middle = FIRST_SECS + SPREAD_SECS / 2;
    out.extend([
        PaymentFilter { from_secs: Some(middle), ..Default::default() },
        PaymentFilter { to_secs: Some(middle), ..Default::default() },
        PaymentFilter { from_secs: Some(middle), to_secs: Some(middle + 1), ..Default::default() },
        PaymentFilter { from_secs: Some(middle), to_secs: Some(middle), ..Default::default() },
        PaymentFilter { from_secs: Some(FIRST_SECS + SPREAD_SECS), ..Default::default() },
    ]);
    for _ in 0..40 {
        let from = (rng.below(2) == 0).then(|| FIRST_SECS + rng.below(SPREAD_SECS));
        let to = (rng.below(2) == 0).then(|| FIRST_SECS + rng.below(SPREAD_SECS + 1));
        out.push(PaymentFilter {
            direction: (rng.below(2) == 0).then(|| rng.pick(&DIRECTIONS)),
            statuses: rng.subset(&STATUSES),
            kinds: rng.subset(&KINDS),
            from_secs: from,
            to_secs: to,
        });
    }
    out
}

#[test]
fn every_filter_pages_through_exactly_the_matching_payments_in_order() {
    let mut rng = Rng(21);
    let mut history = History::new();
    let mut payments: Vec<PaymentInfo> =
        (0..PAYMENTS).map(|_| rng.payment_in(FIRST_SECS, SPREAD_SECS)).collect();
    history.write(&payments);
    newest_first(&mut payments);

    let mut nonempty = 0;
    for filter in filters(&mut rng) {
        let expected: Vec<&PaymentInfo> = payments.iter().filter(|p| matches(&filter, p)).collect();
        nonempty += usize::from(!expected.is_empty());
        for limit in [1, 7, 50, 500] {
            // A page of 1 over 5 000 payments is slow to walk and adds nothing past a few.
            if limit == 1 && expected.len() > 300 {
                continue;
            }
            let got = history.all_pages(&filter, limit);
            let got_ids: Vec<&str> = got.iter().map(|p| p.id.as_str()).collect();
            let expected_ids: Vec<&str> = expected.iter().map(|p| p.id.as_str()).collect();
            assert_eq!(got_ids, expected_ids, "{filter:?} at {limit} a page");
            // The whole row reads back as written (the codes, the amounts, the request).
            for (got, expected) in got.iter().zip(&expected) {
                assert_eq!(got, *expected, "{filter:?}: a row reads back as written");
            }
        }
    }
    assert!(nonempty > 30, "the filters should mostly match something ({nonempty})");

    // A cursor the history did not give is a typed error, not a wrong page.
    for bad in ["", "not a cursor", "12:", ":abc", "99999999999999999999999:00"] {
        match history.wallet.list_payments_page(PaymentFilter::default(), Some(bad.into()), 10) {
            Err(WalletError::InvalidConfig(_)) => {}
            other => panic!("cursor {bad:?}: {other:?}"),
        }
    }
}

#[test]
fn paging_while_payments_arrive_and_change_shows_each_payment_once_in_order() {
    let mut rng = Rng(2121);
    let mut history = History::new();
    let start: Vec<PaymentInfo> =
        (0..PAYMENTS).map(|_| rng.payment_in(FIRST_SECS, SPREAD_SECS)).collect();
    history.write(&start);

    let filter = PaymentFilter::default();
    let mut seen: Vec<PaymentInfo> = Vec::new();
    // Payments that arrived older than the cursor at the time: the rest of the paging owes them.
    let mut owed: HashSet<String> = HashSet::new();
    let mut arrived_newer = 0;
    let (mut page, mut cursor) = history.page(&filter, None, 100);
    loop {
        seen.extend(page.iter().cloned());
        let Some(last) = page.last().cloned() else { break };
        let Some(next) = cursor else { break };

        // Between two pages: new payments (newer than all, in the cursor's second, older than
        // all) and status changes of payments already shown and not yet shown.
        let mut batch = vec![
            rng.payment_in(FIRST_SECS + SPREAD_SECS, 100),
            rng.payment(last.created_at_secs),
            rng.payment(last.created_at_secs),
            rng.payment_in(FIRST_SECS - 100, 100),
        ];
        for p in &batch {
            if (p.created_at_secs, &p.id) < (last.created_at_secs, &last.id) {
                owed.insert(p.id.clone());
            } else {
                arrived_newer += 1;
            }
        }
        let shown = &seen[rng.below(seen.len() as u64) as usize];
        let unshown = &start[rng.below(start.len() as u64) as usize];
        for changed in [shown, unshown] {
            batch.push(PaymentInfo {
                status: PaymentStatus::Succeeded,
                updated_at_secs: changed.updated_at_secs + 1,
                ..changed.clone()
            });
        }
        history.write(&batch);

        (page, cursor) = history.page(&filter, Some(next), 100);
    }

    let keys: Vec<(u64, &str)> = seen.iter().map(|p| (p.created_at_secs, p.id.as_str())).collect();
    assert!(keys.windows(2).all(|w| w[0] > w[1]), "strictly newest first, no repeat");
    let ids: HashSet<&str> = keys.iter().map(|(_, id)| *id).collect();
    let missing = start.iter().filter(|p| !ids.contains(p.id.as_str())).count();
    assert_eq!(missing, 0, "every payment there at the start was shown");
    let unpaid = owed.iter().filter(|id| !ids.contains(id.as_str())).count();
    assert_eq!(unpaid, 0, "every payment that arrived behind the cursor was shown");
    assert_eq!(seen.len(), start.len() + owed.len(), "and nothing else");
    assert!(arrived_newer > 0 && !owed.is_empty(), "both kinds of arrival happened");

    // The app refreshes from the top and finds the newer arrivals there.
    let everything = history.all_pages(&filter, 500);
    assert_eq!(everything.len(), start.len() + owed.len() + arrived_newer);
}
