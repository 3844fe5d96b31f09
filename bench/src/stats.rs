//! Numbers out of measurements: latency percentiles from an HDR histogram, and the median and
//! range of one metric over several rounds.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest latency the histograms can hold, in nanoseconds (one minute: far beyond any
/// benchmark request, which is failed after 10 s).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Significant decimal digits the histograms keep: 3 gives 0.1 % resolution at every scale.
const SIGNIFICANT_DIGITS: u8 = 3;

/// An empty latency histogram in nanoseconds.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Records one latency, clamped into the histogram's range.
pub fn record(histogram: &mut Histogram<u64>, nanos: u64) {
    histogram.saturating_record(nanos.clamp(1, MAX_LATENCY_NS));
}

/// Latency percentiles of one run, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Number of latencies recorded.
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Latency {
    /// Summarises a histogram of nanoseconds; `None` when it is empty.
    pub fn of(histogram: &Histogram<u64>) -> Option<Latency> {
        if histogram.is_empty() {
            return None;
        }
        let us = |nanos: u64| nanos as f64 / 1000.0;
        Some(Latency {
            count: histogram.len(),
            p50_us: us(histogram.value_at_quantile(0.50)),
            p99_us: us(histogram.value_at_quantile(0.99)),
            p999_us: us(histogram.value_at_quantile(0.999)),
            max_us: us(histogram.max()),
            mean_us: histogram.mean() / 1000.0,
        })
    }
}

/// The median and range of one metric over the rounds of a case.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for no values. With an even count the median is the mean of the middle two.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_range() {
        assert_eq!(Spread::of(&[]), None);
        let odd = Spread::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max), (3.0, 1.0, 5.0));
        let even = Spread::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((even.median, even.min, even.max), (2.5, 1.0, 4.0));
        let with_nan = Spread::of(&[f64::NAN, 2.0]).unwrap();
        assert_eq!(with_nan.median, 2.0);
    }

    #[test]
    fn percentiles_in_microseconds() {
        let mut histogram = latency_histogram();
        for micros in 1..=1000u64 {
            record(&mut histogram, micros * 1000);
        }
        let latency = Latency::of(&histogram).unwrap();
        assert_eq!(latency.count, 1000);
        assert!((latency.p50_us - 500.0).abs() <= 1.0, "{latency:?}");
        assert!((latency.p99_us - 990.0).abs() <= 1.0, "{latency:?}");
        assert!((latency.max_us - 1000.0).abs() <= 1.0, "{latency:?}");
        assert_eq!(Latency::of(&latency_histogram()), None);
    }

    #[test]
    fn out_of_range_latencies_are_clamped_not_lost() {
        let mut histogram = latency_histogram();
        record(&mut histogram, 0);
        record(&mut histogram, u64::MAX);
        assert_eq!(histogram.len(), 2);
    }
}
