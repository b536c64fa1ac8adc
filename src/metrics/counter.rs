//! Single-writer counters, gauges and fixed-bucket histograms (the cells of `metrics/`).
//!
//! Each value is written by one shard thread only, so an update is a relaxed load and a
//! relaxed store (a plain `mov` on x86-64, no locked read-modify-write); any other thread
//! may read it at any time and sees a recent value. Never share one of these between two
//! writers: updates would be lost.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A monotonic count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Overwrites the value (for a "last seen" figure such as a deadline).
    #[inline]
    pub fn set(&self, n: u64) {
        self.0.store(n, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A value that goes up and down (connections open now).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    #[inline]
    pub fn add(&self, n: i64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

/// Upper bounds of the histogram buckets, in seconds (the `le` labels of Prometheus).
pub const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The same bounds in microseconds, for the comparison on the request path.
const BOUNDS_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// Durations in fixed buckets: one count per bucket (the last is +Inf) and the sum.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [Counter; BUCKETS.len() + 1],
    sum_us: Counter,
}

impl Histogram {
    #[inline]
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].inc();
        self.sum_us.add(us);
    }

    /// Adds this histogram's figures to `into` (the reader sums shards this way).
    pub fn add_to(&self, into: &mut HistogramSum) {
        for (sum, c) in into.counts.iter_mut().zip(&self.counts) {
            *sum += c.get();
        }
        into.sum_us += self.sum_us.get();
    }
}

/// A histogram as read: plain numbers, summed over shards.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HistogramSum {
    /// Per bucket, not cumulative; the last is above the highest bound.
    pub counts: [u64; BUCKETS.len() + 1],
    pub sum_us: u64,
}

impl HistogramSum {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_us as f64 / 1e6
    }

    /// Counts at or below each bound, then the total (Prometheus's `_bucket` lines).
    pub fn cumulative(&self) -> Vec<u64> {
        let mut total = 0;
        self.counts
            .iter()
            .map(|c| {
                total += c;
                total
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket_and_add_up() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(900));
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(60));
        let mut sum = HistogramSum::default();
        h.add_to(&mut sum);
        h.add_to(&mut sum);
        assert_eq!(sum.counts[0], 4);
        assert_eq!(sum.counts[5], 2);
        assert_eq!(sum.counts[BUCKETS.len()], 2);
        assert_eq!(sum.count(), 8);
        assert_eq!(sum.sum_us, 2 * (900 + 1_000 + 30_000 + 60_000_000));
        assert_eq!(*sum.cumulative().last().unwrap(), 8);
    }

    #[test]
    fn gauges_go_both_ways() {
        let g = Gauge::default();
        g.add(3);
        g.add(-1);
        assert_eq!(g.get(), 2);
    }
}
