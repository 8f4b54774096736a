#![no_main]
//! Arbitrary operation sequences against the cache and a `HashMap` model,
//! `validate()` after each (see `clockwise_fuzz::ops`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| clockwise_fuzz::ops(data));
