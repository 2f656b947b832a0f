//! [`Metrics::render`] read back with a tiny parser of the exposition format,
//! so the tests check values, not string layout.

use super::*;

/// One sample line: name, labels (unescaped), value.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses every line of `text`; panics on anything that is neither a sample
/// nor a well-formed `# HELP` / `# TYPE` comment.
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "exposition ends with a newline");
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let (kind, name) = (words.next().unwrap(), words.next().unwrap());
            assert!(kind == "HELP" || kind == "TYPE", "{line}");
            assert!(valid_name(name), "{line}");
            continue;
        }
        samples.push(parse_sample(line));
    }
    samples
}

fn parse_sample(line: &str) -> Sample {
    let end = line
        .find(['{', ' '])
        .expect("a name then labels or a value");
    let name = line[..end].to_owned();
    let mut chars = line[end..].chars();
    let mut labels = Vec::new();
    let mut rest = line[end..].to_owned();
    if line[end..].starts_with('{') {
        chars.next();
        loop {
            // `key="value"` pairs separated by commas, then `}`.
            let mut key = String::new();
            match chars.next().expect("label or }") {
                '}' => break,
                ',' => {}
                c => key.push(c),
            }
            for c in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars.next().expect("closing quote") {
                    '"' => break,
                    '\\' => match chars.next().expect("escaped char") {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        c => panic!("bad escape \\{c} in {line}"),
                    },
                    c => value.push(c),
                }
            }
            assert!(valid_name(&key), "{line}");
            labels.push((key, value));
        }
        rest = chars.collect();
    }
    let value = rest.strip_prefix(' ').expect("space before the value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    Sample {
        name,
        labels,
        value,
    }
}

/// The value of the series `name` with exactly `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && s.labels
                    .iter()
                    .zip(labels)
                    .all(|(a, b)| a.0 == b.0 && a.1 == b.1)
        })
        .map(|s| s.value)
}

#[test]
fn render_reports_every_counter() {
    let m = Metrics::new();
    m.observe_update("tg", 0.002);
    m.observe_update("tg", 0.02);
    m.observe_update("web", 0.2);
    m.deployment("ok");
    m.deployment("ok");
    m.deployment("redeploy_failed");
    m.payment_request();
    m.payment_request();
    m.payment_received();
    m.alert_sent();
    m.alert_send_failure();
    m.alert_send_failure();
    m.monitor_sweep(1.5, 40, 2, 1);
    m.monitor_sweep(0.75, 42, 1, 0);
    let s = parse(&m.render());
    let v = |name: &str, labels: &[(&str, &str)]| value(&s, name, labels);
    assert_eq!(v("jukebox_updates_total", &[("channel", "tg")]), Some(2.0));
    assert_eq!(v("jukebox_updates_total", &[("channel", "web")]), Some(1.0));
    assert_eq!(v("jukebox_updates_total", &[("channel", "term")]), None);
    assert_eq!(
        v("jukebox_deployments_total", &[("result", "ok")]),
        Some(2.0)
    );
    let failed = [("result", "redeploy_failed")];
    assert_eq!(v("jukebox_deployments_total", &failed), Some(1.0));
    assert_eq!(v("jukebox_payment_requests_total", &[]), Some(2.0));
    assert_eq!(v("jukebox_payments_received_total", &[]), Some(1.0));
    assert_eq!(v("jukebox_alerts_sent_total", &[]), Some(1.0));
    assert_eq!(v("jukebox_alert_send_failures_total", &[]), Some(2.0));
    assert_eq!(v("jukebox_monitor_sweeps_total", &[]), Some(2.0));
    assert_eq!(v("jukebox_monitor_sweep_duration_seconds", &[]), Some(0.75));
    assert_eq!(v("jukebox_monitor_nodes_checked", &[]), Some(42.0));
    assert_eq!(v("jukebox_outages_total", &[]), Some(3.0));
    assert_eq!(v("jukebox_recoveries_total", &[]), Some(1.0));
    let sum = v("jukebox_step_duration_seconds_sum", &[]).unwrap();
    assert!((sum - 0.222).abs() < 1e-9, "{sum}");
}

#[test]
fn a_fresh_registry_renders_zeros_with_help_and_type() {
    let text = Metrics::new().render();
    let s = parse(&text);
    assert_eq!(value(&s, "jukebox_alerts_sent_total", &[]), Some(0.0));
    assert_eq!(
        value(&s, "jukebox_step_duration_seconds_count", &[]),
        Some(0.0)
    );
    assert!(text.contains("# TYPE jukebox_updates_total counter\n"));
    assert!(text.contains("# TYPE jukebox_step_duration_seconds histogram\n"));
    assert!(text.contains("# TYPE jukebox_monitor_nodes_checked gauge\n"));
    assert!(text.contains("# HELP jukebox_outages_total Nodes confirmed down.\n"));
}

#[test]
fn families_are_sorted_by_name_and_series_by_labels() {
    let m = Metrics::new();
    m.observe_update("web", 0.1);
    m.observe_update("tg", 0.1);
    m.set_gauge(
        "jukebox_nodes",
        "Nodes by state.",
        &[("state", "running")],
        3.0,
    );
    m.set_gauge(
        "jukebox_nodes",
        "Nodes by state.",
        &[("state", "paused")],
        1.0,
    );
    m.set_gauge("jukebox_users", "Users known.", &[], 7.0);
    let text = m.render();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"jukebox_nodes") && names.contains(&"jukebox_users"));
    let tg = text.find("channel=\"tg\"").unwrap();
    let web = text.find("channel=\"web\"").unwrap();
    assert!(tg < web);
    let paused = text.find("state=\"paused\"").unwrap();
    let running = text.find("state=\"running\"").unwrap();
    assert!(paused < running);
    assert_eq!(text, m.render(), "rendering twice gives the same text");
}

#[test]
fn gauges_are_overwritten_not_added() {
    let m = Metrics::new();
    m.set_gauge("jukebox_alert_queue_depth", "Alerts waiting.", &[], 5.0);
    m.set_gauge("jukebox_alert_queue_depth", "Alerts waiting.", &[], 2.0);
    let running = [("state", "running")];
    m.set_gauge("jukebox_nodes", "Nodes by state.", &running, 4.0);
    m.set_gauge("jukebox_nodes", "Nodes by state.", &running, 0.0);
    let s = parse(&m.render());
    assert_eq!(value(&s, "jukebox_alert_queue_depth", &[]), Some(2.0));
    assert_eq!(value(&s, "jukebox_nodes", &running), Some(0.0));
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    let odd = "a\\b\"c\nd";
    m.deployment(odd);
    m.set_gauge("jukebox_odd", "Odd labels.", &[("what", odd)], 1.0);
    let text = m.render();
    assert!(
        text.contains(r#"jukebox_deployments_total{result="a\\b\"c\nd"} 1"#),
        "{text}"
    );
    // Every series stays on one line, and reads back to the original value.
    let s = parse(&text);
    assert_eq!(
        value(&s, "jukebox_deployments_total", &[("result", odd)]),
        Some(1.0)
    );
    assert_eq!(value(&s, "jukebox_odd", &[("what", odd)]), Some(1.0));
}

#[test]
fn special_floats_use_prometheus_spelling() {
    let m = Metrics::new();
    m.set_gauge("jukebox_g", "G.", &[("v", "up")], f64::INFINITY);
    m.set_gauge("jukebox_g", "G.", &[("v", "down")], f64::NEG_INFINITY);
    m.set_gauge("jukebox_g", "G.", &[("v", "nan")], f64::NAN);
    let text = m.render();
    assert!(text.contains("jukebox_g{v=\"up\"} +Inf\n"));
    assert!(text.contains("jukebox_g{v=\"down\"} -Inf\n"));
    assert!(text.contains("jukebox_g{v=\"nan\"} NaN\n"));
}

#[test]
fn histogram_buckets_are_cumulative() {
    let m = Metrics::new();
    // Bucket bounds are inclusive; 7 s is above every bound; a negative or
    // NaN duration counts as 0.
    let observations = [0.0005, 0.001, 0.003, 0.003, 0.2, 1.0, 7.0, -1.0, f64::NAN];
    for seconds in observations {
        m.observe_update("term", seconds);
    }
    let s = parse(&m.render());
    let bucket = |le: &str| value(&s, "jukebox_step_duration_seconds_bucket", &[("le", le)]);
    let expected = [
        ("0.001", 4.0),
        ("0.0025", 4.0),
        ("0.005", 6.0),
        ("0.01", 6.0),
        ("0.025", 6.0),
        ("0.05", 6.0),
        ("0.1", 6.0),
        ("0.25", 7.0),
        ("0.5", 7.0),
        ("1", 8.0),
        ("2.5", 8.0),
        ("5", 8.0),
        ("+Inf", 9.0),
    ];
    for (le, count) in expected {
        assert_eq!(bucket(le), Some(count), "le={le}");
    }
    let buckets = s
        .iter()
        .filter(|s| s.name == "jukebox_step_duration_seconds_bucket")
        .count();
    assert_eq!(buckets, STEP_BUCKETS.len() + 1);
    let count = value(&s, "jukebox_step_duration_seconds_count", &[]);
    assert_eq!(count, Some(observations.len() as f64));
    let sum = value(&s, "jukebox_step_duration_seconds_sum", &[]).unwrap();
    assert!((sum - 8.2075).abs() < 1e-9, "{sum}");
    assert_eq!(
        value(&s, "jukebox_updates_total", &[("channel", "term")]),
        Some(9.0)
    );
}

#[test]
fn concurrent_increments_all_count() {
    const THREADS: usize = 8;
    const EACH: usize = 2_000;
    let m = Metrics::new();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let m = m.clone();
            std::thread::spawn(move || {
                let channel = if t % 2 == 0 { "tg" } else { "web" };
                for _ in 0..EACH {
                    m.observe_update(channel, 0.01);
                    m.deployment("ok");
                    m.alert_sent();
                    m.monitor_sweep(0.1, 1, 1, 0);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = parse(&m.render());
    let total = (THREADS * EACH) as f64;
    let half = total / 2.0;
    assert_eq!(
        value(&s, "jukebox_updates_total", &[("channel", "tg")]),
        Some(half)
    );
    assert_eq!(
        value(&s, "jukebox_updates_total", &[("channel", "web")]),
        Some(half)
    );
    assert_eq!(
        value(&s, "jukebox_step_duration_seconds_count", &[]),
        Some(total)
    );
    let sum = value(&s, "jukebox_step_duration_seconds_sum", &[]).unwrap();
    assert!((sum - total * 0.01).abs() < 1e-6, "{sum}");
    assert_eq!(
        value(&s, "jukebox_deployments_total", &[("result", "ok")]),
        Some(total)
    );
    assert_eq!(value(&s, "jukebox_alerts_sent_total", &[]), Some(total));
    assert_eq!(value(&s, "jukebox_outages_total", &[]), Some(total));
}
