//! The config file: a round trip through TOML, the sample file, defaults, and typed errors
//! that name what to fix.

use std::path::Path;
use std::str::FromStr;

use doze_lsp::{devnet_config, ConfigError, LspConfig, Lsps2Config, PushConfig};
use ldk_node::bitcoin::Network;
use ldk_node::lightning::ln::msgs::SocketAddress;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("lsp.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn parse_error(text: &str) -> ConfigError {
    LspConfig::from_toml_str(text).expect_err("the config should be rejected")
}

const MINIMAL: &str = r#"
network = "regtest"
storage_dir = "/tmp/doze-lsp-test"
esplora_url = "http://127.0.0.1:3002"
"#;

#[test]
fn a_config_round_trips_through_a_toml_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = devnet_config("http://127.0.0.1:3002/", &dir.path().join("data"));
    config.p2p_announce = Some(SocketAddress::from_str("lsp.example.com:9735").expect("hostname"));
    config.background_sync = true;
    config.prompt_forwarding = false;
    config.lsps2.require_token = Some("sesame".into());
    config.lsps2.channel_opening_fee_ppm = 2_500;
    config.push.gateway_url = Some("https://push.example.com/send".into());
    config.push.min_interval_secs = 5;
    config.push.postgres_url = Some("postgres://doze:pw@db.internal:5432/doze_push".into());
    assert_eq!(config.esplora_url, "http://127.0.0.1:3002", "trailing slash dropped");

    let path = write(dir.path(), &config.to_toml());
    let read = LspConfig::from_file(&path).expect("reads back");
    assert_eq!(read, config);
}

#[test]
fn the_example_file_parses_with_the_defaults_and_a_storage_dir_next_to_it() {
    // The crate's directory as cargo reports it when running the test (a build cache shared
    // between checkouts can hold a binary compiled in another one).
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let path = Path::new(&crate_dir).join("lsp.example.toml");
    let config = LspConfig::from_file(&path).expect("the example parses");
    assert_eq!(config.network, Network::Regtest);
    assert_eq!(config.storage_dir, Path::new(&crate_dir).join("lsp-data"));
    assert_eq!(config.lsps2, Lsps2Config::default());
    assert_eq!(config.push, PushConfig::default());
    assert_eq!(config.p2p_listen.to_string(), "0.0.0.0:9735");
    assert_eq!(config.http_listen.to_string(), "127.0.0.1:9736");
}

#[test]
fn optional_keys_take_their_defaults() {
    let config = LspConfig::from_toml_str(MINIMAL).expect("minimal config");
    assert_eq!(config.alias, "doze-lsp");
    assert!(config.background_sync);
    assert!(config.prompt_forwarding, "HTLCs forwarded as soon as they can be");
    assert_eq!(config.p2p_announce, None);
    assert_eq!(config.lsps2, Lsps2Config::default());
    assert_eq!(config.push, PushConfig::default());
    assert_eq!(config.push.min_interval_secs, 60);
    assert_eq!(config.push.timestamp_window_secs, 600);

    let partial = format!("{MINIMAL}\n[lsps2]\nchannel_opening_fee_ppm = 0\n");
    let config = LspConfig::from_toml_str(&partial).expect("partial lsps2 table");
    assert_eq!(config.lsps2, Lsps2Config { channel_opening_fee_ppm: 0, ..Lsps2Config::default() });
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nope.toml");
    let error = LspConfig::from_file(&path).expect_err("no such file");
    assert!(matches!(&error, ConfigError::Read { path: p, .. } if *p == path), "{error:?}");
    assert!(error.to_string().contains("nope.toml"), "{error}");
}

#[test]
fn bad_toml_is_a_parse_error_naming_the_field() {
    let cases: &[(&str, String, Option<&str>)] = &[
        ("wrong type", MINIMAL.replace("\"http://127.0.0.1:3002\"", "5"), Some("esplora_url")),
        (
            "missing key",
            MINIMAL.replace("esplora_url = \"http://127.0.0.1:3002\"", ""),
            Some("esplora_url"),
        ),
        ("unknown key", format!("{MINIMAL}colour = \"blue\"\n"), Some("colour")),
        (
            "wrong type in a table",
            format!(
                "{MINIMAL}[lsps2]\nmin_channel_lifetime = 10\nchannel_opening_fee_ppm = \"lots\"\n"
            ),
            Some("lsps2.channel_opening_fee_ppm"),
        ),
        ("unknown key in a table", format!("{MINIMAL}[lsps2]\nfee = 1\n"), Some("lsps2.fee")),
        ("unknown push key", format!("{MINIMAL}[push]\ninterval = 1\n"), Some("push.interval")),
        (
            "negative number",
            format!("{MINIMAL}[lsps2]\nmin_payment_size_msat = -1\n"),
            Some("lsps2.min_payment_size_msat"),
        ),
        ("not TOML", "network = \n".to_string(), None),
    ];
    for (what, text, field) in cases {
        let error = parse_error(text);
        match &error {
            ConfigError::Parse { field: found, .. } => {
                if let Some(field) = field {
                    assert_eq!(found.as_deref(), Some(*field), "{what}: {error}");
                    assert!(error.to_string().contains(field), "{what}: {error}");
                }
            }
            other => panic!("{what}: expected a parse error, got {other:?}"),
        }
    }
}

#[test]
fn bad_addresses_networks_and_values_are_typed_errors() {
    let error = parse_error(&format!("{MINIMAL}p2p_listen = \"nowhere\"\n"));
    assert!(
        matches!(
            &error,
            ConfigError::Address { field: "p2p_listen", value, .. } if value == "nowhere"
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("host:port"), "{error}");

    let error = parse_error(&format!("{MINIMAL}p2p_announce = \"lsp.example.com:http\"\n"));
    assert!(matches!(error, ConfigError::Address { field: "p2p_announce", .. }), "{error:?}");

    let error = parse_error(&format!("{MINIMAL}http_listen = \"localhost:9736\"\n"));
    assert!(matches!(error, ConfigError::Address { field: "http_listen", .. }), "{error:?}");

    let error = parse_error(&MINIMAL.replace("regtest", "moonnet"));
    assert!(matches!(&error, ConfigError::Network { value } if value == "moonnet"), "{error:?}");

    let error = parse_error(&MINIMAL.replace("http://", "ftp://"));
    assert!(matches!(error, ConfigError::Invalid { field: "esplora_url", .. }), "{error:?}");

    let error = parse_error(&format!("{MINIMAL}alias = \"{}\"\n", "x".repeat(33)));
    assert!(matches!(error, ConfigError::Invalid { field: "alias", .. }), "{error:?}");

    let error = parse_error(&format!("{MINIMAL}[push]\ngateway_url = \"push.example.com\"\n"));
    assert!(matches!(error, ConfigError::Invalid { field: "push.gateway_url", .. }), "{error:?}");
    let error = parse_error(&format!("{MINIMAL}[push]\nmax_attempts = 0\n"));
    assert!(matches!(error, ConfigError::Invalid { field: "push.max_attempts", .. }), "{error:?}");

    // A bad PostgreSQL URL is named, and its password is never repeated.
    for url in ["postgres://doze:hunter2@db:notaport/push", "postgres://doze:hunter2@db/p?x=1"] {
        let error = parse_error(&format!("{MINIMAL}[push]\npostgres_url = \"{url}\"\n"));
        assert!(
            matches!(error, ConfigError::Invalid { field: "push.postgres_url", .. }),
            "{error:?}"
        );
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
    let error = parse_error(&format!(
        "{MINIMAL}[push]\npostgres_url = \"postgres://doze@db/push?sslmode=require\"\n"
    ));
    assert!(error.to_string().contains("without TLS"), "{error}");

    let error = parse_error(&format!(
        "{MINIMAL}[lsps2]\nmin_payment_size_msat = 5\nmax_payment_size_msat = 4\n"
    ));
    assert!(
        matches!(error, ConfigError::Invalid { field: "lsps2.min_payment_size_msat", .. }),
        "{error:?}"
    );
}
