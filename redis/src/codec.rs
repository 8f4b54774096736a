//! How keys travel on the invalidation bus: one documented byte format.
//!
//! A bus message is one pub/sub payload:
//!
//! ```text
//! "cw1"                      3 bytes, the format's magic and version
//! publisher                  u64, big-endian: the sending bus's random id
//! sent_at                    u64, big-endian: Unix time in nanoseconds,
//!                            taken just before the PUBLISH
//! count                      u32, big-endian: how many keys follow
//! count times:
//!   len                      u32, big-endian
//!   key                      len bytes, the key as its BusKey encodes it
//! ```
//!
//! Nothing may follow the last key. A receiver that cannot decode a message
//! counts it (`malformed`) and reports [`DecodeError`]; it removes nothing
//! for it, and the cache keeps serving.

use crate::DecodeError;

const MAGIC: &[u8; 3] = b"cw1";
const HEADER: usize = 3 + 8 + 8 + 4;

/// A key type that can travel on the bus. Implemented for `String`,
/// `Vec<u8>` and the fixed-size integers (big-endian).
///
/// ```
/// use clockwise_redis::BusKey;
/// let mut out = Vec::new();
/// "user:7".to_owned().encode(&mut out);
/// assert_eq!(String::decode(&out).unwrap(), "user:7");
/// ```
pub trait BusKey: Sized {
    /// Appends the key's bytes.
    fn encode(&self, out: &mut Vec<u8>);
    /// The key back from exactly the bytes `encode` wrote.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;
}

impl BusKey for String {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid("not UTF-8"))
    }
}

impl BusKey for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(bytes.to_vec())
    }
}

macro_rules! int_keys {
    ($($t:ty),*) => {$(
        impl BusKey for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
                let arr = bytes.try_into().map_err(|_| DecodeError::Length {
                    expected: size_of::<$t>(),
                    found: bytes.len(),
                })?;
                Ok(<$t>::from_be_bytes(arr))
            }
        }
    )*};
}
int_keys!(u16, u32, u64, u128, i16, i32, i64, i128);

/// The time a message is stamped with: Unix time in nanoseconds.
pub(crate) fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A sender's id, random per sender: a receiver skips its own echo by it.
pub(crate) fn random_id() -> u64 {
    ahash::RandomState::new().hash_one(std::thread::current().id()) | 1
}

/// A decoded message: who sent it, when, and its keys' bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    pub(crate) publisher: u64,
    pub(crate) sent_at_nanos: u64,
    pub(crate) keys: Vec<&'a [u8]>,
}

/// Builds a message of `keys`.
pub(crate) fn encode<K: BusKey>(publisher: u64, sent_at_nanos: u64, keys: &[K]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + keys.len() * 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&publisher.to_be_bytes());
    out.extend_from_slice(&sent_at_nanos.to_be_bytes());
    out.extend_from_slice(&(keys.len() as u32).to_be_bytes());
    let mut key = Vec::new();
    for k in keys {
        key.clear();
        k.encode(&mut key);
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(&key);
    }
    out
}

/// Reads a message; every byte must belong to it.
pub(crate) fn decode(bytes: &[u8]) -> Result<Message<'_>, DecodeError> {
    if bytes.len() < MAGIC.len() || &bytes[..3] != MAGIC {
        return Err(DecodeError::Magic);
    }
    let mut rest = &bytes[3..];
    let publisher = u64::from_be_bytes(take(&mut rest, 8)?.try_into().expect("8 bytes"));
    let sent_at_nanos = u64::from_be_bytes(take(&mut rest, 8)?.try_into().expect("8 bytes"));
    let count = u32::from_be_bytes(take(&mut rest, 4)?.try_into().expect("4 bytes"));
    // Each key needs at least its 4-byte length: a count the payload cannot
    // hold is refused before anything is allocated for it.
    if count as usize > rest.len() / 4 {
        return Err(DecodeError::Truncated);
    }
    let mut keys = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = u32::from_be_bytes(take(&mut rest, 4)?.try_into().expect("4 bytes"));
        keys.push(take(&mut rest, len as usize)?);
    }
    if !rest.is_empty() {
        return Err(DecodeError::Truncated);
    }
    Ok(Message {
        publisher,
        sent_at_nanos,
        keys,
    })
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if rest.len() < n {
        return Err(DecodeError::Truncated);
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_decodes_to_what_was_encoded() {
        let keys = vec!["a".to_owned(), String::new(), "ключ".to_owned()];
        let bytes = encode(7, 99, &keys);
        let msg = decode(&bytes).unwrap();
        assert_eq!(msg.publisher, 7);
        assert_eq!(msg.sent_at_nanos, 99);
        let back: Vec<String> = msg
            .keys
            .iter()
            .map(|k| String::decode(k).unwrap())
            .collect();
        assert_eq!(back, keys);
    }

    #[test]
    fn integers_are_big_endian_and_sized() {
        let mut out = Vec::new();
        0x0102u16.encode(&mut out);
        assert_eq!(out, [1, 2]);
        assert_eq!(u16::decode(&out), Ok(0x0102));
        assert_eq!(
            u32::decode(&out),
            Err(DecodeError::Length {
                expected: 4,
                found: 2
            })
        );
        assert_eq!(i64::decode(&(-5i64).to_be_bytes()), Ok(-5));
    }

    #[test]
    fn every_malformed_shape_is_refused() {
        let good = encode(1, 2, &["key".to_owned()]);
        assert_eq!(decode(b"xx"), Err(DecodeError::Magic));
        assert_eq!(decode(b"cw2........"), Err(DecodeError::Magic));
        // Every strict prefix of a good message is truncated.
        for n in 3..good.len() {
            assert_eq!(
                decode(&good[..n]),
                Err(DecodeError::Truncated),
                "prefix {n}"
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(DecodeError::Truncated));
        // A count far beyond the payload allocates nothing and fails.
        let mut huge = good[..HEADER].to_vec();
        huge[19..23].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode(&huge), Err(DecodeError::Truncated));
        assert_eq!(
            String::decode(&[0xff, 0xfe]),
            Err(DecodeError::Invalid("not UTF-8"))
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any keys survive the trip, with the header intact.
        #[test]
        fn any_keys_round_trip(
            publisher: u64,
            sent: u64,
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20),
        ) {
            let bytes = encode(publisher, sent, &keys);
            let msg = decode(&bytes).unwrap();
            prop_assert_eq!(msg.publisher, publisher);
            prop_assert_eq!(msg.sent_at_nanos, sent);
            let back: Vec<Vec<u8>> = msg.keys.iter().map(|k| k.to_vec()).collect();
            prop_assert_eq!(back, keys);
        }

        /// Arbitrary bytes decode or are refused; never a panic, and what
        /// decodes encodes back to the same bytes.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), magic: bool) {
            let mut bytes = bytes;
            if magic && bytes.len() >= 3 {
                bytes[..3].copy_from_slice(MAGIC);
            }
            if let Ok(msg) = decode(&bytes) {
                let keys: Vec<Vec<u8>> = msg.keys.iter().map(|k| k.to_vec()).collect();
                prop_assert_eq!(encode(msg.publisher, msg.sent_at_nanos, &keys), bytes);
            }
        }

        #[test]
        fn integer_and_string_keys_round_trip(a: u64, b: i32, s in ".*") {
            let mut out = Vec::new();
            a.encode(&mut out);
            prop_assert_eq!(u64::decode(&out), Ok(a));
            out.clear();
            b.encode(&mut out);
            prop_assert_eq!(i32::decode(&out), Ok(b));
            out.clear();
            s.encode(&mut out);
            prop_assert_eq!(String::decode(&out), Ok(s));
        }
    }
}
