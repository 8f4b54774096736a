//! Model-based: random sequences of reads and writes through two near
//! caches and a plain client of the same Redis, against a map. A cache
//! reads its own writes at once; every change reaches both caches (they
//! are polled until they agree, or the case fails); and once they agree,
//! every read agrees with the map.

mod support;

use clockwise::Cache;
use clockwise_redis::{NearCache, RedisConfig, TrackingMode};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Clone, Debug)]
enum Op {
    Set(usize, u8, i64),
    Del(usize, u8),
    Get(usize, u8),
    RawSet(u8, i64),
    RawDel(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..4;
    prop_oneof![
        (0usize..2, key.clone(), any::<i64>()).prop_map(|(c, k, v)| Op::Set(c, k, v)),
        (0usize..2, key.clone()).prop_map(|(c, k)| Op::Del(c, k)),
        (0usize..2, key.clone()).prop_map(|(c, k)| Op::Get(c, k)),
        (key.clone(), any::<i64>()).prop_map(|(k, v)| Op::RawSet(k, v)),
        key.prop_map(Op::RawDel),
    ]
}

fn server() -> Option<&'static support::Server> {
    static SERVER: OnceLock<Option<support::Server>> = OnceLock::new();
    SERVER.get_or_init(support::server).as_ref()
}

fn name(k: u8) -> String {
    format!("m{k}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn two_near_caches_agree_with_a_map(ops in proptest::collection::vec(op(), 1..30)) {
        let Some(server) = server() else {
            return Ok(());
        };
        let mut raw = server.raw();
        redis::cmd("FLUSHALL").exec(&mut raw).unwrap();
        let caches: Vec<NearCache<i64>> = (0..2)
            .map(|_| {
                let c = NearCache::connect(
                    RedisConfig::new(server.url()),
                    Cache::builder().max_capacity(100).build(),
                    TrackingMode::Reads,
                )
                .unwrap();
                c.wait_linked(Duration::from_secs(5)).unwrap();
                c
            })
            .collect();
        let mut model: HashMap<u8, i64> = HashMap::new();
        for op in ops {
            let changed = match op {
                Op::Set(c, k, v) => {
                    caches[c].set(&name(k), v).unwrap();
                    model.insert(k, v);
                    prop_assert_eq!(caches[c].get(&name(k)).unwrap(), Some(v), "read your write");
                    Some(k)
                }
                Op::Del(c, k) => {
                    caches[c].del(&name(k)).unwrap();
                    model.remove(&k);
                    prop_assert_eq!(caches[c].get(&name(k)).unwrap(), None, "read your delete");
                    Some(k)
                }
                Op::Get(c, k) => {
                    prop_assert_eq!(caches[c].get(&name(k)).unwrap(), model.get(&k).copied());
                    None
                }
                Op::RawSet(k, v) => {
                    redis::cmd("SET").arg(name(k)).arg(v).exec(&mut raw).unwrap();
                    model.insert(k, v);
                    Some(k)
                }
                Op::RawDel(k) => {
                    redis::cmd("DEL").arg(name(k)).exec(&mut raw).unwrap();
                    model.remove(&k);
                    Some(k)
                }
            };
            if let Some(k) = changed {
                let want = model.get(&k).copied();
                for c in &caches {
                    prop_assert!(
                        support::eventually(Duration::from_secs(2), || c.get(&name(k)).unwrap() == want),
                        "a cache never saw {} become {:?}", name(k), want
                    );
                }
            }
        }
    }
}
