//! Push registration over the LSP's HTTP API, and push dispatch to webhooks and the gateway,
//! with a real phone-like ldk-node node (a channel from the LSP) signing its requests.

mod common;

use std::str::FromStr;
use std::time::{Duration, Instant};

use common::{get_json, init_logs};
use doze_devnet::nodes::{wait_until, TestNode, DEFAULT_WAIT};
use doze_devnet::Devnet;
use doze_lsp::api::ApiError;
use doze_lsp::push::notify::{GatewayRequest, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use doze_lsp::push::{
    ErrorCode, Outcome, PushApiError, PushLog, PushTarget, RegisterRequest, RegistrationInfo,
    RegistrationPage, TargetKind,
};
use doze_lsp::{Lsp, LspConfig, Observers};
use doze_testkit::lsp::{fund_lsp, open_channel_from_lsp, start_lsp};
use doze_testkit::register::{
    decode_paths, new_nonce, post_register, register, signed_request, unix_now, APP_NAME,
};
use doze_testkit::WebhookReceiver;
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::bitcoin::Amount;
use ldk_node::lightning_liquidity::lsps0::ser::LSPSDateTime;
use ldk_node::lightning_liquidity::lsps5::msgs::WebhookNotification;
use ldk_node::lightning_liquidity::lsps5::validator::LSPS5Validator;
use tempfile::TempDir;

/// An LSP with a funded wallet and a private channel to a stock ldk-node "phone". (The
/// directory comes first so that it is dropped last, after the LSP stopped.)
fn lsp_with_phone(
    devnet: &Devnet,
    configure: impl FnOnce(&mut LspConfig),
) -> (TempDir, Lsp, TestNode) {
    let dir = tempfile::tempdir().expect("temp dir");
    let lsp = start_lsp(devnet, dir.path(), Observers::new(), configure);
    fund_lsp(devnet, &lsp, Amount::from_sat(1_000_000));
    let phone = devnet.start_node("phone");
    // ldk-node accepts an anchor channel only with on-chain funds for its reserve.
    devnet.fund_node(&phone, Amount::from_sat(100_000));
    open_channel_from_lsp(
        devnet,
        &lsp,
        phone.node_id(),
        Some(phone.address.clone()),
        200_000,
        &[&phone],
    );
    (dir, lsp, phone)
}

fn refused(
    result: Result<doze_lsp::push::RegisterResponse, (u16, PushApiError)>,
    status: u16,
    code: ErrorCode,
) {
    match result {
        Err((got_status, error)) => {
            assert_eq!((got_status, error.code), (status, code), "{}", error.error);
            assert!(!error.error.is_empty());
        }
        Ok(response) => panic!("expected {status} {code:?}, got 200 {response:?}"),
    }
}

fn registration_path(node_id: &PublicKey) -> String {
    format!("/v1/push/registrations/{node_id}")
}

#[test]
fn registration_checks_signature_time_nonce_and_channel_and_stores_only_valid_ones() {
    init_logs();
    let started = Instant::now();
    let devnet = Devnet::start().expect("devnet");
    let (_dir, lsp, phone) = lsp_with_phone(&devnet, |c| c.push.max_registrations_per_window = 3);
    let stranger = devnet.start_node("stranger");
    let url = lsp.http_url();
    let hook = PushTarget::webhook("http://127.0.0.1:9/hook");
    eprintln!("LSP and phone with a channel after {:?}", started.elapsed());

    let nothing_stored = |when: &str| {
        assert_eq!(lsp.push().store().counts().expect("counts"), (0, 0), "nothing stored {when}");
        let error: ApiError = get_json(&url, &registration_path(&phone.node_id()), 404);
        assert!(error.error.contains("no push registration"), "{}", error.error);
    };

    // Malformed: 400 invalid_request.
    let mut request = signed_request(&phone, hook.clone());
    request.nonce = "not a nonce".into();
    refused(post_register(&url, &request), 400, ErrorCode::InvalidRequest);
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/push/register"))
        .body("{not json")
        .send()
        .expect("POST");
    assert_eq!(response.status().as_u16(), 400);
    let error: PushApiError = response.json().expect("a JSON error");
    assert_eq!(error.code, ErrorCode::InvalidRequest);

    // Signed by another key, or changed after signing: 401 bad_signature.
    let forged = RegisterRequest::signed(
        phone.node_id(),
        APP_NAME,
        hook.clone(),
        unix_now(),
        &new_nonce(),
        |m| stranger.sign_message(m),
    );
    refused(post_register(&url, &forged), 401, ErrorCode::BadSignature);
    let mut tampered = signed_request(&phone, hook.clone());
    tampered.target = PushTarget::webhook("http://evil.example/hook");
    refused(post_register(&url, &tampered), 401, ErrorCode::BadSignature);

    // Outside ±10 minutes: 400 stale_timestamp.
    for timestamp in [unix_now() - 11 * 60, unix_now() + 11 * 60] {
        let stale = RegisterRequest::signed(
            phone.node_id(),
            APP_NAME,
            hook.clone(),
            timestamp,
            &new_nonce(),
            |m| phone.sign_message(m),
        );
        refused(post_register(&url, &stale), 400, ErrorCode::StaleTimestamp);
    }

    // A node the LSP has no channel with: 403 no_channel.
    refused(
        post_register(&url, &signed_request(&stranger, hook.clone())),
        403,
        ErrorCode::NoChannel,
    );
    nothing_stored("after the refusals");
    let _: ApiError = get_json(&url, &registration_path(&stranger.node_id()), 404);

    // A valid one: the paths for the phone, and a stored registration.
    let request = signed_request(&phone, hook.clone());
    let response = post_register(&url, &request).expect("registered");
    assert_eq!(response.lsp_node_id, lsp.node_id().to_string());
    let paths = decode_paths(&response);
    assert!(!paths.is_empty(), "at least one blinded path");
    phone
        .bolt12_payment()
        .set_paths_to_static_invoice_server(paths)
        .expect("the phone takes the paths");
    assert_eq!(lsp.push().store().counts().expect("counts"), (1, 1));
    let info: RegistrationInfo = get_json(&url, &registration_path(&phone.node_id()), 200);
    assert_eq!(info.node_id, phone.node_id().to_string());
    assert_eq!(info.app_name, APP_NAME);
    assert_eq!(info.target_kind, TargetKind::Webhook);
    assert_eq!(info.target_hint, "http://127.0.0.1:9/…", "no path or token in the operator view");
    assert_eq!(info.signed_at, request.timestamp);

    // The same request again: 409 replayed_nonce, nothing changes.
    refused(post_register(&url, &request), 409, ErrorCode::ReplayedNonce);
    assert_eq!(lsp.push().store().counts().expect("counts"), (1, 1));

    // A fresh nonce replaces the target.
    let other = PushTarget { kind: TargetKind::Fcm, value: "fcm-token-123".into() };
    register(&url, &phone, other.clone()).expect("re-registered");
    let stored = lsp.push().registration(&phone.node_id()).expect("query").expect("stored");
    assert_eq!(stored.target, other);
    assert_eq!(lsp.push().store().counts().expect("counts"), (1, 2));

    // A request signed before the current registration, even with a fresh nonce: refused.
    let older = RegisterRequest::signed(
        phone.node_id(),
        APP_NAME,
        hook,
        unix_now() - 60,
        &new_nonce(),
        |m| phone.sign_message(m),
    );
    refused(post_register(&url, &older), 400, ErrorCode::StaleTimestamp);
    assert_eq!(
        lsp.push().registration(&phone.node_id()).expect("query").expect("stored").target,
        other
    );

    // At most 3 registrations per phone in the window: the third is taken, the fourth is
    // answered 429 with when to try again, and the store does not grow.
    let third = PushTarget::webhook("http://127.0.0.1:9/third");
    register(&url, &phone, third.clone()).expect("the third registration");
    let fourth = signed_request(&phone, PushTarget::webhook("http://127.0.0.1:9/fourth"));
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/push/register"))
        .json(&fourth)
        .send()
        .expect("POST");
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    let error: PushApiError = response.json().expect("a JSON error");
    assert_eq!(error.code, ErrorCode::RateLimited, "{}", error.error);
    assert_eq!(error.retry_after_secs, Some(retry_after));
    assert!((1..=601).contains(&retry_after), "within the 10-minute window: {retry_after}");
    assert_eq!(lsp.push().store().counts().expect("counts"), (1, 3));
    let stored = lsp.push().registration(&phone.node_id()).expect("query").expect("stored");
    assert_eq!(stored.target, third, "the registration in force stays");

    let error: ApiError = get_json(&url, "/v1/push/registrations/nope", 400);
    assert!(error.error.contains("nope"), "{}", error.error);

    // The operator's list of registered phones: the phone, its target's host only.
    let page: RegistrationPage = get_json(&url, "/v1/push/registrations", 200);
    assert_eq!(page.registrations.len(), 1, "{page:?}");
    assert_eq!(page.registrations[0].node_id, phone.node_id().to_string());
    assert_eq!(page.registrations[0].target_hint, "http://127.0.0.1:9/…");
    assert_eq!(page.next_after, None);
    let after = format!("/v1/push/registrations?after={}&limit=1", phone.node_id());
    let page: RegistrationPage = get_json(&url, &after, 200);
    assert!(page.registrations.is_empty(), "nothing after the last: {page:?}");
    let error: ApiError = get_json(&url, "/v1/push/registrations?after=nope", 400);
    assert!(error.error.contains("nope"), "{}", error.error);
    stranger.stop().expect("stranger stops");
    phone.stop().expect("phone stops");
    lsp.stop().expect("LSP stops");
    eprintln!("whole test {:?}", started.elapsed());
}

#[test]
fn pushes_are_lsps5_signed_rate_limited_retried_and_sent_through_the_gateway() {
    init_logs();
    let started = Instant::now();
    let devnet = Devnet::start().expect("devnet");
    let gateway = WebhookReceiver::start();
    let (_dir, lsp, phone) = lsp_with_phone(&devnet, |c| c.push.gateway_url = Some(gateway.url()));
    let url = lsp.http_url();
    let push = lsp.push();
    let validator = LSPS5Validator::new();
    let phone_id = phone.node_id();
    eprintln!("LSP and phone with a channel after {:?}", started.elapsed());

    // A push to a webhook: LSPS5 headers and body, valid for LSPS5Validator with the LSP's key.
    let hook = WebhookReceiver::start();
    register(&url, &phone, PushTarget::webhook(hook.url())).expect("registered");
    assert!(push.notify(phone_id));
    let received = hook.wait_for(1, DEFAULT_WAIT);
    let delivery = &received[0];
    assert_eq!(delivery.path, "/hook");
    assert_eq!(delivery.headers.get("content-type").map(String::as_str), Some("application/json"));
    let expected_body =
        serde_json::to_string(&WebhookNotification::onion_message_incoming()).expect("json");
    assert_eq!(delivery.body, expected_body);
    assert_eq!(
        delivery.body,
        r#"{"jsonrpc":"2.0","method":"lsps5.onion_message_incoming","params":{}}"#
    );
    let notification =
        delivery.validate(lsp.node_id(), &validator).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(notification, WebhookNotification::onion_message_incoming());
    let timestamp = LSPSDateTime::from_str(&delivery.headers[TIMESTAMP_HEADER]).expect("timestamp");
    assert!(
        timestamp.duration_since(&LSPSDateTime::new_from_duration_since_epoch(
            Duration::from_secs(unix_now())
        )) < Duration::from_secs(5)
    );
    assert!(
        delivery.validate(phone_id, &LSPS5Validator::new()).is_err(),
        "signed by the LSP's key, not any other"
    );

    // A second signal within the minute: no second push.
    assert!(push.notify(phone_id));
    wait_until("the second signal is rate-limited", DEFAULT_WAIT, || {
        push.stats().rate_limited == 1
    });
    assert_eq!(hook.requests(), 1);

    // A peer without a registration: ignored.
    let stranger = PublicKey::from_secret_key(
        &Secp256k1::new(),
        &SecretKey::from_slice(&[42; 32]).expect("key"),
    );
    assert!(push.notify(stranger));
    wait_until("the stranger's signal is ignored", DEFAULT_WAIT, || push.stats().unregistered == 1);

    // A receiver failing the first two attempts still gets it, on the third (re-registering
    // with a new target lifts the rate limit).
    let flaky = WebhookReceiver::failing_first(2);
    register(&url, &phone, PushTarget::webhook(flaky.url())).expect("re-registered");
    let attempts_before = push.stats().attempts;
    assert!(push.notify(phone_id));
    let received = flaky.wait_for(1, DEFAULT_WAIT);
    assert_eq!(flaky.requests(), 3);
    received[0].validate(lsp.node_id(), &validator).unwrap_or_else(|e| panic!("{e}"));
    wait_until("the delivery is recorded", DEFAULT_WAIT, || push.stats().delivered == 2);
    assert_eq!(push.stats().attempts, attempts_before + 3);
    let log = push.push_log(1).expect("log");
    assert_eq!((log[0].outcome, log[0].attempts), (Outcome::Delivered, 3), "{log:?}");

    // A receiver that always fails: given up after max_attempts, recorded, and the next
    // signal tries again rather than wait out the minute.
    let dead = WebhookReceiver::failing_first(usize::MAX);
    register(&url, &phone, PushTarget::webhook(dead.url())).expect("re-registered");
    assert!(push.notify(phone_id));
    wait_until("the push fails for good", DEFAULT_WAIT, || push.stats().failed == 1);
    assert_eq!(dead.requests(), lsp.config().push.max_attempts as usize);
    let log = push.push_log(1).expect("log");
    assert_eq!((log[0].outcome, log[0].attempts), (Outcome::Failed, 3), "{log:?}");
    assert!(log[0].detail.contains("503"), "{log:?}");
    assert!(push.notify(phone_id));
    wait_until("the next signal is tried again", DEFAULT_WAIT, || push.stats().failed == 2);
    assert_eq!(dead.requests(), 6);

    // An APNs token: through the gateway, with the notification and its LSPS5 headers.
    let token = "apns-device-token-0123456789";
    register(&url, &phone, PushTarget { kind: TargetKind::Apns, value: token.into() })
        .expect("re-registered");
    assert!(push.notify(phone_id));
    let received = gateway.wait_for(1, DEFAULT_WAIT);
    let request: GatewayRequest =
        serde_json::from_str(&received[0].body).expect("a gateway request");
    assert_eq!(request.platform, "apns");
    assert_eq!(request.device_token, token);
    let body = serde_json::to_string(&request.notification).expect("json");
    assert_eq!(body, expected_body);
    let notification: WebhookNotification = serde_json::from_str(&body).expect("notification");
    let timestamp = LSPSDateTime::from_str(&request.headers[TIMESTAMP_HEADER]).expect("timestamp");
    validator
        .validate(lsp.node_id(), &timestamp, &request.headers[SIGNATURE_HEADER], &notification)
        .unwrap_or_else(|e| panic!("the gateway's notification does not validate: {e:?}"));

    wait_until("the gateway delivery is counted", DEFAULT_WAIT, || push.stats().delivered == 3);
    let stats = push.stats();
    assert_eq!(
        (stats.delivered, stats.failed, stats.queue_full, stats.no_gateway),
        (3, 2, 0, 0),
        "{stats:?}"
    );
    let api_stats: doze_lsp::push::PushStats = get_json(&url, "/v1/push/stats", 200);
    assert_eq!(api_stats, stats);
    // The operator's log: newest first, the failures with their last status.
    let log: PushLog = get_json(&url, "/v1/push/log?limit=10", 200);
    let outcomes: Vec<_> = log.entries.iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Delivered,
            Outcome::Failed,
            Outcome::Failed,
            Outcome::Delivered,
            Outcome::Delivered
        ],
        "{log:?}"
    );
    assert!(log.entries[1].detail.contains("503"), "{log:?}");
    assert!(log.entries.iter().all(|e| e.node_id == phone_id.to_string()), "{log:?}");
    phone.stop().expect("phone stops");
    lsp.stop().expect("LSP stops");
    eprintln!("whole test {:?}", started.elapsed());
}
