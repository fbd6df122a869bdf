//! The chaos run's journal: one JSON object a line, appended by the app process (what it did,
//! what its listener heard, its state after each start) and read by the supervisor. Each line
//! is one `write` on a file opened for appending, so a SIGKILL leaves whole lines behind (at
//! most the last one cut short, which the reader skips).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
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

/// Every whole entry of the journal at `path` (none if it does not exist yet).
pub fn read(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The entries of `kind`.
pub fn of_kind<'a>(entries: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    entries.iter().filter(move |e| e["kind"] == kind)
}
