//! Real servers Doze's tests start on loopback: the backup server (PostgreSQL and LDK's
//! `vss-server`), PostgreSQL alone (for the LSP's shared push store), a proxy before the
//! backup server that turns hostile on demand, a plain HTTP server for test routes, an
//! LNURL-pay server and a DNS-over-HTTPS server answering from recorded DNSSEC records. Kept
//! out of `doze-testkit` because that crate links `doze-core`: a unit test of `doze-core`
//! that linked it would link a second copy of the crate under test.

pub mod backup_server;
pub mod dnssec_records;
pub mod doh_server;
pub mod hostile_backup;
pub mod http_server;
pub mod lnurl_server;
pub mod postgres;
