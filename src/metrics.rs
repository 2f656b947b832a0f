//! Process-wide metrics for operators, rendered in the Prometheus text
//! exposition format (version 0.0.4) by [`Metrics::render`].
//!
//! The registry is deliberately tiny and dependency-free: a fixed set of
//! counters and one histogram kept in atomics, so the hot paths (every chat
//! update, every sweep) never wait on a lock, plus a few mutex-guarded maps for
//! the labelled series. Gauges that describe the state of the world (nodes by
//! state, queue depth, users) are not tracked as things change; the caller
//! samples them with [`Metrics::set_gauge`] right before rendering, so they can
//! never drift from the store.
//!
//! The output is deterministic: families sorted by name, series by labels.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

// Poison is ignored: each critical section is one map insert or a read, so a
// panic cannot leave a map half-changed, and a scrape must not fail for it.
use crate::store::lock;

#[cfg(test)]
mod tests;

/// Upper bounds (seconds) of the step latency buckets: a step is mostly a
/// store write, so the interesting range is one millisecond to a few seconds.
pub const STEP_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Process-wide metrics. Cheap to clone (Arc inside); all methods take &self
/// and are safe from any thread.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    updates: Labelled,
    step: Histogram,
    deployments: Labelled,
    payment_requests: AtomicU64,
    payments_received: AtomicU64,
    alerts_sent: AtomicU64,
    alert_send_failures: AtomicU64,
    monitor_sweeps: AtomicU64,
    /// f64 bits of the last sweep's duration.
    sweep_seconds: AtomicU64,
    nodes_checked: AtomicU64,
    outages: AtomicU64,
    recoveries: AtomicU64,
    backups: AtomicU64,
    backup_failures: AtomicU64,
    backup_uploaded_bytes: AtomicU64,
    /// Unix seconds of the last successful backup (0: none yet).
    backup_last_success: AtomicU64,
    /// A std Mutex, not a tokio one: nothing async happens while it is held.
    gauges: Mutex<BTreeMap<&'static str, GaugeFamily>>,
}

/// A counter with one label, keyed by the label's value.
#[derive(Default)]
struct Labelled(Mutex<BTreeMap<String, u64>>);

impl Labelled {
    fn inc(&self, value: &str) {
        let mut map = lock(&self.0);
        match map.get_mut(value) {
            Some(n) => *n += 1,
            None => {
                map.insert(value.to_owned(), 1);
            }
        }
    }

    fn snapshot(&self) -> Vec<(String, u64)> {
        let map = lock(&self.0);
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// Per-bucket (not cumulative) counts, the last one for observations above
/// every bound. The total count is their sum, so `_count` always equals the
/// `+Inf` bucket even while observations race with a scrape.
struct Histogram {
    buckets: [AtomicU64; STEP_BUCKETS.len() + 1],
    /// f64 bits of the sum of observations.
    sum: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl Histogram {
    fn observe(&self, seconds: f64) {
        // A clock stepping backwards or a NaN must not poison the sum forever.
        let seconds = if seconds.is_finite() && seconds > 0.0 {
            seconds
        } else {
            0.0
        };
        let slot = STEP_BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(STEP_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + seconds).to_bits())
            });
    }
}

struct GaugeFamily {
    help: &'static str,
    series: BTreeMap<Vec<(String, String)>, f64>,
}

/// One metric family's lines, kept apart until all are sorted by name.
struct Family {
    name: String,
    text: String,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// A conversation input handled, and how long `Service::handle` took.
    pub fn observe_update(&self, channel: &str, seconds: f64) {
        self.inner.updates.inc(channel);
        self.inner.step.observe(seconds);
    }

    /// A deployment finished: "ok", "failed", "redeployed", "redeploy_failed".
    pub fn deployment(&self, result: &str) {
        self.inner.deployments.inc(result);
    }

    pub fn payment_request(&self) {
        bump(&self.inner.payment_requests, 1);
    }

    pub fn payment_received(&self) {
        bump(&self.inner.payments_received, 1);
    }

    pub fn alert_sent(&self) {
        bump(&self.inner.alerts_sent, 1);
    }

    pub fn alert_send_failure(&self) {
        bump(&self.inner.alert_send_failures, 1);
    }

    /// One monitor sweep finished: how long it took, how many nodes it
    /// checked, and how many were confirmed down or back up.
    pub fn monitor_sweep(&self, seconds: f64, checked: u64, went_down: u64, came_back: u64) {
        let i = &self.inner;
        bump(&i.monitor_sweeps, 1);
        i.sweep_seconds.store(seconds.to_bits(), Ordering::Relaxed);
        i.nodes_checked.store(checked, Ordering::Relaxed);
        bump(&i.outages, went_down);
        bump(&i.recoveries, came_back);
    }

    /// A backup run finished at `now` (unix seconds), having uploaded
    /// `uploaded_bytes` of new blobs.
    pub fn backup_succeeded(&self, now: u64, uploaded_bytes: u64) {
        let i = &self.inner;
        bump(&i.backups, 1);
        bump(&i.backup_uploaded_bytes, uploaded_bytes);
        i.backup_last_success.store(now, Ordering::Relaxed);
    }

    pub fn backup_failed(&self) {
        bump(&self.inner.backup_failures, 1);
    }

    /// Gauges sampled at scrape time: set by the caller right before
    /// rendering. A series once set stays until overwritten, so a caller
    /// reporting e.g. nodes by state sets every state, zeros included.
    /// `name` must not be one of the built-in metrics above.
    pub fn set_gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        debug_assert!(valid_name(name), "bad metric name {name:?}");
        debug_assert!(labels.iter().all(|(k, _)| valid_name(k)));
        let key = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut gauges = lock(&self.inner.gauges);
        let family = gauges.entry(name).or_insert_with(|| GaugeFamily {
            help,
            series: BTreeMap::new(),
        });
        family.help = help;
        family.series.insert(key, value);
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let i = &self.inner;
        let mut families = vec![
            labelled_counter(
                "jukebox_updates_total",
                "Conversation inputs handled, by channel.",
                "channel",
                &i.updates,
            ),
            histogram(
                "jukebox_step_duration_seconds",
                "Time to handle one conversation input.",
                &i.step,
            ),
            labelled_counter(
                "jukebox_deployments_total",
                "Deployments finished, by result.",
                "result",
                &i.deployments,
            ),
            counter(
                "jukebox_payment_requests_total",
                "Payment requests (orders and top-ups) made.",
                &i.payment_requests,
            ),
            counter(
                "jukebox_payments_received_total",
                "Payments received.",
                &i.payments_received,
            ),
            counter(
                "jukebox_alerts_sent_total",
                "Alerts delivered.",
                &i.alerts_sent,
            ),
            counter(
                "jukebox_alert_send_failures_total",
                "Alert deliveries that failed.",
                &i.alert_send_failures,
            ),
            counter(
                "jukebox_monitor_sweeps_total",
                "Monitor sweeps finished.",
                &i.monitor_sweeps,
            ),
            gauge(
                "jukebox_monitor_sweep_duration_seconds",
                "Duration of the last monitor sweep.",
                f64::from_bits(i.sweep_seconds.load(Ordering::Relaxed)),
            ),
            gauge(
                "jukebox_monitor_nodes_checked",
                "Nodes checked by the last monitor sweep.",
                i.nodes_checked.load(Ordering::Relaxed) as f64,
            ),
            counter("jukebox_outages_total", "Nodes confirmed down.", &i.outages),
            counter(
                "jukebox_recoveries_total",
                "Nodes confirmed back up.",
                &i.recoveries,
            ),
            counter(
                "jukebox_backups_total",
                "Backups to S3 completed.",
                &i.backups,
            ),
            counter(
                "jukebox_backup_failures_total",
                "Backup runs that failed (after their request retries).",
                &i.backup_failures,
            ),
            counter(
                "jukebox_backup_uploaded_bytes_total",
                "Bytes of new blobs uploaded by backups.",
                &i.backup_uploaded_bytes,
            ),
            gauge(
                "jukebox_backup_last_success_timestamp_seconds",
                "Unix time of the last successful backup (0: none since start).",
                i.backup_last_success.load(Ordering::Relaxed) as f64,
            ),
        ];
        families.extend(self.sampled_gauges());
        families.sort_by(|a, b| a.name.cmp(&b.name));
        families.into_iter().map(|f| f.text).collect()
    }

    fn sampled_gauges(&self) -> Vec<Family> {
        let gauges = lock(&self.inner.gauges);
        gauges
            .iter()
            .map(|(name, family)| {
                let mut text = header(name, family.help, "gauge");
                for (labels, value) in &family.series {
                    let labels: Vec<(&str, &str)> = labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    sample(&mut text, name, &labels, &fmt_f64(*value));
                }
                Family {
                    name: name.to_string(),
                    text,
                }
            })
            .collect()
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

fn counter(name: &str, help: &str, value: &AtomicU64) -> Family {
    let mut text = header(name, help, "counter");
    sample(
        &mut text,
        name,
        &[],
        &value.load(Ordering::Relaxed).to_string(),
    );
    Family {
        name: name.into(),
        text,
    }
}

fn labelled_counter(name: &str, help: &str, label: &str, values: &Labelled) -> Family {
    let mut text = header(name, help, "counter");
    for (value, count) in values.snapshot() {
        sample(&mut text, name, &[(label, &value)], &count.to_string());
    }
    Family {
        name: name.into(),
        text,
    }
}

fn gauge(name: &str, help: &str, value: f64) -> Family {
    let mut text = header(name, help, "gauge");
    sample(&mut text, name, &[], &fmt_f64(value));
    Family {
        name: name.into(),
        text,
    }
}

fn histogram(name: &str, help: &str, h: &Histogram) -> Family {
    let mut text = header(name, help, "histogram");
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0;
    for (i, count) in h.buckets.iter().enumerate() {
        cumulative += count.load(Ordering::Relaxed);
        let le = STEP_BUCKETS
            .get(i)
            .map_or("+Inf".to_owned(), |b| fmt_f64(*b));
        sample(&mut text, &bucket, &[("le", &le)], &cumulative.to_string());
    }
    let sum = f64::from_bits(h.sum.load(Ordering::Relaxed));
    sample(&mut text, &format!("{name}_sum"), &[], &fmt_f64(sum));
    sample(
        &mut text,
        &format!("{name}_count"),
        &[],
        &cumulative.to_string(),
    );
    Family {
        name: name.into(),
        text,
    }
}

fn header(name: &str, help: &str, kind: &str) -> String {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    format!("# HELP {name} {help}\n# TYPE {name} {kind}\n")
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: &str) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (n, (k, v)) in labels.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and newline, nothing else.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Rust prints infinity as "inf"; Prometheus wants "+Inf", "-Inf", "NaN".
fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An outbox that counts what the alert queue hands it, then passes it on.
pub struct CountingOutbox {
    pub inner: std::sync::Arc<dyn crate::channel::Outbox>,
    pub metrics: Metrics,
}

#[async_trait::async_trait]
impl crate::channel::Outbox for CountingOutbox {
    async fn send(&self, user: &crate::ids::UserId, item: crate::channel::Outgoing) {
        self.inner.send(user, item).await;
        self.metrics.alert_sent();
    }
}
