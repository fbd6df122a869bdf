//! The wake's monitor persistence: ldk-node's `MonitorUpdatingPersister` behind
//! `doze-ordered-persist`, so that a wake killed at any instant leaves no channel monitor
//! ahead of the channel manager on disk (LDK force-closes such a channel at the next start).
//! That crate's docs give the rule, the order of a persistence round, and the two races the
//! order closes; `Stack::persist` runs the rounds.

use std::sync::Arc;

use super::stack::Persister;

/// The wake's monitor persister: every write deferred until a round has written the manager.
pub(crate) type OrderedPersister = doze_ordered_persist::OrderedPersister<Arc<Persister>>;
