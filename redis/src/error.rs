//! The crate's one error type.

use std::fmt;
use std::sync::Arc;

/// Why an operation, or the link that carries invalidations, failed.
///
/// Cloneable (a load's error is shared by every caller that waited for it).
///
/// ```
/// use clockwise_redis::{Error, RedisConfig};
/// let err = RedisConfig::new("not a url").validate().unwrap_err();
/// assert!(matches!(err, Error::Config(_)));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A setting is not usable (a URL that does not parse, a zero timeout).
    Config(String),
    /// Redis did not answer within the command timeout.
    Timeout,
    /// No connection to Redis: refused, reset, or closed.
    Connection(Arc<redis::RedisError>),
    /// Redis answered with an error, or with a reply of the wrong type.
    Redis(Arc<redis::RedisError>),
    /// An invalidation message that is not in the documented format.
    Decode(DecodeError),
    /// The cache's loader panicked, or a wait for another caller's load
    /// timed out ([`load_wait_timeout`](clockwise::CacheBuilder::load_wait_timeout)).
    Load(String),
}

impl Error {
    /// Sorts a client error into timeout, connection and the rest.
    pub(crate) fn from_redis(e: redis::RedisError) -> Error {
        if e.is_timeout() {
            Error::Timeout
        } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            Error::Connection(Arc::new(e))
        } else {
            Error::Redis(Arc::new(e))
        }
    }

    /// Whether the connection that saw this error must be dropped: its
    /// state (a reply still to come, tracking) is unknown.
    pub(crate) fn breaks_connection(&self) -> bool {
        matches!(self, Error::Timeout | Error::Connection(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(why) => write!(f, "invalid configuration: {why}"),
            Error::Timeout => f.write_str("Redis did not answer within the command timeout"),
            Error::Connection(e) => write!(f, "no connection to Redis: {e}"),
            Error::Redis(e) => write!(f, "Redis error: {e}"),
            Error::Decode(e) => write!(f, "malformed invalidation message: {e}"),
            Error::Load(why) => write!(f, "load failed: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connection(e) | Error::Redis(e) => Some(&**e),
            Error::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Error {
        Error::Decode(e)
    }
}

/// What is wrong with a bus message or an encoded key.
///
/// ```
/// use clockwise_redis::{BusKey, DecodeError};
/// assert!(matches!(u64::decode(&[1, 2]), Err(DecodeError::Length { .. })));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message does not start with the format's magic bytes.
    Magic,
    /// The message ends before its header or one of its keys does, or has
    /// bytes after its last key.
    Truncated,
    /// A key has the wrong number of bytes for its type.
    Length {
        /// The bytes the type needs.
        expected: usize,
        /// The bytes the message has.
        found: usize,
    },
    /// A key's bytes are not valid for its type (a `String` that is not UTF-8).
    Invalid(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Magic => f.write_str("not a clockwise invalidation message"),
            DecodeError::Truncated => f.write_str("message truncated or with trailing bytes"),
            DecodeError::Length { expected, found } => {
                write!(f, "key of {found} bytes where {expected} are expected")
            }
            DecodeError::Invalid(why) => write!(f, "invalid key: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}
