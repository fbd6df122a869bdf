//! Balances and history that add up, block by block: a phone with two channels to its LSP, an
//! on-chain receive and send, then one channel closed cooperatively and the other forced closed,
//! one block mined at a time with a `sync()` after each. At every block the wallet's total
//! (Lightning + on-chain confirmed + unconfirmed + pending) must equal what the devnet says the
//! wallet owns or has coming, and the history must show each on-chain movement of the wallet
//! once, with its status. The block-by-block table is printed (run with `--nocapture`).
//!
//! What the devnet says is worked out from the chain alone: see `doze_testkit::ledger`.

use std::collections::HashSet;
use std::time::Duration;

use doze_core::{
    Balances, ChannelCloseKind, ChannelState, PaymentFilter, PaymentInfo, PaymentKind,
    PaymentStatus, Wallet, WalletEventKind,
};
use doze_devnet::nodes::{try_wait_until, wait_until, DEFAULT_WAIT};
use doze_testkit::ledger::{height, outputs, Coin, Esplora, Held, Ledger, Movement, Truth};
use doze_testkit::phone::start_phone;
use doze_testkit::{runtime, Recorder, Scene};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::{Address, Amount};
use ldk_node::lightning::ln::msgs::SocketAddress;

/// What the merchant pays the phone through the JIT channel (channel 1).
const RECEIVED_MSAT: u64 = 87_000_000;
/// Channel 2, opened by the LSP, and the part of it on the phone's side.
const CHANNEL_SAT: u64 = 150_000;
const PUSHED_MSAT: u64 = 58_000_000;
/// The on-chain receive and the on-chain send.
const FUNDED_SAT: u64 = 60_000;
const SENT_SAT: u64 = 10_000;
/// The fee rate (sat/vB) when channel 2 is forced closed (it opened at 2): the sweep pays it.
const FORCE_CLOSE_FEE_RATE: f64 = 10.0;
/// Blocks a close is followed after its last transaction confirmed.
const FOLLOW_AFTER: u32 = 10;
/// No close takes longer than this many blocks (LDK's default timelock is 144).
const MAX_BLOCKS: u32 = 400;
/// How long balances may take to reflect an event ldk-node handles after the sync returned.
const SETTLE: Duration = Duration::from_secs(5);

/// The wallet's total: each sat is in exactly one of these.
fn total(b: &Balances) -> u64 {
    b.lightning_sat + b.onchain_confirmed_sat + b.onchain_unconfirmed_sat + b.pending_sat
}

/// One line of the table: the wallet's balances after a `sync()` at a height, and the devnet's
/// total before and after that sync (a transaction broadcast while it ran may show in either).
struct Row {
    height: u32,
    step: String,
    balances: Balances,
    before: u64,
    after: u64,
    settled_ms: Option<u128>,
    news: Vec<String>,
}

impl Row {
    fn adds_up(&self) -> bool {
        let t = total(&self.balances);
        t == self.before || t == self.after
    }

    fn numbers(&self) -> (u64, u64, u64, u64, u64, u64) {
        let b = &self.balances;
        let t = total(b);
        let devnet = if t == self.after { self.after } else { self.before };
        let u = b.onchain_unconfirmed_sat;
        (b.lightning_sat, b.onchain_confirmed_sat, u, b.pending_sat, t, devnet)
    }
}

/// The phone, the devnet's view of it, and the table so far.
struct Follow<'a> {
    scene: &'a Scene,
    rt: &'a tokio::runtime::Runtime,
    phone: &'a Wallet,
    ledger: Ledger<'a>,
    receive: Movement,
    rows: Vec<Row>,
    seen: Vec<Movement>,
    problems: Vec<String>,
}

impl Follow<'_> {
    /// Syncs the phone and checks its balances and history against the devnet; syncs and
    /// checks once more if a transaction reached the devnet while the sync ran (the wallet
    /// broadcasts a sweep at the end of a sync).
    fn check(&mut self, step: &str) {
        if self.check_with(step, true) {
            self.check_with(&format!("{step}, again"), true);
        }
    }

    /// Checks the balances against the devnet without a sync first: what the app shows
    /// between two syncs.
    fn peek(&mut self, step: &str) {
        self.check_with(step, false);
    }

    /// Checks the balances (after a sync if `sync`, and then the history too) against the
    /// devnet's side before and after; returns whether that changed meanwhile.
    fn check_with(&mut self, step: &str, sync: bool) -> bool {
        let before = self.ledger.truth();
        if sync {
            self.rt.block_on(self.phone.sync()).unwrap_or_else(|e| panic!("sync: {e}"));
        }
        let mut balances = self.phone.balances().unwrap();
        let after = self.ledger.truth();
        let mut settled_ms = None;
        if ![before.total, after.total].contains(&total(&balances)) {
            // ldk-node hands a matured output from its monitor to its sweeper through an
            // event, handled just after the sync: give it that moment, and say so.
            let started = std::time::Instant::now();
            let settled = try_wait_until("the balances add up", SETTLE, || {
                balances = self.phone.balances().unwrap();
                [before.total, after.total].contains(&total(&balances))
            });
            settled_ms = settled.is_ok().then(|| started.elapsed().as_millis());
        }
        let height = self.ledger.esplora.tip();
        if sync {
            self.check_history(&before, &after, height);
        }
        let news = after
            .movements
            .iter()
            .filter(|m| !self.seen.contains(m))
            .map(|m| {
                let state = m.height.map_or("in the mempool".into(), |h| format!("in block {h}"));
                let txid = &m.txid[..8];
                format!("{} {txid}… {state}, fee {} sat, phone {:+}", m.what, m.fee, m.delta)
            })
            .collect();
        self.seen = after.movements.clone();
        let row = Row {
            height,
            step: step.into(),
            balances,
            before: before.total,
            after: after.total,
            settled_ms,
            news,
        };
        if !row.adds_up() {
            self.problems.push(format!(
                "at {height} ({step}): the wallet's total {} is not the devnet's {} (before the \
                 sync) or {} (after): {balances:?}",
                total(&balances),
                before.total,
                after.total
            ));
        }
        self.rows.push(row);
        before.movements != after.movements
    }

    /// Every on-chain movement of the wallet that was on the devnet when the sync started is in
    /// the history once, pending until in a block; the history has no other on-chain entry.
    fn check_history(&mut self, before: &Truth, after: &Truth, height: u32) {
        let page = self
            .phone
            .list_payments_page(
                PaymentFilter { kinds: vec![PaymentKind::Onchain], ..PaymentFilter::default() },
                None,
                500,
            )
            .unwrap();
        let history: Vec<&PaymentInfo> = page.payments.iter().collect();
        let wallet_txs = |t: &Truth| {
            let mut txs: Vec<Movement> =
                t.movements.iter().filter(|m| m.in_wallet).cloned().collect();
            txs.push(self.receive.clone());
            txs
        };
        for m in wallet_txs(before) {
            let rows: Vec<_> =
                history.iter().filter(|p| p.txid.as_deref() == Some(m.txid.as_str())).collect();
            let confirmed = after
                .movements
                .iter()
                .chain([&self.receive])
                .any(|a| a.txid == m.txid && a.height.is_some());
            let status = if confirmed { PaymentStatus::Succeeded } else { PaymentStatus::Pending };
            if rows.len() != 1 || rows[0].status != status {
                self.problems.push(format!(
                    "at {height}: the {} {} should be in the history once, {status:?}: {rows:?}",
                    m.what, m.txid
                ));
            }
        }
        let known: HashSet<String> =
            wallet_txs(before).into_iter().chain(wallet_txs(after)).map(|m| m.txid).collect();
        for p in &history {
            if !p.txid.as_ref().is_some_and(|t| known.contains(t)) {
                self.problems.push(format!("at {height}: not a movement of the wallet: {p:?}"));
            }
        }
    }

    /// Waits until the devnet has the movement `what` (in its mempool, at least).
    fn wait_for_movement(&self, what: &str) {
        wait_until(what, DEFAULT_WAIT, || {
            self.ledger.truth().movements.iter().any(|m| m.what == what)
        });
    }

    /// Mines one block at a time, checking each, until `done` says the close is over.
    fn follow(&mut self, what: &str, done: impl Fn(&Truth, u32) -> bool) {
        for _ in 0..MAX_BLOCKS {
            self.scene.devnet.mine(1);
            self.check(what);
            if done(&self.ledger.truth(), self.ledger.esplora.tip()) {
                return;
            }
        }
        panic!("{what}: not over after {MAX_BLOCKS} blocks");
    }

    /// The table, with runs of blocks where nothing changed folded into one line.
    fn table(&self) -> String {
        let mut out = String::from(
            "\n height | step                 | lightning | on-chain conf | unconf |  pending | \
             total   | devnet  | ok\n",
        );
        let mut folded: Option<(u32, u32)> = None;
        for (i, row) in self.rows.iter().enumerate() {
            let same = i > 0
                && row.news.is_empty()
                && row.settled_ms.is_none()
                && row.numbers() == self.rows[i - 1].numbers()
                && row.step == self.rows[i - 1].step;
            if same {
                folded = Some((folded.map_or(row.height, |(from, _)| from), row.height));
                continue;
            }
            if let Some((from, to)) = folded.take() {
                out.push_str(&format!(" {from}–{to}: the same\n"));
            }
            let (l, c, u, p, t, d) = row.numbers();
            let ok = if row.adds_up() { "yes" } else { "NO" };
            out.push_str(&format!(
                " {:>6} | {:<20} | {l:>9} | {c:>13} | {u:>6} | {p:>8} | {t:>7} | {d:>7} | {ok}\n",
                row.height, row.step
            ));
            if let Some(ms) = row.settled_ms {
                out.push_str(&format!("        ↳ added up {ms} ms after the sync returned\n"));
            }
            for news in &row.news {
                out.push_str(&format!("        ↳ {news}\n"));
            }
        }
        if let Some((from, to)) = folded {
            out.push_str(&format!(" {from}–{to}: the same\n"));
        }
        out
    }
}

/// The phone's share of its channel `channel_id` with the LSP, from the LSP's books: what the
/// LSP can receive over it plus the reserve it requires the phone to keep.
fn share_at_lsp(scene: &Scene, channel_id: &str) -> (u64, Coin) {
    let channel = scene
        .lsp
        .node()
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id.to_string() == channel_id)
        .unwrap_or_else(|| panic!("the LSP has channel {channel_id}"));
    let share_msat =
        channel.inbound_capacity_msat + channel.counterparty_unspendable_punishment_reserve * 1000;
    let share = share_msat / 1000;
    let funding = channel.funding_txo.unwrap();
    let coin = Coin {
        txid: funding.txid.to_string(),
        vout: funding.vout,
        value: channel.channel_value_sats,
        held: Held::Channel { share, cooperative: false },
    };
    (share, coin)
}

/// What a channel event says happened to which channel.
fn channel_event(kind: &WalletEventKind) -> Option<(&'static str, &str)> {
    match kind {
        WalletEventKind::ChannelPending { channel_id, .. } => Some(("pending", channel_id)),
        WalletEventKind::ChannelReady { channel_id, .. } => Some(("ready", channel_id)),
        WalletEventKind::ChannelClosed { channel_id, .. } => Some(("closed", channel_id)),
        _ => None,
    }
}

/// Waits for the app's listener to get the event `what` of channel `id`.
fn wait_channel_event(recorder: &Recorder, what: &str, id: &str) -> WalletEventKind {
    recorder.wait_for(DEFAULT_WAIT, |e| channel_event(&e.kind) == Some((what, id))).kind
}

/// The on-chain history, as an app would list it.
fn print_history(history: &[PaymentInfo]) {
    println!("\n on-chain history, newest first:");
    for p in history.iter().filter(|p| p.kind == PaymentKind::Onchain) {
        let txid = p.txid.as_deref().unwrap_or_default();
        let amount = p.amount_msat.unwrap_or_default() / 1000;
        let fee = p.fee_msat.map_or("-".into(), |f| format!("{} sat", f / 1000));
        let direction = format!("{:?}", p.direction);
        println!(" {txid} {direction:<8} {amount:>7} sat, fee {fee:>8}, {:?}", p.status);
    }
}

#[test]
fn each_sat_is_counted_once_block_by_block_through_a_cooperative_and_a_forced_close() {
    let scene = Scene::new();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (phone, recorder) = start_phone(&scene, dir.path(), &rt);
    let esplora = Esplora::new(scene.devnet.esplora_url());

    // Channel 1: the JIT channel of a first payment. Channel 2: the LSP opens it with part of
    // it on the phone's side, from confirmed coins (so the JIT funding confirms first).
    let invoice =
        rt.block_on(phone.receive_bolt11(Some(RECEIVED_MSAT), "first".into(), 3600)).unwrap();
    assert!(scene.merchant_pays(&invoice.bolt11));
    assert!(scene.devnet.wait_for_mempool_len(1, DEFAULT_WAIT), "JIT funding broadcast");
    scene.devnet.mine(1);
    scene.lsp.sync().unwrap();
    let phone_id: PublicKey = phone.node_id().unwrap().parse().unwrap();
    // Already connected: the address is not used.
    let connected = SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: 9 };
    let lsp = scene.lsp.node();
    lsp.open_channel(phone_id, connected, CHANNEL_SAT, Some(PUSHED_MSAT), None).unwrap();
    assert!(scene.devnet.wait_for_mempool_len(1, DEFAULT_WAIT), "channel 2 funding broadcast");
    scene.devnet.mine(6);

    // On-chain: a receive, then a send.
    let address = phone.new_onchain_address().unwrap();
    let address: Address = address.parse::<Address<_>>().unwrap().assume_checked();
    let funded = scene.devnet.fund(&address, Amount::from_sat(FUNDED_SAT)).unwrap().to_string();
    scene.devnet.mine(1);
    wait_until("two usable channels and the receive", DEFAULT_WAIT, || {
        scene.lsp.sync().is_ok() && rt.block_on(phone.sync()).is_ok() && {
            let b = phone.balances().unwrap();
            let channels = phone.list_channels().unwrap();
            channels.iter().filter(|c| c.state == ChannelState::Usable).count() == 2
                && b.onchain_confirmed_sat == FUNDED_SAT
                && b.pending_sat == 0
        }
    });
    let channels = phone.list_channels().unwrap();
    let id_of = |jit: bool| {
        let c = channels.iter().find(|c| (c.capacity_sat != CHANNEL_SAT) == jit).unwrap();
        c.channel_id.clone()
    };
    let (jit, opened) = (id_of(true), id_of(false));
    for id in [&jit, &opened] {
        wait_channel_event(&recorder, "pending", id);
        wait_channel_event(&recorder, "ready", id);
    }

    let (jit_share, mut jit_coin) = share_at_lsp(&scene, &jit);
    jit_coin.held = Held::Channel { share: jit_share, cooperative: true };
    let (opened_share, opened_coin) = share_at_lsp(&scene, &opened);
    let fund_tx = esplora.tx(&funded);
    let (vout, value, _) = outputs(&fund_tx).find(|(_, _, a)| *a == address.to_string()).unwrap();
    let receive = Movement {
        txid: funded.clone(),
        what: "on-chain receive",
        fee: fund_tx["fee"].as_u64().unwrap(),
        height: height(&fund_tx),
        delta: value as i64,
        in_wallet: true,
    };
    let merchant_address = scene.merchant.onchain_payment().new_address().unwrap().to_string();
    let ledger = Ledger {
        esplora: &esplora,
        roots: vec![
            Coin { txid: funded.clone(), vout, value, held: Held::Wallet },
            jit_coin,
            opened_coin,
        ],
        external: [merchant_address.clone()].into(),
    };
    let mut follow = Follow {
        scene: &scene,
        rt: &rt,
        phone: &phone,
        ledger,
        receive,
        rows: Vec::new(),
        seen: Vec::new(),
        problems: Vec::new(),
    };
    follow.check("two channels");
    let b = &follow.rows[0].balances;
    assert_eq!(b.lightning_sat, jit_share + opened_share, "the LSP's books: {b:?}");

    let sent = rt.block_on(phone.send_onchain(&merchant_address, Some(SENT_SAT), None)).unwrap();
    assert!(scene.devnet.wait_for_mempool(&sent.parse().unwrap(), DEFAULT_WAIT));
    follow.check("on-chain send");
    follow.follow("send confirms", |t, _| t.movements.iter().all(|m| m.height.is_some()));

    // Channel 1, cooperatively: its balance goes straight to the wallet's address.
    rt.block_on(phone.close_channel(&jit)).unwrap();
    let coop = wait_channel_event(&recorder, "closed", &jit);
    follow.wait_for_movement("closing tx");
    follow.peek("coop close, no sync");
    follow.check("coop close");
    follow.follow("coop close", |t, tip| confirmed_for(t, "closing tx", tip, FOLLOW_AFTER));

    // Channel 2, forced, after fees rose: the commitment, the timelock, the sweep (at the new
    // fee rate). The phone does not bump the commitment's fee: ldk-node leaves that to the
    // LSP, a trusted peer.
    scene.devnet.state().set_fee_rate(FORCE_CLOSE_FEE_RATE);
    follow.check("fees rise");
    rt.block_on(phone.force_close_channel(&opened, Some("test".into()))).unwrap();
    let forced = wait_channel_event(&recorder, "closed", &opened);
    follow.wait_for_movement("commitment tx");
    follow.peek("force close, no sync");
    follow.check("force close");
    follow.follow("force close", |t, tip| confirmed_for(t, "sweep", tip, FOLLOW_AFTER));

    println!("{}", follow.table());
    println!("channel 1 {jit}:\n  {coop:?}\nchannel 2 {opened}:\n  {forced:?}");
    let history = phone.list_payments().unwrap();
    print_history(&history);
    let kind = |event: &WalletEventKind| match event {
        WalletEventKind::ChannelClosed { close_kind, .. } => *close_kind,
        other => panic!("not a close: {other:?}"),
    };
    assert_eq!(kind(&coop), ChannelCloseKind::Cooperative);
    assert_eq!(kind(&forced), ChannelCloseKind::ForcedByUs);
    // The history's amounts are what moved, and its fees what the wallet paid: the close pays
    // the phone its share (the LSP pays the fee), the sweep the timelocked share less its fee.
    let row = |what: &str| {
        let m = follow.seen.iter().chain([&follow.receive]).find(|m| m.what == what).unwrap();
        let p = history.iter().find(|p| p.txid.as_deref() == Some(m.txid.as_str())).unwrap();
        (p.amount_msat.map(|a| a / 1000), p.fee_msat.map(|f| f / 1000), m.fee)
    };
    assert_eq!(row("on-chain receive"), (Some(FUNDED_SAT), None, follow.receive.fee));
    let (sent_sat, send_fee, fee) = row("on-chain send");
    assert_eq!((sent_sat, send_fee), (Some(SENT_SAT), Some(fee)));
    let (closed_sat, close_fee, _) = row("closing tx");
    assert_eq!((closed_sat, close_fee), (Some(jit_share), None));
    let (swept, sweep_fee, fee) = row("sweep");
    assert_eq!((swept, sweep_fee), (Some(opened_share - fee), Some(fee)));

    let end = &follow.rows[follow.rows.len() - 1].balances;
    assert!(follow.problems.is_empty(), "{}", follow.problems.join("\n"));
    assert_eq!((end.lightning_sat, end.pending_sat), (0, 0), "{end:?}");
    rt.block_on(phone.stop()).unwrap();
}

/// Whether `truth` has the movement `what` confirmed at least `depth` blocks below `tip`.
fn confirmed_for(truth: &Truth, what: &str, tip: u32, depth: u32) -> bool {
    truth.movements.iter().any(|m| m.what == what && m.height.is_some_and(|h| tip >= h + depth))
}
