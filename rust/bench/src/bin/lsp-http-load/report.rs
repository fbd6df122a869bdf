//! What the run prints: the summary table and the checks of each limit, each attack's
//! timeline, and the figures as JSON.

use doze_bench::http_load::{quantile_ms, AttackReport, Class, Kind};
use doze_lsp::LspConfig;
use serde_json::json;

use crate::{Args, Run};

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub(crate) fn print_summary(args: &Args, config: &LspConfig, run: &Run, stopped: &str) {
    let load = &run.load;
    let secs = load.elapsed.as_secs_f64();
    let total = load.total();
    let http = &config.http;
    println!();
    println!(
        "LSP pid {} ({}), [http] header timeout {} s, max {} connections, body {} B, {} \
         registrations/min per source, {} per phone per {} s; up {:.2} s after launch; setup \
         {:.1} s; idle RSS {:.1} MiB",
        run.pid,
        if cfg!(debug_assertions) { "debug build" } else { "release build" },
        http.header_read_timeout_secs,
        http.max_connections,
        http.max_body_bytes,
        http.registrations_per_minute_per_source,
        config.push.max_registrations_per_window,
        config.push.timestamp_window_secs,
        run.ready_in.as_secs_f64(),
        run.setup.as_secs_f64(),
        mib(run.idle.rss_kib),
    );
    println!(
        "\n1. mixed load: {} clients, {secs:.1} s, {total} requests, {:.0} requests/s",
        args.clients,
        total as f64 / secs
    );
    print!("{:<20}{:>8}", "kind", "sent");
    for class in Class::ALL {
        print!("{:>8}", class.name());
    }
    println!();
    let row = |name: &str, kind: Option<Kind>| {
        let counts: Vec<u64> = Class::ALL.iter().map(|&c| load.count(c, kind, None)).collect();
        print!("{name:<20}{:>8}", counts.iter().sum::<u64>());
        for n in counts {
            print!("{n:>8}");
        }
        println!();
    };
    for kind in Kind::ALL {
        row(kind.name(), Some(kind));
    }
    row("all", None);
    print!("{:<20}{:>8.0}", "requests/s", total as f64 / secs);
    for class in Class::ALL {
        print!("{:>8.1}", load.count(class, None, None) as f64 / secs);
    }
    println!();
    let registrations = |hot: bool| -> u64 {
        Kind::ALL
            .iter()
            .filter(|k| k.registers())
            .flat_map(|&k| Class::ALL.map(|c| load.count(c, Some(k), Some(hot))))
            .sum()
    };
    let (hot, spread) = (registrations(true), registrations(false));
    println!(
        "per-source limit: {} hot sources: {} of {hot} registrations 429; 65 536 others: {} \
         of {spread}",
        args.hot_sources,
        load.count(Class::LimitedSource, None, Some(true)),
        load.count(Class::LimitedSource, None, Some(false)),
    );
    if args.phones > 0 {
        println!("per-phone bound: taken per phone {:?}", load.phone_ok);
    }
    let lat = &load.latencies_us;
    let health = &load.health_latencies_us;
    println!(
        "latency ms: all p50 {:.2} p99 {:.2} max {:.1}; GET /health p50 {:.2} p99 {:.2}",
        quantile_ms(lat, 0.5),
        quantile_ms(lat, 0.99),
        quantile_ms(lat, 1.0),
        quantile_ms(health, 0.5),
        quantile_ms(health, 0.99),
    );
    println!(
        "LSP RSS MiB: before {:.1}, peak {:.1} (VmHWM {:.1}), at the end {:.1}, after {:.1}",
        mib(run.load_before.rss_kib),
        mib(run.load_peak_kib),
        mib(run.load_end.hwm_kib),
        mib(run.load_end.rss_kib),
        mib(run.load_after.rss_kib),
    );
    if !load.samples.is_empty() {
        println!("samples of failures: {:?}", load.samples);
    }
    for (i, attack) in run.attacks.iter().enumerate() {
        print_attack(i + 2, args, attack);
    }
    println!("\nchecks:");
    for (name, ok) in &run.checks {
        println!("  {} {name}", if *ok { "ok    " } else { "FAILED" });
    }
    let final_mem = run.final_mem.map_or("gone".to_string(), |m| format!("{:.1}", mib(m.rss_kib)));
    println!(
        "final: GET /health {}, RSS {final_mem} MiB, VmHWM {:.1} MiB; LSP {stopped}",
        match &run.final_health {
            Ok(took) => format!("200 in {:.1} ms", took.as_secs_f64() * 1000.0),
            Err(e) => format!("FAILED: {e}"),
        },
        mib(run.final_mem.map_or(0, |m| m.hwm_kib)),
    );
    println!("{}", serde_json::to_string(&as_json(args, run)).unwrap_or_default());
}

pub(crate) fn print_attack(number: usize, args: &Args, attack: &AttackReport) {
    println!(
        "\n{number}. half-sent headers: {} connections (cap {}), opened in {:.2} s",
        attack.connections,
        args.max_connections,
        attack.opened_in.as_secs_f64()
    );
    println!(
        "refused 503 at once {}, closed at once without a 503 read {}, cut off later {}, \
         connect failures {} {:?}{}",
        attack.refused_503,
        attack.closed_at_once,
        attack.cut_off,
        attack.connect_failures,
        attack.failures,
        if attack.other_answers.is_empty() {
            String::new()
        } else {
            format!(", answers on cut-off ones: {:?}", attack.other_answers)
        }
    );
    println!(
        "held at header timeout + 1 s (after all were open): {}; the last closed {} after \
         the attack started",
        attack.held_at_timeout_plus_1s.map_or("not measured".into(), |n| n.to_string()),
        attack
            .all_closed_after
            .map_or("NEVER (some still open)".into(), |d| format!("{:.2} s", d.as_secs_f64())),
    );
    let mut line = String::from("open over time (s since the start:open):");
    let mut second = 0.0;
    for sample in &attack.timeline {
        if sample.t >= second {
            line.push_str(&format!(" {:.0}:{}", sample.t.floor(), sample.open));
            second = sample.t.floor() + 1.0;
        }
    }
    println!("{line}");
    let ok: Vec<f64> =
        attack.probes.iter().filter(|p| p.answer == Ok(200)).map(|p| p.latency_ms).collect();
    let failed: Vec<String> = attack
        .probes
        .iter()
        .filter(|p| p.answer != Ok(200))
        .map(|p| match &p.answer {
            Ok(status) => format!("{:.1}s:{status}", p.t),
            Err(e) => format!("{:.1}s:{e}", p.t),
        })
        .collect();
    let first_ok = attack.probes.iter().find(|p| p.answer == Ok(200)).map(|p| p.t);
    println!(
        "GET /health during: {} probes, {} answered 200 (first at {}; latency ms median {:.1}, \
         max {:.1}), {} not: {}",
        attack.probes.len(),
        ok.len(),
        first_ok.map_or("never".into(), |t| format!("{t:.1} s")),
        doze_bench::median(ok.clone()),
        ok.iter().copied().fold(f64::NAN, f64::max),
        failed.len(),
        summarize(&failed),
    );
    println!(
        "LSP RSS MiB: before {:.1}, peak {:.1}, after {:.1}",
        mib(attack.mem_before.rss_kib),
        mib(attack.rss_peak_kib),
        mib(attack.mem_after.rss_kib),
    );
}

/// The first and last few of a long list.
fn summarize(items: &[String]) -> String {
    if items.len() <= 6 {
        return items.join(", ");
    }
    format!("{}, … {}", items[..3].join(", "), items[items.len() - 2..].join(", "))
}

pub(crate) fn as_json(args: &Args, run: &Run) -> serde_json::Value {
    let load = &run.load;
    let secs = load.elapsed.as_secs_f64();
    let by_class: serde_json::Map<String, serde_json::Value> = Class::ALL
        .iter()
        .map(|&c| (c.name().to_string(), json!(load.count(c, None, None))))
        .collect();
    let attacks: Vec<_> = run
        .attacks
        .iter()
        .map(|a| {
            json!({
                "connections": a.connections,
                "refused_503": a.refused_503,
                "closed_at_once": a.closed_at_once,
                "cut_off": a.cut_off,
                "connect_failures": a.connect_failures,
                "held_at_timeout_plus_1s": a.held_at_timeout_plus_1s,
                "all_closed_after_s": a.all_closed_after.map(|d| d.as_secs_f64()),
                "health_probes": a.probes.len(),
                "health_probes_200": a.probes.iter().filter(|p| p.answer == Ok(200)).count(),
                "rss_kib": [a.mem_before.rss_kib, a.rss_peak_kib, a.mem_after.rss_kib],
                "open_over_time": a.timeline.iter().map(|s| (s.t, s.open)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let failed: Vec<&String> = run.checks.iter().filter(|(_, ok)| !ok).map(|(n, _)| n).collect();
    json!({
        "bench": "lsp-http-load",
        "clients": args.clients,
        "secs": secs,
        "requests": load.total(),
        "requests_per_sec": load.total() as f64 / secs,
        "by_class": by_class,
        "latency_ms": {
            "p50": quantile_ms(&load.latencies_us, 0.5),
            "p99": quantile_ms(&load.latencies_us, 0.99),
        },
        "rss_kib": {
            "idle": run.idle.rss_kib,
            "before": run.load_before.rss_kib,
            "peak": run.load_peak_kib,
            "after": run.load_after.rss_kib,
        },
        "attacks": attacks,
        "checks_failed": failed,
        "fell_over": run.died || run.final_health.is_err(),
    })
}
