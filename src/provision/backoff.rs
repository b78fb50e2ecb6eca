//! Exponential backoff with jitter between attempts of a step.

use std::time::Duration;

use rand::Rng;

/// The wait after the `failures`-th failed attempt (1-based): the exponential ceiling
/// `base·2^(failures−1)` capped at `max`, of which a random half is waited ("equal jitter"), so
/// workers retrying the same outage spread out yet never retry at once.
pub fn delay(base: Duration, max: Duration, failures: u32) -> Duration {
    let ceiling = ceiling(base, max, failures);
    let half = ceiling / 2;
    half + rand::rng().random_range(Duration::ZERO..=half)
}

fn ceiling(base: Duration, max: Duration, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(30);
    base.saturating_mul(1u32 << exponent).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(2);
    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn the_ceiling_doubles_per_failure_up_to_the_maximum() {
        let ceilings: Vec<u64> = (1..=7).map(|n| ceiling(BASE, MAX, n).as_secs()).collect();
        assert_eq!(ceilings, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(ceiling(BASE, MAX, 10_000), MAX);
    }

    #[test]
    fn every_delay_lies_between_half_the_ceiling_and_the_ceiling() {
        for failures in 1..=8 {
            let c = ceiling(BASE, MAX, failures);
            for _ in 0..200 {
                let d = delay(BASE, MAX, failures);
                assert!(
                    d >= c / 2 && d <= c,
                    "{failures}: {d:?} outside [{:?}, {c:?}]",
                    c / 2
                );
            }
        }
    }

    #[test]
    fn delays_are_jittered() {
        let samples: std::collections::HashSet<Duration> =
            (0..50).map(|_| delay(BASE, MAX, 5)).collect();
        assert!(samples.len() > 10, "only {} distinct delays", samples.len());
    }
}
