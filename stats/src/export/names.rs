//! How snapshot metric names map to exported families, shared by the
//! Prometheus and `metrics` exporters so both speak the same names.
//!
//! A source of subsystem `cache` named `users` with counter `hit` becomes
//! `clockwise_cache_requests_total{cache="users",result="hit"}`: read outcomes,
//! removal causes, load results and refresh results are one family each,
//! told apart by a label, so PromQL can `sum by (cache)` them. Every other
//! counter `x` becomes `clockwise_<subsystem>_x_total`, gauge `x`
//! `clockwise_<subsystem>_x`, histogram `x` (nanoseconds)
//! `clockwise_<subsystem>_x_seconds`.

/// One counter's family: name suffix, extra label, help text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CounterFamily {
    /// Between `clockwise_<subsystem>_` and `_total`.
    pub(crate) suffix: &'static str,
    /// `(key, value)` telling this counter apart within its family.
    pub(crate) label: FixedLabel,
    pub(crate) help: &'static str,
}

const REQUESTS: &str = "Lookups by result: hit, miss_absent (no entry), \
                        miss_expired (the entry had outlived its time to live).";
const REMOVALS: &str = "Entries removed, by cause: capacity (evicted to make room), \
                        expired (time to live), explicit (remove, retain, invalidate), \
                        replaced (overwritten by a newer value).";
const LOADS: &str = "Loader calls that finished, by result: success or failure.";
const REFRESHES: &str = "Refresh-ahead reloads by outcome: started, succeeded, failed.";

/// The family of counter `metric`, or `None` for counters not exported
/// (`get`: the sum of the three request results).
pub(crate) fn counter_family(metric: &str) -> Option<CounterFamily> {
    let labelled = |suffix, key, value: &'static str, help| CounterFamily {
        suffix,
        label: Some((key, value)),
        help,
    };
    let plain = |suffix, help| CounterFamily {
        suffix,
        label: None,
        help,
    };
    Some(match metric {
        "get" => return None,
        "hit" => labelled("requests", "result", "hit", REQUESTS),
        "miss_absent" => labelled("requests", "result", "miss_absent", REQUESTS),
        "miss_expired" => labelled("requests", "result", "miss_expired", REQUESTS),
        "removed_capacity" => labelled("removals", "cause", "capacity", REMOVALS),
        "removed_expired" => labelled("removals", "cause", "expired", REMOVALS),
        "removed_explicit" => labelled("removals", "cause", "explicit", REMOVALS),
        "removed_replaced" => labelled("removals", "cause", "replaced", REMOVALS),
        "load_success" => labelled("loads", "result", "success", LOADS),
        "load_failure" => labelled("loads", "result", "failure", LOADS),
        "refresh_started" => labelled("refreshes", "result", "started", REFRESHES),
        "refresh_succeeded" => labelled("refreshes", "result", "succeeded", REFRESHES),
        "refresh_failed" => labelled("refreshes", "result", "failed", REFRESHES),
        "insert" => plain("inserts", "New entries inserted."),
        "update" => plain(
            "updates",
            "Inserts that replaced the value of a present key.",
        ),
        "rejected" => plain(
            "rejections",
            "Entries refused because they weigh more than the capacity.",
        ),
        "listener_panic" => plain(
            "listener_panics",
            "Eviction listener calls that panicked (caught).",
        ),
        "coalesced_waiters" => plain(
            "coalesced_waiters",
            "Callers that waited for another caller's load of the same key instead of loading.",
        ),
        "wait_timeout" => plain(
            "load_wait_timeouts",
            "Waiters that gave up after load_wait_timeout.",
        ),
        "loader_panic" => plain("loader_panics", "Loader closures that panicked."),
        "stale_hit" => plain(
            "stale_hits",
            "Hits on entries older than refresh_after (a reload was due).",
        ),
        "negative_hit" => plain(
            "negative_hits",
            "Lookups answered by a remembered absence (negative caching).",
        ),
        _ => {
            return Some(CounterFamily {
                suffix: "",
                label: None,
                help: "",
            })
        }
    })
}

/// Help text of gauge `metric`.
pub(crate) fn gauge_help(metric: &str) -> &'static str {
    match metric {
        "entries" => "Entries held now.",
        "weighted_size" => "Total weight held now (entries when no weigher is set).",
        "capacity" => "Most total weight the cache holds.",
        "hot_size" => "Weight of resident hot entries (CLOCK-Pro).",
        "cold_size" => "Weight of resident cold entries (CLOCK-Pro).",
        "test_size" => {
            "Weight remembered for non-resident test entries (CLOCK-Pro, metadata only)."
        }
        _ => "A level reported by this source.",
    }
}

/// Help text of histogram `metric`.
pub(crate) fn histogram_help(metric: &str) -> &'static str {
    match metric {
        "get_latency" => {
            "Latency of get, in seconds (sampled; not corrected for coordinated omission)."
        }
        "insert_latency" => "Latency of insert, in seconds (sampled).",
        "load_latency" => "Duration of loader calls, in seconds (every load).",
        _ => "A latency distribution reported by this source, in seconds.",
    }
}

/// `name` made a valid Prometheus name part: every byte outside
/// `[a-zA-Z0-9_]` becomes `_`, and a leading digit gets a `_` before it.
/// Names from the engine and from validated counter sets pass unchanged;
/// this guards snapshots deserialized from elsewhere.
pub(crate) fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// A label key and value fixed by the family.
pub(crate) type FixedLabel = Option<(&'static str, &'static str)>;

/// The full counter family name, its extra label and its help text, for a
/// source of `subsystem`; `None` if the counter is not exported.
pub(crate) fn counter_name(
    subsystem: &str,
    metric: &str,
) -> Option<(String, FixedLabel, &'static str)> {
    let family = counter_family(metric)?;
    let subsystem = sanitize(subsystem);
    Some(if family.suffix.is_empty() {
        (
            format!("clockwise_{subsystem}_{}_total", sanitize(metric)),
            None,
            "A count reported by this source.",
        )
    } else {
        (
            format!("clockwise_{subsystem}_{}_total", family.suffix),
            family.label,
            family.help,
        )
    })
}

/// The label key naming the source: `cache` for caches, `source` otherwise.
pub(crate) fn source_label(subsystem: &str) -> &'static str {
    if subsystem == "cache" {
        "cache"
    } else {
        "source"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_counters_share_a_family() {
        let (a, la, _) = counter_name("cache", "hit").unwrap();
        let (b, lb, _) = counter_name("cache", "miss_expired").unwrap();
        assert_eq!(a, "clockwise_cache_requests_total");
        assert_eq!(a, b);
        assert_eq!(
            (la, lb),
            (Some(("result", "hit")), Some(("result", "miss_expired")))
        );
        assert_eq!(counter_name("cache", "get"), None);
        assert_eq!(
            counter_name("app", "jobs done!").unwrap().0,
            "clockwise_app_jobs_done__total"
        );
        assert_eq!(sanitize("9lives"), "_9lives");
    }
}
