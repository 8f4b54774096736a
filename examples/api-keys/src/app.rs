//! The HTTP service: who an API key belongs to, and the admin endpoints
//! that create and revoke keys.

use crate::db::{Db, Identity};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use clockwise::{Cache, Expiry, LoadError};
use clockwise_redis::{Bus, Coherent, RedisConfig};
use clockwise_stats::Registry;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How the service caches, and where its Redis is.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The Redis carrying invalidations; `None` runs without a cache.
    pub redis: Option<String>,
    /// Cache resolved keys (off: every request reads SQLite).
    pub cache: bool,
    /// Entries the cache holds.
    pub capacity: u64,
    /// How long a resolved identity may be served without a reload.
    pub ttl: Duration,
    /// How long an unknown or revoked key is remembered as such.
    pub negative_ttl: Duration,
    /// Age after which a hit starts a reload in the background.
    pub refresh_after: Duration,
    /// The token the admin endpoints require in `X-Admin-Token`.
    pub admin_token: String,
    /// This instance's name in metrics.
    pub name: String,
}

/// Identities live `ttl`, unknown keys `negative_ttl`.
struct Lifetimes {
    ttl: Duration,
    negative: Duration,
}

impl Expiry<String, Option<Identity>> for Lifetimes {
    fn expire_after_create(
        &self,
        _: &String,
        value: &Option<Identity>,
        _: clockwise_stats::Instant,
    ) -> Option<Duration> {
        Some(if value.is_some() {
            self.ttl
        } else {
            self.negative
        })
    }

    fn expire_after_update(
        &self,
        key: &String,
        value: &Option<Identity>,
        at: clockwise_stats::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, value, at)
    }
}

struct Keys {
    bus: Bus,
    cache: Coherent<String, Option<Identity>>,
}

/// The service's state.
pub struct App {
    db: Arc<Db>,
    keys: Option<Keys>,
    registry: Registry,
    admin_token: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("cached", &self.keys.is_some())
            .finish_non_exhaustive()
    }
}

impl App {
    /// The service over `db`. Must run inside a tokio runtime (reloads go
    /// to its blocking pool).
    pub fn new(db: Arc<Db>, settings: &Settings) -> Result<App, clockwise_redis::Error> {
        let registry = Registry::new();
        let keys = match (&settings.redis, settings.cache) {
            (Some(url), true) => {
                let bus = Bus::connect(
                    RedisConfig::new(url.as_str())
                        .name(settings.name.as_str())
                        .registry(&registry)
                        .on_error(|e| eprintln!("invalidation link: {e}")),
                    "api-keys:invalidate",
                )?;
                let reload_db = Arc::clone(&db);
                let runtime = tokio::runtime::Handle::current();
                let cache = Cache::builder()
                    .max_capacity(settings.capacity)
                    .name(settings.name.as_str())
                    .registry(&registry)
                    .expire_after(Lifetimes {
                        ttl: settings.ttl,
                        negative: settings.negative_ttl,
                    })
                    .refresh_after(settings.refresh_after)
                    .reloader(move |key: &String| reload_db.resolve(key).ok())
                    .refresh_executor(move |task| {
                        runtime.spawn_blocking(task);
                    })
                    .load_wait_timeout(Duration::from_secs(2))
                    .try_build()
                    .map_err(|e| clockwise_redis::Error::Config(e.to_string()))?;
                let cache = bus.guard(cache)?;
                Some(Keys { bus, cache })
            }
            (None, true) => {
                return Err(clockwise_redis::Error::Config(
                    "a cache needs a Redis to carry its invalidations".into(),
                ))
            }
            (_, false) => None,
        };
        Ok(App {
            db,
            keys,
            registry,
            admin_token: settings.admin_token.clone(),
        })
    }

    /// Whether the invalidation link is up (always false without a cache).
    pub fn linked(&self) -> bool {
        self.keys.as_ref().is_some_and(|k| k.bus.is_linked())
    }

    async fn resolve(self: &Arc<Self>, key: String) -> Result<Option<Identity>, String> {
        let Some(keys) = &self.keys else {
            let db = Arc::clone(&self.db);
            return tokio::task::spawn_blocking(move || db.resolve(&key))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string());
        };
        let loaded = if keys.cache.cache().contains_key(key.as_str()) {
            // Present: a hit, or a stale one whose reload goes to the
            // blocking pool; neither blocks this task.
            let db = Arc::clone(&self.db);
            let k = key.clone();
            keys.cache.try_get_with(key, move || db.resolve(&k))
        } else {
            // A miss reads SQLite, or waits for another request's read.
            let (db, cache) = (Arc::clone(&self.db), keys.cache.clone());
            tokio::task::spawn_blocking(move || {
                let k = key.clone();
                cache.try_get_with(key, move || db.resolve(&k))
            })
            .await
            .map_err(|e| e.to_string())?
        };
        loaded.map_err(|e| match e {
            LoadError::Failed(e) => e.to_string(),
            other => other.to_string(),
        })
    }

    /// Publishes `key` after a commit that changed it; whether the other
    /// instances were told.
    async fn publish(self: &Arc<Self>, key: String) -> bool {
        let Some(_) = &self.keys else {
            return true;
        };
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let keys = app.keys.as_ref().expect("checked above");
            match keys.bus.publish(&[key]) {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("publishing an invalidation failed: {e}");
                    false
                }
            }
        })
        .await
        .unwrap_or(false)
    }

    fn admin(&self, headers: &HeaderMap) -> Result<(), Response> {
        let given = headers.get("x-admin-token").and_then(|v| v.to_str().ok());
        if given == Some(self.admin_token.as_str()) {
            Ok(())
        } else {
            Err(error(StatusCode::FORBIDDEN, "admin token missing or wrong"))
        }
    }
}

fn error(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

/// The routes: `GET /whoami`, `POST /admin/accounts`, `POST /admin/keys`,
/// `DELETE /admin/keys/{key}`, `GET /metrics`, `GET /healthz`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/admin/accounts", post(create_account))
        .route("/admin/keys", post(create_key))
        .route("/admin/keys/{key}", delete(revoke_key))
        .route("/metrics", get(metrics))
        .route("/healthz", get(health))
        .with_state(app)
}

async fn whoami(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(key) = key.filter(|k| !k.is_empty() && k.len() <= 128) else {
        return error(StatusCode::UNAUTHORIZED, "missing API key");
    };
    match app.resolve(key.to_owned()).await {
        Ok(Some(id)) => Json(id).into_response(),
        Ok(None) => error(StatusCode::UNAUTHORIZED, "unknown or revoked API key"),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

#[derive(serde::Deserialize)]
struct NewAccount {
    name: String,
}

async fn create_account(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Json(body): Json<NewAccount>,
) -> Response {
    if let Err(r) = app.admin(&headers) {
        return r;
    }
    let db = Arc::clone(&app.db);
    match tokio::task::spawn_blocking(move || db.create_account(&body.name)).await {
        Ok(Ok(id)) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct NewKey {
    account: i64,
}

async fn create_key(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Json(body): Json<NewKey>,
) -> Response {
    if let Err(r) = app.admin(&headers) {
        return r;
    }
    let db = Arc::clone(&app.db);
    match tokio::task::spawn_blocking(move || db.create_key(body.account)).await {
        Ok(Ok(Some(key))) => {
            // Another instance may remember this key as unknown.
            let told = app.publish(key.clone()).await;
            (
                StatusCode::CREATED,
                Json(json!({ "key": key, "invalidated": told })),
            )
                .into_response()
        }
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, "no such account"),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn revoke_key(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    if let Err(r) = app.admin(&headers) {
        return r;
    }
    let db = Arc::clone(&app.db);
    let k = key.clone();
    match tokio::task::spawn_blocking(move || db.revoke(&k)).await {
        Ok(Ok(true)) => {
            let told = app.publish(key).await;
            (
                StatusCode::OK,
                Json(json!({ "revoked": true, "invalidated": told })),
            )
                .into_response()
        }
        Ok(Ok(false)) => error(StatusCode::NOT_FOUND, "no such live key"),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = clockwise_stats::export::prometheus::render(&app.registry.gather());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Whether the service caches, and whether its invalidation link is up
/// (while it is down the service answers from SQLite alone).
async fn health(State(app): State<Arc<App>>) -> Response {
    Json(json!({ "cache": app.keys.is_some(), "linked": app.linked() })).into_response()
}
