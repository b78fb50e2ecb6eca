//! Bad input: property and fuzz tests over every parser and form. Bounded for CI (each group
//! runs a fixed number of cases; `PROPTEST_CASES` raises it for a soak), and each group reports
//! what it tried to the resilience report.

mod callback;
mod config;
mod domain;
mod forms;
mod headers;
mod tokens;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Cases per property: `default` in CI, `PROPTEST_CASES` when set (for a soak).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A runner for a pure property: random seed, shrinking, nothing persisted.
pub fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// `n` values drawn from `strategy` with a fixed seed, for properties checked over HTTP (async,
/// so they cannot run inside proptest's synchronous runner). The same run in CI every time.
pub fn sample<S: Strategy>(strategy: S, n: u32, seed: u64) -> Vec<S::Value> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("generating a case")
                .current()
        })
        .collect()
}

/// Hostile text: unicode, controls, markup, injection shapes, percent garbage, huge.
pub fn hostile_text() -> impl Strategy<Value = String> + Clone {
    use proptest::prelude::*;
    prop_oneof![
        Just(String::new()),
        Just(" ".into()),
        "\\PC{0,40}",
        ".{0,40}",
        any::<String>(),
        "[\\x00-\\x1f\\x7f]{1,8}",
        "%[0-9A-Fa-fzZ%]{0,6}",
        Just("\u{0}".into()),
        Just("a\u{0}b".into()),
        Just("\u{feff}x\u{202e}y".into()),
        Just("<script>alert(1)</script>".into()),
        Just("' OR 1=1 --".into()),
        Just("*)(cn=*".into()),
        Just("../../etc/passwd".into()),
        Just("\u{1F600}\u{1F600}\u{1F600}".into()),
        (1usize..70_000).prop_map(|n| "x".repeat(n)),
        (1usize..5_000).prop_map(|n| "ä".repeat(n)),
        Just("-1".into()),
        Just("99999999999999999999999".into()),
        Just("1.5e308".into()),
        Just("true".into()),
        Just("[]".into()),
        Just("{}".into()),
    ]
}
