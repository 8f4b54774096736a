//! The source of truth: accounts and their API keys in SQLite, shared by
//! every instance of the service (WAL mode, so readers never wait for the
//! writer).

use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Who an API key belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The account's id.
    pub account: i64,
    /// The account's name.
    pub name: String,
}

/// A few connections to one database file, taken in turn.
pub struct Db {
    conns: Box<[Mutex<Connection>]>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path` with `n`
    /// connections.
    pub fn open(path: &Path, n: usize) -> rusqlite::Result<Db> {
        let conns = (0..n.max(1))
            .map(|_| {
                let c = Connection::open(path)?;
                // Two processes write this file: wait for the other's
                // transaction instead of failing with SQLITE_BUSY.
                c.busy_timeout(Duration::from_secs(5))?;
                c.pragma_update(None, "journal_mode", "WAL")?;
                c.pragma_update(None, "synchronous", "NORMAL")?;
                Ok(Mutex::new(c))
            })
            .collect::<rusqlite::Result<Box<[_]>>>()?;
        conns[0]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS accounts (
                     id INTEGER PRIMARY KEY,
                     name TEXT NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS api_keys (
                     key TEXT PRIMARY KEY,
                     account INTEGER NOT NULL REFERENCES accounts(id),
                     revoked INTEGER NOT NULL DEFAULT 0
                 );",
            )?;
        Ok(Db {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> rusqlite::Result<R> {
        // Relaxed: only spreads the work.
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        let conn = self.conns[i].lock().unwrap_or_else(PoisonError::into_inner);
        f(&conn)
    }

    /// A new account; its id.
    pub fn create_account(&self, name: &str) -> rusqlite::Result<i64> {
        self.with(|c| {
            c.execute("INSERT INTO accounts (name) VALUES (?1)", params![name])?;
            Ok(c.last_insert_rowid())
        })
    }

    /// A new key for `account`, committed; `None` if there is no such
    /// account.
    pub fn create_key(&self, account: i64) -> rusqlite::Result<Option<String>> {
        let key: String = {
            let mut rng = rand::thread_rng();
            (0..32)
                .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
                .collect()
        };
        self.with(|c| {
            let exists: Option<i64> = c
                .query_row(
                    "SELECT id FROM accounts WHERE id = ?1",
                    params![account],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                return Ok(None);
            }
            c.execute(
                "INSERT INTO api_keys (key, account) VALUES (?1, ?2)",
                params![key, account],
            )?;
            Ok(Some(key))
        })
    }

    /// Revokes `key`, committed; whether it was live.
    pub fn revoke(&self, key: &str) -> rusqlite::Result<bool> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE api_keys SET revoked = 1 WHERE key = ?1 AND revoked = 0",
                params![key],
            )?;
            Ok(n == 1)
        })
    }

    /// Who `key` belongs to, if it exists and is not revoked.
    pub fn resolve(&self, key: &str) -> rusqlite::Result<Option<Identity>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT a.id, a.name FROM api_keys k JOIN accounts a ON a.id = k.account
                 WHERE k.key = ?1 AND k.revoked = 0",
            )?
            .query_row(params![key], |r| {
                Ok(Identity {
                    account: r.get(0)?,
                    name: r.get(1)?,
                })
            })
            .optional()
        })
    }
}
