//! The chaos run's journal: one JSON object a line, appended by the app process (what it did,
//! what its listener heard, its state after each start) and read by the supervisor. Each line
//! is one `write` on a file opened for appending, so a SIGKILL leaves whole lines behind (at
//! most the last one cut short, which the reader skips).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// An append-only journal file.
pub struct Journal {
    file: Mutex<File>,
    incarnation: u64,
}

impl Journal {
    /// Opens (creating) the journal at `path` for the app's `incarnation` (its start count).
    pub fn open(path: &Path, incarnation: u64) -> std::io::Result<Journal> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal { file: Mutex::new(file), incarnation })
    }

    /// Appends `entry` (an object) with the time and the incarnation.
    pub fn record(&self, mut entry: Value) {
        if let Some(object) = entry.as_object_mut() {
            let ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
            object.insert("t_ms".into(), Value::from(ms as u64));
            object.insert("inc".into(), Value::from(self.incarnation));
        }
        let mut line = entry.to_string();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            eprintln!("chaos journal: cannot write: {e}");
        }
    }
}

/// Reads a journal as it grows: each look parses only the whole lines appended since the last
/// (a long run's journal holds tens of megabytes of snapshots).
pub struct JournalReader {
    path: PathBuf,
    offset: u64,
    entries: Vec<Value>,
}

impl JournalReader {
    /// A reader of the journal at `path` (which need not exist yet).
    pub fn new(path: &Path) -> JournalReader {
        JournalReader { path: path.to_path_buf(), offset: 0, entries: Vec::new() }
    }

    /// Every whole entry so far.
    pub fn entries(&mut self) -> &[Value] {
        if let Ok(mut file) = File::open(&self.path) {
            let mut appended = Vec::new();
            if file.seek(SeekFrom::Start(self.offset)).is_ok()
                && file.read_to_end(&mut appended).is_ok()
            {
                // Up to the last newline: a line being written is read next time.
                let whole = appended.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                for line in appended[..whole].split(|b| *b == b'\n') {
                    if let Ok(entry) = serde_json::from_slice(line) {
                        self.entries.push(entry);
                    }
                }
                self.offset += whole as u64;
            }
        }
        &self.entries
    }
}

/// The entries of `kind`.
pub fn of_kind<'a>(entries: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    entries.iter().filter(move |e| e["kind"] == kind)
}
