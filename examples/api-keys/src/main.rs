//! `api-keys`: resolves API keys to accounts, as a real server does, with
//! clockwise caching the answers and clockwise-redis keeping every
//! instance's cache coherent. See the README's "Across processes" section
//! for running two instances.

mod app;
mod db;

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// An API-key service: SQLite holds the keys, clockwise caches them, Redis
/// carries invalidations between instances.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on (port 0 picks a free one; the chosen address
    /// is printed as `listening on <addr>`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The SQLite database file, shared by every instance.
    #[arg(long, default_value = "api-keys.db")]
    db: PathBuf,
    /// The Redis that carries invalidations.
    #[arg(long, default_value = "redis://127.0.0.1:6379/")]
    redis: String,
    /// Read SQLite on every request (the baseline the cache is measured
    /// against).
    #[arg(long)]
    no_cache: bool,
    /// Entries the cache holds.
    #[arg(long, default_value_t = 100_000)]
    capacity: u64,
    /// Token the admin endpoints require in `X-Admin-Token`.
    #[arg(long, env = "API_KEYS_ADMIN_TOKEN")]
    admin_token: String,
    /// This instance's name in metrics.
    #[arg(long, default_value = "api-keys")]
    name: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let db = match db::Db::open(&args.db, 4) {
        Ok(db) => Arc::new(db),
        Err(e) => {
            eprintln!("cannot open {}: {e}", args.db.display());
            std::process::exit(2);
        }
    };
    let settings = app::Settings {
        redis: Some(args.redis.clone()),
        cache: !args.no_cache,
        capacity: args.capacity,
        ttl: Duration::from_secs(600),
        negative_ttl: Duration::from_secs(5),
        refresh_after: Duration::from_secs(30),
        admin_token: args.admin_token.clone(),
        name: args.name.clone(),
    };
    let app = match app::App::new(db, &settings) {
        Ok(app) => Arc::new(app),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", args.listen);
            std::process::exit(2);
        }
    };
    let addr = listener.local_addr().expect("a bound address");
    println!("listening on {addr}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app::router(app))
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}
