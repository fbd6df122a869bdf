//! A seeded chaos run: the phone's app as a process (`doze-chaos-app`, [`app`]) doing a
//! random mix of what users do (offer payments split over its channels, send max, invoices
//! that a JIT channel may carry, on-chain receives and sends), killed with SIGKILL at random
//! instants and started again; while it is down the payer pays its offer and the push
//! launches a wake process, which is killed at random too. The supervisor ([`supervisor`])
//! pays what the app asks for, funds its addresses, and after every start and at the end
//! checks the invariants ([`checks`]): no channel force-closed, every payment in the same
//! final state on both sides and none paid twice, every payment's event delivered, the
//! channels' sats conserved.
//!
//! Seeded: the same seed makes the same choices (the kill instants, the amounts, the order of
//! the app's actions); the timing of the processes still varies, so a failure is replayed
//! from its seed with the journal and the processes' logs it names.

pub mod app;
pub mod checks;
pub mod journal;
pub mod lsp_process;
pub mod supervisor;

use std::path::PathBuf;

pub use supervisor::{run, ChaosConfig, ChaosReport};

/// A small seeded random number generator (SplitMix64): the run's choices, reproducible.
#[derive(Debug, Clone)]
pub struct ChaosRng(u64);

impl ChaosRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> ChaosRng {
        ChaosRng(seed)
    }

    /// The generator of one process of a run: incarnation `incarnation` of seed `seed`. Both
    /// go through the generator's mixing first: seeded with `seed ^ incarnation·γ` (γ being
    /// SplitMix64's own increment), incarnations made the same choices as each other.
    pub fn for_incarnation(seed: u64, incarnation: u64) -> ChaosRng {
        let a = ChaosRng::new(seed).next_u64();
        let b = ChaosRng::new(!incarnation).next_u64();
        ChaosRng::new(a ^ b)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A binary of the workspace, next to the running one (a test's or bench's executable lives
/// in `target/<profile>/deps` or `target/<profile>`); built by `scripts/build`.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("own path: {e}"));
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    for _ in 0..2 {
        let candidate = dir.join(name);
        if candidate.exists() {
            return candidate;
        }
        dir = dir.parent().map(PathBuf::from).unwrap_or_default();
    }
    panic!("no {name} next to {} (build the workspace: scripts/build)", exe.display())
}
