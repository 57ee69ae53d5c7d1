//! Settings of a Freenet-mode core.

use super::PeerId;

/// Settings of a Freenet-mode core. `Default` gives the values a real node
/// runs with; scenarios set the paper's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// This node's own id, as it appears in `DataFound` source fields.
    pub me: PeerId,
    /// Highest hops to live; higher incoming values are lowered to it.
    pub max_htl: u8,
    /// Probability that a link decrements a request arriving at `max_htl`
    /// (decided once per link).
    pub decrement_at_max: f64,
    /// Probability that a link decrements a request arriving at HTL 1
    /// (decided once per link).
    pub decrement_at_one: f64,
    /// Whether a client's requests and inserts start with a stem, the
    /// anonymity phase (`docs/protocol.md` §10.1): a random walk that
    /// neither caches nor learns, before steepest ascent from its exit.
    /// Off, the node routes its clients' requests itself, as in Clarke et
    /// al. 2001.
    pub stem: bool,
    /// Probability that a node on a stem passes it on rather than ending
    /// it, decided once per upstream peer and epoch. The stem has at least
    /// one hop; its length is geometric with mean `1 / (1 − stem_continue)`.
    pub stem_continue: f64,
    /// How long a stem's choices (each node's next hop and whether it
    /// ends the stem, per upstream peer; an originator's first hop, per
    /// operation) stay fixed.
    pub stem_epoch_ms: u64,
    /// Most references in the routing table.
    pub routing_table_size: usize,
    /// Probability that a node rewrites a `DataFound` source to itself.
    pub source_rewrite: f64,
    /// Most requests this node has in flight; more are refused.
    pub max_in_flight: usize,
    /// How long a hop waits for its downstream, per hop to live left,
    /// before trying the next peer.
    pub hop_timeout_ms_per_htl: u64,
    /// How long a client request may take in all.
    pub client_timeout_ms: u64,
    /// How many finished request ids are remembered for loop detection.
    pub loop_memory: usize,
}

impl Config {
    /// Extra hops the HTL coins can add to a path: for each coin that may
    /// keep HTL unchanged, the run of hops that keeps it so with 99%
    /// confidence (7 at a probability of 0.5, 17 at 0.25), at most 32.
    pub fn coin_runs(&self) -> u64 {
        let run = |decrement: f64| -> u64 {
            if decrement >= 1.0 {
                0
            } else if decrement <= 0.0 {
                32
            } else {
                let hops = (0.01f64.ln() / (1.0 - decrement).ln()).ceil();
                (hops as u64).min(32)
            }
        };
        run(self.decrement_at_max) + run(self.decrement_at_one)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            me: PeerId(u32::MAX),
            max_htl: 18,
            decrement_at_max: 0.5,
            decrement_at_one: 0.25,
            stem: true,
            stem_continue: 0.6,
            stem_epoch_ms: 600_000,
            routing_table_size: 250,
            source_rewrite: 0.1,
            max_in_flight: 256,
            hop_timeout_ms_per_htl: 2_000,
            client_timeout_ms: 120_000,
            loop_memory: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn coin_runs_cover_99_percent_of_the_runs_the_coins_allow() {
        // 0.5^7 < 1% ≤ 0.5^6; 0.75^17 < 1% ≤ 0.75^16.
        assert_eq!(Config::default().coin_runs(), 7 + 17);
        let plain = Config {
            decrement_at_max: 1.0,
            decrement_at_one: 1.0,
            ..Config::default()
        };
        assert_eq!(plain.coin_runs(), 0);
        let never = Config {
            decrement_at_max: 0.0,
            ..plain
        };
        assert_eq!(never.coin_runs(), 32);
    }
}
