//! The phone's record of the request it is sending to the backup server, so that a kill
//! between the server's commit and the phone's copy catching up loses nothing.
//!
//! A request to the server is atomic there, but applying it to the phone's copy is one write
//! per object: a kill part-way leaves the server ahead of the phone. The phone's own copy stays
//! safe for LDK (the manager is applied first, see `doze-ordered-persist`), but the server then
//! holds monitor updates the phone's manager never wrote; the phone goes on from its own copy,
//! and a restore taken before it has rewritten them would read an outdated manager, which LDK
//! answers by closing the channel. A request whose answer is lost on the way (a dropped
//! connection) leaves the same doubt. So every request is written here first, under a random
//! id that the request also writes to the server ([`last_request_object`], in the same atomic
//! request), and removed once the phone has applied it. Whoever finds the record next reads
//! that object from the server:
//!
//! - it holds the record's id: the request committed, and the phone applies it again (each
//!   change sets or removes a whole object, so applying twice is applying once);
//! - it does not: the request never committed, and LDK never took it as written; the record is
//!   dropped.
//!
//! Invariant: at most one request is on its way at a time (the store's writer lock), and no
//! request is recorded before the previous one's record is settled, so the record always
//! names the only request whose outcome the phone may not know. An id, not the server's global
//! version, tells: a version one on could also be a request that the phone gave up on and the
//! server carried out later.

use ldk_node::lightning::io;
use ldk_node::lightning::util::persist::KVStoreSync;

use super::remote::ObjectName;
use super::store::LOCAL_NAMESPACE;

/// The record's key, in the local-only namespace (never backed up itself).
const JOURNAL_KEY: &str = "backup_journal";
/// The record's format, first byte: a newer format an older build cannot read is refused
/// rather than misread.
const FORMAT: u8 = 1;

/// One request to the server: its id and its changes in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Journal {
    /// The request's id, written to [`last_request_object`] on the server with its changes.
    pub(crate) request: [u8; 16],
    /// Each object set to a value, or removed (`None`), in the order they are applied.
    pub(crate) changes: Vec<(ObjectName, Option<Vec<u8>>)>,
}

/// The server's object naming the last request that committed there (a random id), written
/// in every request with its changes. Never copied to the phone.
pub(crate) fn last_request_object() -> ObjectName {
    ObjectName::new("doze", "", "last_request")
}

impl Journal {
    /// A record of a new request with a fresh random id.
    pub(crate) fn new(changes: Vec<(ObjectName, Option<Vec<u8>>)>) -> Journal {
        let mut request = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut request);
        Journal { request, changes }
    }
}

/// Whether `last_request`, the server's [`last_request_object`], names the request `request`:
/// the server committed it.
pub(crate) fn committed(request: &[u8; 16], last_request: Option<&[u8]>) -> bool {
    last_request == Some(&request[..])
}

/// What [`resolve`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// The server had committed it: the phone applied its `objects` changes.
    RolledForward {
        /// How many changes were applied.
        objects: usize,
    },
    /// The server never committed it: dropped.
    Dropped,
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the pending backup record {why}"))
}

impl Journal {
    fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .changes
            .iter()
            .map(|(n, v)| 20 + n.primary.len() + n.secondary.len() + n.key.len() + v_len(v))
            .sum();
        let mut out = Vec::with_capacity(21 + size);
        out.push(FORMAT);
        out.extend_from_slice(&self.request);
        out.extend_from_slice(&(self.changes.len() as u32).to_be_bytes());
        for (name, value) in &self.changes {
            for part in [&name.primary, &name.secondary, &name.key] {
                put_bytes(&mut out, part.as_bytes());
            }
            match value {
                Some(value) => {
                    out.push(1);
                    put_bytes(&mut out, value);
                }
                None => out.push(0),
            }
        }
        out
    }

    fn decode(bytes: &[u8]) -> io::Result<Journal> {
        let mut input = Reader(bytes);
        if input.take(1)? != [FORMAT] {
            return Err(invalid("is in a format this version of Doze cannot read"));
        }
        let request = input.array()?;
        let count = u32::from_be_bytes(input.array()?) as usize;
        // Each change takes at least 13 bytes: no allocation beyond what the input can hold.
        let mut changes = Vec::with_capacity(count.min(input.0.len() / 13));
        for _ in 0..count {
            let mut part = || {
                String::from_utf8(input.bytes()?.to_vec()).map_err(|_| invalid("has a bad name"))
            };
            let name = ObjectName { primary: part()?, secondary: part()?, key: part()? };
            let value = match input.take(1)? {
                [0] => None,
                [1] => Some(input.bytes()?.to_vec()),
                _ => return Err(invalid("has a bad change")),
            };
            changes.push((name, value));
        }
        if !input.0.is_empty() {
            return Err(invalid("has bytes after its end"));
        }
        Ok(Journal { request, changes })
    }
}

fn v_len(value: &Option<Vec<u8>>) -> usize {
    value.as_ref().map_or(0, Vec::len)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A cursor over the record's bytes; running out is an error, never a panic.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(invalid("is cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        self.take(len)
    }
}

/// Records `journal` as the request about to be sent, replacing any resolved one.
pub(crate) fn keep(local: &dyn KVStoreSync, journal: &Journal) -> io::Result<()> {
    KVStoreSync::write(local, LOCAL_NAMESPACE, "", JOURNAL_KEY, journal.encode())
}

/// Removes the record (if any): its request is applied on the phone, never committed, or moot
/// (the phone uploads its whole copy).
pub(crate) fn clear(local: &dyn KVStoreSync) -> io::Result<()> {
    KVStoreSync::remove(local, LOCAL_NAMESPACE, "", JOURNAL_KEY, false)
}

/// The recorded request, if one is unresolved.
pub(crate) fn read(local: &dyn KVStoreSync) -> io::Result<Option<Journal>> {
    match KVStoreSync::read(local, LOCAL_NAMESPACE, "", JOURNAL_KEY) {
        Ok(bytes) => Journal::decode(&bytes).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Applies `changes` to the phone's copy, in order.
pub(crate) fn apply(
    local: &dyn KVStoreSync,
    changes: &[(ObjectName, Option<Vec<u8>>)],
) -> io::Result<()> {
    for (name, value) in changes {
        let (p, s, k) = (&name.primary, &name.secondary, &name.key);
        match value {
            Some(value) => KVStoreSync::write(local, p, s, k, value.clone())?,
            None => KVStoreSync::remove(local, p, s, k, false)?,
        }
    }
    Ok(())
}

/// Settles `journal` given `last_request`, the server's [`last_request_object`]: applies it
/// if the server committed it, drops it if not (see the module docs).
pub(crate) fn resolve(
    local: &dyn KVStoreSync,
    journal: &Journal,
    last_request: Option<&[u8]>,
) -> io::Result<Resolution> {
    let resolution = if committed(&journal.request, last_request) {
        apply(local, &journal.changes)?;
        Resolution::RolledForward { objects: journal.changes.len() }
    } else {
        Resolution::Dropped
    };
    clear(local)?;
    Ok(resolution)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::io::sqlite_store::SqliteStore;

    fn name(key: &str) -> ObjectName {
        ObjectName::new("monitor_updates", "abc", key)
    }

    fn sample() -> Journal {
        Journal::new(vec![
            (ObjectName::new("", "", "manager"), Some(vec![7; 300])),
            (name("12"), Some(Vec::new())),
            (name("3"), None),
        ])
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let journal = sample();
        assert_eq!(Journal::decode(&journal.encode()).ok(), Some(journal));
        let empty = Journal::new(Vec::new());
        assert_eq!(Journal::decode(&empty.encode()).ok(), Some(empty));
        assert_ne!(sample().request, sample().request, "each request has its own id");
    }

    #[test]
    fn a_damaged_record_is_an_error_never_a_panic() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(Journal::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Journal::decode(&longer).is_err());
        let mut newer = bytes.clone();
        newer[0] = FORMAT + 1;
        assert!(Journal::decode(&newer).is_err());
        let mut huge_count = bytes;
        huge_count[17..21].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Journal::decode(&huge_count).is_err());
    }

    fn value(local: &SqliteStore, name: &ObjectName) -> Option<Vec<u8>> {
        KVStoreSync::read(local, &name.primary, &name.secondary, &name.key).ok()
    }

    #[test]
    fn a_committed_request_is_applied_and_an_uncommitted_one_dropped() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let local = SqliteStore::new(dir.path().to_path_buf(), None, None)
            .unwrap_or_else(|e| panic!("{e}"));
        apply(&local, &[(name("3"), Some(b"old".to_vec()))]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read(&local).ok(), Some(None));

        // The server names another request (or none): this one never committed.
        let journal = sample();
        let other = sample();
        for last in [None, Some(&other.request[..])] {
            keep(&local, &journal).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(resolve(&local, &journal, last).ok(), Some(Resolution::Dropped));
            assert_eq!(value(&local, &name("3")), Some(b"old".to_vec()), "nothing applied");
            assert_eq!(read(&local).ok(), Some(None), "the record is gone");
        }

        // The server names it: applied, in order, and the record gone.
        keep(&local, &journal).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read(&local).ok(), Some(Some(journal.clone())));
        let settled = resolve(&local, &journal, Some(&journal.request[..]));
        assert_eq!(settled.ok(), Some(Resolution::RolledForward { objects: 3 }));
        assert_eq!(value(&local, &ObjectName::new("", "", "manager")), Some(vec![7; 300]));
        assert_eq!(value(&local, &name("12")), Some(Vec::new()));
        assert_eq!(value(&local, &name("3")), None, "removed");
        assert_eq!(read(&local).ok(), Some(None));

        keep(&local, &journal).unwrap_or_else(|e| panic!("{e}"));
        clear(&local).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read(&local).ok(), Some(None));
    }
}
