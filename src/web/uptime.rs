//! A node's uptime over the last 30 days, drawn server-side as a small SVG
//! bar from its recorded outages (the audit trail's `node.down` and
//! `node.up` events and the outage going on now). Pure: no IO, no clock.

use askama::Template;

use crate::audit::Event;

/// The window the bar covers.
pub const WINDOW_SECS: u64 = 30 * 86_400;
/// The bar's width in SVG units (it scales to the page's width).
const WIDTH: f64 = 300.0;

/// A stretch of time, in unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub from: u64,
    pub to: u64,
}

/// The outages in `events` (a node's, any order) and the one going on
/// since `down_since`, as spans clipped to `[start, now]`, merged and in
/// time order. A recovery is recorded as `node.up` with "back after N s"
/// (`service::monitor`), which gives its outage's start.
pub fn outages(events: &[Event], down_since: Option<u64>, start: u64, now: u64) -> Vec<Span> {
    let mut spans: Vec<Span> = events
        .iter()
        .filter(|e| e.kind == "node.up")
        .filter_map(|e| {
            let secs: u64 = e
                .detail
                .strip_prefix("back after ")?
                .strip_suffix(" s")?
                .parse()
                .ok()?;
            Some(Span {
                from: e.at.saturating_sub(secs),
                to: e.at,
            })
        })
        .chain(down_since.map(|since| Span {
            from: since,
            to: now,
        }))
        .filter_map(|s| {
            let (from, to) = (s.from.max(start), s.to.min(now));
            (from < to).then_some(Span { from, to })
        })
        .collect();
    spans.sort_by_key(|s| s.from);
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.from <= last.to => last.to = last.to.max(span.to),
            _ => merged.push(span),
        }
    }
    merged
}

/// One rectangle of the bar.
pub struct Rect {
    pub x: String,
    pub width: String,
    pub class: &'static str,
}

/// The bar and its words (`uptime.svg.html`).
#[derive(Template)]
#[template(path = "uptime.svg.html")]
pub struct UptimeBar {
    pub rects: Vec<Rect>,
    /// "99.86% up" over the time the node existed in the window.
    pub percent: String,
    /// What the bar shows, for screen readers and as its tooltip.
    pub summary: String,
}

/// The bar for a node created at `created_at`, seen at `now`.
pub fn bar(events: &[Event], down_since: Option<u64>, created_at: u64, now: u64) -> UptimeBar {
    let window_start = now.saturating_sub(WINDOW_SECS);
    let start = created_at.clamp(window_start, now);
    let down = outages(events, down_since, start, now);
    let x = |t: u64| (t.saturating_sub(window_start)) as f64 / WINDOW_SECS as f64 * WIDTH;
    let mut rects = Vec::new();
    let rect = |from: f64, to: f64, class| Rect {
        x: format!("{from:.2}"),
        // At least a hairline, so a one-minute outage is still visible.
        width: format!("{:.2}", (to - from).max(0.75)),
        class,
    };
    if start > window_start {
        rects.push(rect(0.0, x(start), "none"));
    }
    if now > start {
        rects.push(rect(x(start), WIDTH, "up"));
    }
    for span in &down {
        rects.push(rect(x(span.from), x(span.to), "down"));
    }
    let observed = now.saturating_sub(start);
    let down_secs: u64 = down.iter().map(|s| s.to - s.from).sum();
    let percent = if observed == 0 {
        "no data yet".to_owned()
    } else {
        let up = (observed - down_secs) as f64 / observed as f64 * 100.0;
        // Never round a node with an outage up to a clean 100%.
        let up = if down_secs > 0 { up.min(99.99) } else { up };
        format!("{up:.2}% up")
    };
    let summary = format!(
        "{percent} over the last 30 days; {} outage{} recorded",
        down.len(),
        if down.len() == 1 { "" } else { "s" }
    );
    UptimeBar {
        rects,
        percent,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up_event(at: u64, secs: u64) -> Event {
        Event {
            at,
            actor: "system".into(),
            user: None,
            kind: "node.up".into(),
            node: Some("n".into()),
            detail: format!("back after {secs} s"),
        }
    }

    #[test]
    fn recoveries_and_the_current_outage_become_clipped_merged_spans() {
        let now = 100 * 86_400;
        let start = now - WINDOW_SECS;
        let events = vec![
            up_event(now - 1000, 500),
            // Overlaps the one above: merged.
            up_event(now - 1200, 400),
            // Started before the window: clipped to it.
            up_event(start + 100, 1000),
            // Long gone: outside the window.
            up_event(start - 10, 5),
        ];
        let spans = outages(&events, Some(now - 50), start, now);
        assert_eq!(
            spans,
            vec![
                Span {
                    from: start,
                    to: start + 100
                },
                Span {
                    from: now - 1600,
                    to: now - 1000
                },
                Span {
                    from: now - 50,
                    to: now
                },
            ]
        );
        // Details that are not a recovery's are ignored, not misread.
        let odd = Event {
            detail: "back after soon".into(),
            ..up_event(now, 1)
        };
        assert!(outages(&[odd], None, start, now).is_empty());
    }

    #[test]
    fn the_bar_counts_only_the_time_the_node_existed() {
        let now = 100 * 86_400;
        let created = now - 10 * 86_400;
        let clean = bar(&[], None, created, now);
        assert_eq!(clean.percent, "100.00% up");
        assert_eq!(clean.rects[0].class, "none");
        assert_eq!(clean.rects[0].width, "200.00");
        // One hour down in ten days.
        let hour = bar(&[up_event(now - 86_400, 3600)], None, created, now);
        assert_eq!(hour.percent, "99.58% up");
        assert!(
            hour.summary.ends_with("1 outage recorded"),
            "{}",
            hour.summary
        );
        let svg = hour.render().unwrap();
        assert!(svg.contains("class=\"down\""), "{svg}");
        assert!(svg.starts_with("<svg"), "{svg}");
        // A minute of outage is not rounded away to 100%.
        let minute = bar(&[up_event(now - 10, 60)], None, now - 30 * 86_400, now);
        assert_eq!(minute.percent, "99.99% up");
        assert_eq!(bar(&[], None, now, now).percent, "no data yet");
    }
}
