//! Trace readers and Belady's OPT.

use crate::Error;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Trace file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One decimal key per line.
    Keys,
    /// LIRS traces: one key per line; `*` lines (phase breaks) are skipped.
    Lirs,
    /// ARC traces: `start count ...` per line, expanding to `count`
    /// consecutive blocks from `start`.
    Arc,
    /// libCacheSim oracleGeneral: 24-byte little-endian records
    /// (`u32` time, `u64` object id, `u32` size, `i64` next access).
    OracleGeneral,
    /// CSV: the key is the first column; a non-numeric first line is a header.
    Csv,
}

/// Reads a trace into keys (and sizes, for oracleGeneral; 1 otherwise).
///
/// ```
/// let dir = std::env::temp_dir().join("clockwise-bench-doc");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("t.arc");
/// std::fs::write(&path, "10 3 0 0\n20 1 0 0\n").unwrap();
/// let (keys, _) = clockwise_bench::trace::read(&path, clockwise_bench::trace::Format::Arc).unwrap();
/// assert_eq!(keys, vec![10, 11, 12, 20]);
/// ```
pub fn read(path: &Path, format: Format) -> Result<(Vec<u64>, Vec<u32>), Error> {
    let io = |e: std::io::Error| Error::Io {
        file: path.display().to_string(),
        message: e.to_string(),
    };
    let bad = |line: usize, message: String| Error::Trace {
        file: path.display().to_string(),
        line,
        message,
    };
    if format == Format::OracleGeneral {
        let data = std::fs::read(path).map_err(io)?;
        if data.len() % 24 != 0 {
            return Err(bad(
                data.len() / 24 + 1,
                format!(
                    "{} bytes is not a whole number of 24-byte records",
                    data.len()
                ),
            ));
        }
        let (mut keys, mut sizes) = (Vec::new(), Vec::new());
        for record in data.chunks_exact(24) {
            keys.push(u64::from_le_bytes(
                record[4..12].try_into().expect("8 bytes"),
            ));
            sizes.push(u32::from_le_bytes(
                record[12..16].try_into().expect("4 bytes"),
            ));
        }
        return Ok((keys, sizes));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let line = line.trim();
        if line.is_empty() || (format == Format::Lirs && line.starts_with('*')) {
            continue;
        }
        let number = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| bad(n, format!("{s:?} is not a non-negative integer")))
        };
        match format {
            Format::Keys | Format::Lirs => keys.push(number(line)?),
            Format::Arc => {
                let mut fields = line.split_whitespace();
                let start = number(fields.next().unwrap_or(""))?;
                let count = number(
                    fields
                        .next()
                        .ok_or_else(|| bad(n, "missing block count".into()))?,
                )?;
                if count > 1 << 20 {
                    return Err(bad(n, format!("block count {count} is implausibly large")));
                }
                keys.extend((0..count).map(|i| start.wrapping_add(i)));
            }
            Format::Csv => {
                let first = line.split(',').next().unwrap_or("");
                match number(first) {
                    Ok(k) => keys.push(k),
                    Err(_) if n == 1 => {} // header
                    Err(e) => return Err(e),
                }
            }
            Format::OracleGeneral => unreachable!(),
        }
    }
    let sizes = vec![1; keys.len()];
    Ok((keys, sizes))
}

/// Hit ratio of Belady's MIN on `trace` at `capacity` entries: on a miss
/// with a full cache, evict the resident key used again farthest in the
/// future (demand fetching: the requested key is always brought in).
///
/// ```
/// // Capacity 2: a b c a b -> misses a, b, c(evicts b: next used after a), hit a, miss b.
/// assert_eq!(clockwise_bench::trace::opt_hit_ratio(&[1, 2, 3, 1, 2], 2), 0.2);
/// ```
pub fn opt_hit_ratio(trace: &[u64], capacity: usize) -> f64 {
    // Unit weights: the weighted rule is then exactly Belady's MIN.
    opt_weighted_hit_ratio(trace, &[], capacity as u64)
}

/// Hit ratio (hits over requests) of Belady's farthest-next-use rule with
/// weights, at a `capacity` in total weight: on a miss the requested object
/// is brought in (demand fetching, as in [`opt_hit_ratio`], unless it is
/// heavier than the whole cache), and the resident objects used again
/// farthest in the future leave until it fits. With unit weights this is
/// exactly Belady's MIN; with sizes it is the standard stand-in for the
/// optimum, which is NP-hard for variable sizes, so it is a reference point
/// rather than a proven bound. Sizes of 0 count as 1, and requests past
/// the end of `sizes` weigh 1.
///
/// ```
/// use clockwise_bench::trace::opt_weighted_hit_ratio;
/// // a(60) b(50) c(40) a c b at capacity 100: b evicts a, c joins b,
/// // a's return evicts b (used after c), c hits, b misses: 1 hit of 6.
/// let r = opt_weighted_hit_ratio(&[1, 2, 3, 1, 3, 2], &[60, 50, 40, 60, 40, 50], 100);
/// assert!((r - 1.0 / 6.0).abs() < 1e-12);
/// ```
pub fn opt_weighted_hit_ratio(trace: &[u64], sizes: &[u32], capacity: u64) -> f64 {
    if trace.is_empty() || capacity == 0 {
        return 0.0;
    }
    let mut next = vec![usize::MAX; trace.len()];
    let mut last: HashMap<u64, usize> = HashMap::new();
    for (i, &k) in trace.iter().enumerate().rev() {
        next[i] = last.insert(k, i).unwrap_or(usize::MAX);
    }
    let mut by_next: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut resident: HashMap<u64, ((usize, u64), u64)> = HashMap::new();
    let (mut used, mut hits) = (0u64, 0usize);
    for (i, &k) in trace.iter().enumerate() {
        let weight = u64::from(sizes.get(i).copied().unwrap_or(1).max(1));
        let key_next = (next[i], k);
        if let Some((old, old_weight)) = resident.remove(&k) {
            hits += 1;
            by_next.remove(&old);
            used -= old_weight;
        }
        if weight > capacity {
            continue;
        }
        while used + weight > capacity {
            let &far = by_next.last().expect("over capacity means non-empty");
            by_next.remove(&far);
            used -= resident.remove(&far.1).expect("indexed").1;
        }
        by_next.insert(key_next);
        resident.insert(k, (key_next, weight));
        used += weight;
    }
    hits as f64 / trace.len() as f64
}

/// Hit ratio of ARC (Megiddo and Modha, FAST 2003) on `trace` at
/// `capacity` entries: two LRU lists of resident keys (seen once, seen
/// more), two of recently evicted keys, and a target size for the first
/// that ghost hits move, kept as a real number (the published `arc`
/// anchors of the shared traces are reproduced with it, not with integer
/// steps). The reference column of the hit-ratio page, as
/// [`opt_hit_ratio`] is.
///
/// ```
/// // Capacity 2: a b a c a b: a is seen twice, so c evicts b, not a.
/// let r = clockwise_bench::trace::arc_hit_ratio(&[1, 2, 1, 3, 1, 2], 2);
/// assert_eq!(r, 2.0 / 6.0);
/// ```
pub fn arc_hit_ratio(trace: &[u64], capacity: usize) -> f64 {
    if trace.is_empty() || capacity == 0 {
        return 0.0;
    }
    let mut arc = Arc::new(capacity);
    let hits = trace.iter().filter(|&&k| arc.request(k)).count();
    hits as f64 / trace.len() as f64
}

/// ARC's four lists and its target for `t1`.
struct Arc {
    c: usize,
    p: f64,
    t1: lru::LruCache<u64, ()>,
    t2: lru::LruCache<u64, ()>,
    b1: lru::LruCache<u64, ()>,
    b2: lru::LruCache<u64, ()>,
}

impl Arc {
    fn new(c: usize) -> Arc {
        Arc {
            c,
            p: 0.0,
            t1: lru::LruCache::unbounded(),
            t2: lru::LruCache::unbounded(),
            b1: lru::LruCache::unbounded(),
            b2: lru::LruCache::unbounded(),
        }
    }

    /// Serves one request; whether it hit.
    fn request(&mut self, x: u64) -> bool {
        if self.t1.pop(&x).is_some() || self.t2.pop(&x).is_some() {
            self.t2.put(x, ());
            return true;
        }
        if self.b1.pop(&x).is_some() {
            let delta = (self.b2.len() as f64 / (self.b1.len() + 1) as f64).max(1.0);
            self.p = (self.p + delta).min(self.c as f64);
            self.replace(false);
            self.t2.put(x, ());
            return false;
        }
        if self.b2.pop(&x).is_some() {
            let delta = (self.b1.len() as f64 / (self.b2.len() + 1) as f64).max(1.0);
            self.p = (self.p - delta).max(0.0);
            self.replace(true);
            self.t2.put(x, ());
            return false;
        }
        let l1 = self.t1.len() + self.b1.len();
        let total = l1 + self.t2.len() + self.b2.len();
        if l1 == self.c {
            if self.t1.len() < self.c {
                self.b1.pop_lru();
                self.replace(false);
            } else {
                self.t1.pop_lru();
            }
        } else if total >= self.c {
            if total == 2 * self.c {
                self.b2.pop_lru();
            }
            self.replace(false);
        }
        self.t1.put(x, ());
        false
    }

    /// Makes room: the LRU page of `t1` goes to `b1` if `t1` is over its
    /// target (or at it, for a request found in `b2`), else `t2`'s to `b2`.
    fn replace(&mut self, in_b2: bool) {
        let t1 = self.t1.len() as f64;
        if t1 > 0.0 && (t1 > self.p || (in_b2 && t1 == self.p)) {
            if let Some((k, ())) = self.t1.pop_lru() {
                self.b1.put(k, ());
            }
        } else if let Some((k, ())) = self.t2.pop_lru() {
            self.b2.put(k, ());
        } else if let Some((k, ())) = self.t1.pop_lru() {
            self.b1.put(k, ());
        }
    }
}

/// Hit ratio of `cache` replaying `trace`: get, and insert on a miss.
pub fn replay(cache: &dyn crate::CacheAdapter, trace: &[u64]) -> f64 {
    replay_with(cache, trace, 1, |i| trace[i])
}

/// Replays `trace` from `threads` threads at once against one cache, as a
/// concurrent server would see it: thread `t` takes requests `t`, `t +
/// threads`, … in order, so the global order is kept up to scheduling. The
/// hit ratio may drop with threads (concurrent misses on one key, eviction
/// decisions made with less history); comparing it with [`replay`] shows by
/// how much.
///
/// ```
/// use clockwise_bench::{adapters, trace};
/// let keys: Vec<u64> = (0..10_000).map(|i| i % 100).collect();
/// let cache = adapters::build("clockwise", 200).unwrap();
/// let ratio = trace::replay_concurrent(cache.as_ref(), &keys, 2);
/// assert!(ratio > 0.95);
/// ```
pub fn replay_concurrent(cache: &dyn crate::CacheAdapter, trace: &[u64], threads: usize) -> f64 {
    replay_with(cache, trace, threads, |i| trace[i])
}

/// [`replay_concurrent`] against a weighted adapter
/// ([`EngineOptions::weighted`](crate::adapters::EngineOptions)): a miss
/// inserts the request's size as the value, which such an adapter takes
/// as the entry's weight.
///
/// ```
/// use clockwise_bench::adapters::{build_with, EngineOptions};
/// use clockwise_bench::trace::replay_weighted;
/// let options = EngineOptions { weighted: true, ..EngineOptions::new(100) };
/// // Two objects of 60 never fit together in 100: every request misses.
/// let cache = build_with("clockwise", &options).unwrap();
/// assert_eq!(replay_weighted(cache.as_ref(), &[1, 2, 1, 2], &[60; 4], 1), 0.0);
/// ```
pub fn replay_weighted(
    cache: &dyn crate::CacheAdapter,
    trace: &[u64],
    sizes: &[u32],
    threads: usize,
) -> f64 {
    replay_with(cache, trace, threads, |i| {
        u64::from(sizes.get(i).copied().unwrap_or(1))
    })
}

fn replay_with(
    cache: &dyn crate::CacheAdapter,
    trace: &[u64],
    threads: usize,
    value: impl Fn(usize) -> u64 + Sync,
) -> f64 {
    if trace.is_empty() {
        return 0.0;
    }
    let threads = threads.max(1);
    let share = |t: usize| {
        trace
            .iter()
            .enumerate()
            .skip(t)
            .step_by(threads)
            .filter(|&(i, &k)| {
                let hit = cache.get(k).is_some();
                if !hit {
                    cache.insert(k, value(i));
                }
                hit
            })
            .count()
    };
    let hits: usize = if threads == 1 {
        share(0)
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|t| s.spawn(move || share(t))).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("replay thread panicked"))
                .sum()
        })
    };
    hits as f64 / trace.len() as f64
}
