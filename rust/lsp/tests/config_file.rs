//! The config file: a round trip through TOML, the sample file, defaults, and typed errors
//! that name what to fix.

use std::path::Path;
use std::str::FromStr;

use doze_lsp::{
    devnet_config, devnet_config_with, ChainSource, ConfigError, LspConfig, LspError, Lsps2Config,
    PushConfig, RpcAuth,
};
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
    let esplora = ChainSource::Esplora { url: "http://127.0.0.1:3002".into() };
    assert_eq!(config.chain_source, esplora, "trailing slash dropped");

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

    // Its commented-out [bitcoind_rpc] table, switched on instead of esplora_url, parses too.
    let text = std::fs::read_to_string(&path).expect("the example");
    let switched: String = text
        .lines()
        .filter(|line| !line.starts_with("esplora_url"))
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if ["[bitcoind_rpc]", "host", "port", "cookie_file"]
                    .iter()
                    .any(|key| rest.starts_with(key)) =>
            {
                rest
            }
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config = LspConfig::from_toml_str(&switched).expect("the bitcoind example parses");
    assert!(matches!(config.chain_source, ChainSource::BitcoindRpc { port: 18443, .. }));
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
            "storage_dir = \"d\"\nesplora_url = \"http://e\"\n".into(),
            Some("network"),
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

/// `MINIMAL` with its Esplora URL swapped for `source` (TOML lines).
fn with_source(source: &str) -> String {
    MINIMAL.replace("esplora_url = \"http://127.0.0.1:3002\"\n", "") + source
}

#[test]
fn each_chain_source_round_trips_and_cookie_paths_are_relative_to_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sources = [
        ChainSource::Electrum { url: "ssl://electrum.example.com:50002".into() },
        ChainSource::BitcoindRpc {
            host: "10.0.0.2".into(),
            port: 8332,
            auth: RpcAuth::UserPassword { user: "lsp".into(), password: "hunter2".into() },
        },
        ChainSource::BitcoindRpc {
            host: "127.0.0.1".into(),
            port: 18443,
            auth: RpcAuth::CookieFile(dir.path().join("bitcoind/.cookie")),
        },
    ];
    for source in sources {
        let config = devnet_config_with(source.clone(), &dir.path().join("data"));
        let read = LspConfig::from_file(write(dir.path(), &config.to_toml())).expect("reads back");
        assert_eq!(read.chain_source, source);
        assert_eq!(read, config);
    }

    let text = with_source("[bitcoind_rpc]\nport = 18443\ncookie_file = \"node/.cookie\"\n");
    let read = LspConfig::from_file(write(dir.path(), &text)).expect("a cookie login");
    let expected = RpcAuth::CookieFile(dir.path().join("node/.cookie"));
    assert_eq!(
        read.chain_source,
        ChainSource::BitcoindRpc { host: "127.0.0.1".into(), port: 18443, auth: expected },
        "host defaults to loopback; the cookie is found next to the config file"
    );
}

#[test]
fn exactly_one_chain_source_with_one_login_is_accepted() {
    let error = parse_error(&with_source(""));
    assert!(matches!(&error, ConfigError::ChainSource { found } if found.is_empty()), "{error:?}");
    assert!(error.to_string().contains("no chain source"), "{error}");
    let error = parse_error(&format!("{MINIMAL}electrum_url = \"tcp://127.0.0.1:60401\"\n"));
    assert!(matches!(&error, ConfigError::ChainSource { found } if found.len() == 2), "{error:?}");
    assert!(error.to_string().contains("esplora_url, electrum_url"), "{error}");

    let rpc = "[bitcoind_rpc]\nport = 8332\n";
    let cases: &[(&str, &str)] = &[
        (
            "cookie_file = \"c\"\nrpc_user = \"u\"\nrpc_password = \"p\"\n",
            "bitcoind_rpc.cookie_file",
        ),
        ("rpc_user = \"u\"\n", "bitcoind_rpc.rpc_password"),
        ("rpc_password = \"p\"\n", "bitcoind_rpc.rpc_user"),
        ("rpc_user = \"\"\nrpc_password = \"p\"\n", "bitcoind_rpc.rpc_user"),
        ("", "bitcoind_rpc"),
    ];
    for (login, field) in cases {
        let error = parse_error(&with_source(&format!("{rpc}{login}")));
        assert!(
            matches!(&error, ConfigError::Invalid { field: f, .. } if f == field),
            "{login}: {error:?}"
        );
    }
    let error = parse_error(&with_source("[bitcoind_rpc]\nport = 0\ncookie_file = \"c\"\n"));
    assert!(matches!(error, ConfigError::Invalid { field: "bitcoind_rpc.port", .. }), "{error:?}");
    let url_host = "[bitcoind_rpc]\nhost = \"http://node\"\nport = 8332\ncookie_file = \"c\"\n";
    let error = parse_error(&with_source(url_host));
    assert!(matches!(error, ConfigError::Invalid { field: "bitcoind_rpc.host", .. }), "{error:?}");
    let error = parse_error(&with_source("[bitcoind_rpc]\nport = 8332\npassword = \"p\"\n"));
    assert!(
        matches!(&error, ConfigError::Parse { field: Some(f), .. } if f == "bitcoind_rpc.password"),
        "{error:?}"
    );
    for url in ["http://127.0.0.1:60401", "tcp://127.0.0.1", "tcp://:50001", "127.0.0.1:50001"] {
        let error = parse_error(&with_source(&format!("electrum_url = \"{url}\"\n")));
        assert!(
            matches!(error, ConfigError::Invalid { field: "electrum_url", .. }),
            "{url}: {error:?}"
        );
    }
}

#[test]
fn rpc_passwords_and_cookies_stay_out_of_debug_and_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let password = ChainSource::BitcoindRpc {
        host: "127.0.0.1".into(),
        port: 8332,
        auth: RpcAuth::UserPassword { user: "lsp".into(), password: "hunter2".into() },
    };
    let config = devnet_config_with(password.clone(), dir.path());
    assert!(!format!("{config:?}").contains("hunter2"), "{config:?}");
    assert!(!password.to_string().contains("hunter2"), "{password}");

    // A missing cookie stops the start before anything runs, naming the file.
    let missing = dir.path().join("no-such/.cookie");
    let source = ChainSource::BitcoindRpc {
        host: "127.0.0.1".into(),
        port: 8332,
        auth: RpcAuth::CookieFile(missing.clone()),
    };
    let error = doze_lsp::Lsp::start(devnet_config_with(source, &dir.path().join("data")))
        .err()
        .expect("no cookie, no start");
    assert!(matches!(&error, LspError::RpcCookie { path, .. } if *path == missing), "{error:?}");
    assert!(error.to_string().contains("no-such/.cookie"), "{error}");

    // A malformed one is refused without showing what it holds.
    let cookie = dir.path().join(".cookie");
    std::fs::write(&cookie, "s3cret-without-a-user").expect("write");
    let error = RpcAuth::CookieFile(cookie.clone()).login().expect_err("malformed");
    assert!(matches!(&error, LspError::RpcCookie { path, .. } if *path == cookie), "{error:?}");
    assert!(!error.to_string().contains("s3cret"), "{error}");
    std::fs::write(&cookie, "__cookie__:abc\n").expect("write");
    let login = RpcAuth::CookieFile(cookie).login().expect("a cookie as bitcoind writes it");
    assert_eq!(login, ("__cookie__".to_string(), "abc".to_string()));
}
