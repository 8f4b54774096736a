//! A background thread that ticks [`Windows`] at a fixed period.

use crate::sync::{lock, thread, Arc, Condvar, Mutex};
use crate::Windows;
use std::time::Duration;

/// Ticks shared [`Windows`] every `period` on its own thread until stopped
/// (by [`stop`](Self::stop) or drop). The thread holds the windows' mutex only
/// while ticking; readers lock it to call [`Windows::view`].
///
/// ```
/// use clockwise_stats::{Snapshot, Ticker, Windows};
/// use std::{sync::{Arc, Mutex}, time::Duration};
///
/// let windows = Arc::new(Mutex::new(Windows::new(|| Snapshot::new(Duration::ZERO))));
/// let ticker = Ticker::start(windows.clone(), clockwise_stats::Clock::new(), Duration::from_millis(10)).unwrap();
/// ticker.stop(); // returns once the thread has ended
/// ```
#[derive(Debug)]
pub struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Ticker {
    /// Starts the thread; fails only if the OS refuses a new thread.
    pub fn start(
        windows: Arc<Mutex<Windows>>,
        clock: crate::Clock,
        period: Duration,
    ) -> std::io::Result<Ticker> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("clockwise-windows".into())
            .spawn(move || {
                let (stopped, wake) = &*flag;
                let mut guard = lock(stopped);
                while !*guard {
                    // A merge error means the source changed layout; the
                    // windows keep their data and the next tick tries again.
                    let _ = lock(&windows).tick(clock.now());
                    guard = wake
                        .wait_timeout(guard, period)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
            })?;
        Ok(Ticker {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let (stopped, wake) = &*self.stop;
        *lock(stopped) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shutdown();
    }
}
