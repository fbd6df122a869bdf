//! PostgreSQL for the bench: a database of its own per measurement, and the push store's size
//! in it, through `psql` (Debian's `postgresql-client`, installed with the server).

use std::process::Command;

/// Runs `sql` on the database at `url` and returns its one-line answer.
fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([url, "-X", "-q", "-t", "-A", "-c", sql])
        .output()
        .expect("psql runs (Debian's postgresql-client)");
    assert!(
        output.status.success(),
        "psql `{sql}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Creates the database `name` on the server of `admin_url` (the `postgres` database's URL)
/// and returns its URL.
pub fn create_database(admin_url: &str, name: &str) -> String {
    psql(admin_url, &format!("CREATE DATABASE {name}"));
    let (server, _) = admin_url.rsplit_once('/').expect("a URL ending in /database");
    format!("{server}/{name}")
}

/// The push store's tables with their indexes and TOAST (`pg_total_relation_size`), in bytes.
pub fn push_tables_size(url: &str) -> u64 {
    let size = psql(
        url,
        "SELECT pg_total_relation_size('push_registrations') \
         + pg_total_relation_size('push_nonces') + pg_total_relation_size('push_log')",
    );
    size.parse().unwrap_or_else(|e| panic!("pg_total_relation_size `{size}`: {e}"))
}
