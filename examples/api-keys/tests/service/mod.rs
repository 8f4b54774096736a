//! The service binary as a child process on a free loopback port, killed
//! when dropped; shared by the multi-process tests and the HTTP bench.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const ADMIN: &str = "test-admin-token";

/// A running instance: its process and its base URL.
pub struct Process {
    child: Child,
    pub base: String,
}

impl Process {
    /// Starts `api-keys` on `db` and `redis`, with or without its cache,
    /// and waits for the address it listens on.
    pub fn start(name: &str, db: &Path, redis: &str, cache: bool) -> Process {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_api-keys"));
        cmd.args(["--listen", "127.0.0.1:0", "--name", name, "--redis", redis])
            .arg("--db")
            .arg(db)
            .args(["--admin-token", ADMIN])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if !cache {
            cmd.arg("--no-cache");
        }
        let mut child = cmd.spawn().expect("start the service");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Process {
            child,
            base: format!("http://{addr}"),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
