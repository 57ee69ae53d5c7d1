//! Exponential backoff with jitter: the one schedule by which the node
//! retries what failed, whether a link to a peer (the actor) or a join
//! (`node/join.rs`). It only computes waits; it never sleeps.

use std::time::Duration;

use rand::Rng;
use rand::rngs::OsRng;

/// The waits after failures in a row: each a random wait between half and
/// all of the current delay, which then doubles up to a maximum.
#[derive(Clone, Copy, Debug)]
pub(super) struct Backoff {
    delay: Duration,
    max: Duration,
}

impl Backoff {
    /// A backoff whose first wait is drawn from `min`, and whose delay
    /// never grows past `max` (nor stays below `min`).
    pub(super) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            delay: min,
            max: max.max(min),
        }
    }

    /// The wait after one more failure in a row.
    pub(super) fn next_wait(&mut self) -> Duration {
        // Jitter from the OS RNG, so that nodes cut off together do not
        // come back in lockstep.
        let wait = self.delay.mul_f64(OsRng.gen_range(0.5..=1.0));
        self.delay = self.delay.saturating_mul(2).min(self.max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_maximum_each_shortened_by_at_most_half() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(100), ms(500));
        for delay in [100, 200, 400, 500, 500] {
            let wait = backoff.next_wait();
            assert!(
                (ms(delay / 2)..=ms(delay)).contains(&wait),
                "{wait:?} for a delay of {delay} ms"
            );
        }
    }

    #[test]
    fn a_maximum_below_the_minimum_is_the_minimum() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(100), ms(10));
        for _ in 0..3 {
            assert!((ms(50)..=ms(100)).contains(&backoff.next_wait()));
        }
    }
}
