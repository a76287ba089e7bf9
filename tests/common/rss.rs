//! The process's resident memory (VmRSS, from /proc/self/status), watched from a thread to
//! catch its peak: for the tests that check that a misbehaving server cannot make the
//! client's memory grow without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

/// The process's resident set, in bytes (Linux; `None` elsewhere).
pub fn rss() -> Option<u64> {
    // /proc/self/statm counts pages; /proc/self/status gives the same figure in kB,
    // which spares us the page size.
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Samples the resident set every 2 ms from a thread, to catch the peak.
pub struct RssWatch {
    baseline: Option<u64>,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RssWatch {
    pub fn start() -> RssWatch {
        let baseline = rss();
        let peak = Arc::new(AtomicU64::new(baseline.unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = baseline.map(|_| {
            let (peak, stop) = (peak.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Some(now) = rss() {
                        peak.fetch_max(now, Ordering::SeqCst);
                    }
                    thread::sleep(Duration::from_millis(2));
                }
            })
        });
        RssWatch {
            baseline,
            peak,
            stop,
            thread,
        }
    }

    /// The growth of the resident set from the start to the peak, in bytes (0 where it
    /// cannot be measured).
    pub fn growth(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let Some(baseline) = self.baseline else {
            return 0;
        };
        self.peak
            .load(Ordering::SeqCst)
            .max(rss().unwrap_or(0))
            .saturating_sub(baseline)
    }

    /// Like [`growth`](Self::growth), and prints it.
    pub fn finish(self, what: &str) -> u64 {
        let Some(baseline) = self.baseline else {
            eprintln!("{what}: no /proc/self/status, resident memory not checked");
            return 0;
        };
        let growth = self.growth();
        eprintln!(
            "{what}: resident memory grew by {:.1} MiB at most (from {:.1} MiB)",
            growth as f64 / (1 << 20) as f64,
            baseline as f64 / (1 << 20) as f64
        );
        growth
    }

    /// Like [`finish`](Self::finish), and asserts the growth stayed under `max` bytes.
    pub fn assert_bounded(self, what: &str, max: u64) -> u64 {
        let growth = self.finish(what);
        assert!(
            growth < max,
            "{what}: resident memory grew by {growth} bytes"
        );
        growth
    }
}
