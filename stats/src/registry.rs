//! A process's set of named metric sources, walked by every exporter.
//!
//! A source is anything that can produce a [`Snapshot`] on demand: a cache,
//! a [`CounterSet`](crate::CounterSet) of the application, a closure. The
//! registry holds sources weakly, so registering never keeps a cache alive,
//! and a [`Registration`] removes its source when dropped.
//!
//! Locking: one mutex guards the list of sources. It is held only to add,
//! remove or copy out the list, never while a source takes its snapshot, so
//! a slow exporter cannot delay a registration, and nothing here is ever on a
//! cache operation's path.

use crate::sync::{lock, Arc, Mutex, Weak};
use crate::{NameError, Schema, Snapshot};
use std::fmt;

/// Something that can report its metrics now. Implemented for closures.
///
/// ```
/// use clockwise_stats::{Registry, Snapshot, Source};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let source: Arc<dyn Source> = Arc::new(|| {
///     let mut s = Snapshot::new(Duration::ZERO);
///     s.set_counter("jobs", 3);
///     s
/// });
/// let registry = Registry::new();
/// let _registration = registry.register_source("app", "worker", &source).unwrap();
/// assert_eq!(registry.gather()[0].snapshot.counter("jobs"), 3);
/// ```
pub trait Source: Send + Sync {
    /// Every metric of this source, merged now.
    fn snapshot(&self) -> Snapshot;

    /// How exporters name and describe this source's metrics; none by
    /// default (generic names).
    fn schema(&self) -> &'static Schema {
        &Schema::NONE
    }
}

impl<F: Fn() -> Snapshot + Send + Sync> Source for F {
    fn snapshot(&self) -> Snapshot {
        self()
    }
}

/// Why a source could not be registered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The subsystem is not a valid metric name part.
    Subsystem(NameError),
    /// The source name is empty, longer than [`MAX_NAME_LEN`] bytes, or has a
    /// control character.
    InvalidName(String),
    /// A live source of the same subsystem already has this name.
    Duplicate {
        /// The subsystem, such as `cache`.
        subsystem: String,
        /// The name in use.
        name: String,
    },
}

/// The longest source name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 128;

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Subsystem(e) => write!(f, "invalid subsystem: {e}"),
            RegistryError::InvalidName(name) => write!(
                f,
                "source name {name:?} must be 1 to {MAX_NAME_LEN} bytes without control characters"
            ),
            RegistryError::Duplicate { subsystem, name } => {
                write!(f, "a {subsystem} named {name:?} is already registered")
            }
        }
    }
}

impl std::error::Error for RegistryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegistryError::Subsystem(e) => Some(e),
            _ => None,
        }
    }
}

/// Checks a source name: 1 to [`MAX_NAME_LEN`] bytes, no control characters.
/// Any other character is allowed; exporters escape it.
pub fn validate_source_name(name: &str) -> Result<(), RegistryError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(RegistryError::InvalidName(name.to_owned()));
    }
    Ok(())
}

struct Entry {
    id: u64,
    subsystem: String,
    name: String,
    source: Weak<dyn Source>,
}

#[derive(Default)]
struct List {
    next_id: u64,
    entries: Vec<Entry>,
}

/// Named metric sources, rendered together by the exporters
/// ([`prometheus`](crate::export::prometheus),
/// [`statsd`](crate::export::statsd), [`json`](crate::export::json)).
///
/// Cheap to clone: clones share the same list. Most programs use
/// [`Registry::global`]; tests build their own.
///
/// ```
/// use clockwise_stats::{CounterSet, Registry, Snapshot};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let counters = Arc::new(CounterSet::new(["requests"]).unwrap());
/// counters.add(0, 2);
/// let registry = Registry::new();
/// let c = Arc::clone(&counters);
/// let _reg = registry
///     .register("app", "api", move || {
///         let mut s = Snapshot::new(Duration::ZERO);
///         c.snapshot_into("", &mut s);
///         s
///     })
///     .unwrap();
/// let text = clockwise_stats::export::prometheus::render(&registry.gather());
/// assert!(text.contains("clockwise_app_requests_total{source=\"api\"} 2"));
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    list: Arc<Mutex<List>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = lock(&self.list);
        f.debug_struct("Registry")
            .field("sources", &list.entries.len())
            .finish()
    }
}

crate::sync::global! {
    static GLOBAL: Registry = Registry::new();
}

/// One source's metrics, taken by [`Registry::gather`].
#[derive(Clone, Debug, PartialEq)]
pub struct Gathered {
    /// The subsystem it registered under, such as `cache`.
    pub subsystem: String,
    /// Its name, such as the cache's name.
    pub name: String,
    /// Its metrics.
    pub snapshot: Snapshot,
    /// How to export them ([`Source::schema`]).
    pub schema: &'static Schema,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The process-wide registry.
    pub fn global() -> &'static Registry {
        &GLOBAL
    }

    /// Registers a closure (kept alive by the registration) as the source
    /// `name` of `subsystem`. See [`register_source`](Self::register_source).
    pub fn register(
        &self,
        subsystem: &str,
        name: &str,
        source: impl Source + 'static,
    ) -> Result<Registration, RegistryError> {
        let source: Arc<dyn Source> = Arc::new(source);
        let mut registration = self.register_source(subsystem, name, &source)?;
        registration.owned = Some(source);
        Ok(registration)
    }

    /// Registers `source`, held weakly, as `name` within `subsystem`.
    /// Exporters name its metrics `clockwise_<subsystem>_<metric>` and label
    /// them with the name (`cache="<name>"` for the `cache` subsystem,
    /// `source="<name>"` for any other). The source stays registered until
    /// the returned [`Registration`] is dropped or the source is freed.
    ///
    /// Fails if `subsystem` is not `[a-zA-Z_][a-zA-Z0-9_]*`, `name` fails
    /// [`validate_source_name`], or a live source has the same subsystem
    /// and name.
    pub fn register_source(
        &self,
        subsystem: &str,
        name: &str,
        source: &Arc<dyn Source>,
    ) -> Result<Registration, RegistryError> {
        crate::validate_name(subsystem).map_err(RegistryError::Subsystem)?;
        validate_source_name(name)?;
        let mut list = lock(&self.list);
        list.entries.retain(|e| e.source.strong_count() > 0);
        if list
            .entries
            .iter()
            .any(|e| e.subsystem == subsystem && e.name == name)
        {
            return Err(RegistryError::Duplicate {
                subsystem: subsystem.to_owned(),
                name: name.to_owned(),
            });
        }
        let id = list.next_id;
        list.next_id += 1;
        list.entries.push(Entry {
            id,
            subsystem: subsystem.to_owned(),
            name: name.to_owned(),
            source: Arc::downgrade(source),
        });
        Ok(Registration {
            list: Arc::downgrade(&self.list),
            id,
            owned: None,
        })
    }

    /// True if a live source of `subsystem` is registered as `name`.
    pub fn contains(&self, subsystem: &str, name: &str) -> bool {
        lock(&self.list)
            .entries
            .iter()
            .any(|e| e.subsystem == subsystem && e.name == name && e.source.strong_count() > 0)
    }

    /// Snapshots of every live source, ordered by subsystem then name. The
    /// list lock is released before any source is asked for its snapshot.
    pub fn gather(&self) -> Vec<Gathered> {
        let live: Vec<(String, String, Arc<dyn Source>)> = {
            let list = lock(&self.list);
            list.entries
                .iter()
                .filter_map(|e| {
                    let source = e.source.upgrade()?;
                    Some((e.subsystem.clone(), e.name.clone(), source))
                })
                .collect()
        };
        let mut out: Vec<Gathered> = live
            .into_iter()
            .map(|(subsystem, name, source)| Gathered {
                subsystem,
                name,
                snapshot: source.snapshot(),
                schema: source.schema(),
            })
            .collect();
        out.sort_by(|a, b| (&a.subsystem, &a.name).cmp(&(&b.subsystem, &b.name)));
        out
    }
}

/// Keeps a source registered; dropping it removes the source.
pub struct Registration {
    list: Weak<Mutex<List>>,
    id: u64,
    owned: Option<Arc<dyn Source>>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(list) = self.list.upgrade() {
            lock(&list).entries.retain(|e| e.id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn counting(n: u64) -> impl Source {
        move || {
            let mut s = Snapshot::new(Duration::ZERO);
            s.set_counter("n", n);
            s
        }
    }

    #[test]
    fn duplicate_names_are_refused_until_the_first_is_dropped() {
        let r = Registry::new();
        let first = r.register("cache", "users", counting(1)).unwrap();
        assert_eq!(
            r.register("cache", "users", counting(2)).unwrap_err(),
            RegistryError::Duplicate {
                subsystem: "cache".into(),
                name: "users".into()
            }
        );
        // Same name in another subsystem is fine.
        let _other = r.register("app", "users", counting(3)).unwrap();
        drop(first);
        assert!(!r.contains("cache", "users"));
        let _again = r.register("cache", "users", counting(4)).unwrap();
        let names: Vec<_> = r
            .gather()
            .into_iter()
            .map(|g| (g.subsystem, g.name, g.snapshot.counter("n")))
            .collect();
        assert_eq!(
            names,
            [
                ("app".into(), "users".into(), 3),
                ("cache".into(), "users".into(), 4)
            ]
        );
    }

    #[test]
    fn bad_names_get_typed_errors() {
        let r = Registry::new();
        assert!(matches!(
            r.register("my-cache", "x", counting(0)),
            Err(RegistryError::Subsystem(_))
        ));
        for bad in ["", "line\nbreak", "tab\t", &"x".repeat(MAX_NAME_LEN + 1)] {
            assert_eq!(
                r.register("cache", bad, counting(0)).unwrap_err(),
                RegistryError::InvalidName(bad.to_owned())
            );
        }
        // Quotes, backslashes and non-ASCII are fine: exporters escape them.
        r.register("cache", "a \"quoted\" \\ name é", counting(0))
            .unwrap();
    }

    #[test]
    fn weakly_held_sources_vanish_when_freed() {
        let r = Registry::new();
        let source: Arc<dyn Source> = Arc::new(counting(9));
        let reg = r.register_source("cache", "c", &source).unwrap();
        assert_eq!(r.gather().len(), 1);
        drop(source);
        assert!(r.gather().is_empty());
        assert!(!r.contains("cache", "c"));
        drop(reg);
    }
}
