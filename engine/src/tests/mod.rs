//! Unit-level tests that need `validate()`, which exists only under
//! `cfg(any(test, fuzzing))`.

mod adapt;
mod behaviour;
mod capacity;
mod model;
mod policy;
mod reclaim;
mod stress;
mod window;

use crate::model_support::ByRef;
