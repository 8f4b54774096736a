//! A background thread that runs a job every period, and once more when
//! stopped, for the push exporters (StatsD, the `metrics` bridge).

use crate::sync::{lock, thread, Arc, Condvar, Mutex};
use std::time::Duration;

/// Runs its job every period on its own thread until [`stop`](Self::stop)
/// or drop, which run the job a last time and join the thread. The job runs
/// without the stop lock held, so stopping never waits for more than one
/// run of it.
#[derive(Debug)]
pub(crate) struct Periodic {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Periodic {
    pub(crate) fn start(
        name: &str,
        period: Duration,
        mut job: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Periodic> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new().name(name.into()).spawn(move || {
            let (stopped, wake) = &*flag;
            loop {
                let guard = lock(stopped);
                let (guard, _) = wake
                    .wait_timeout_while(guard, period, |stopped| !*stopped)
                    .unwrap_or_else(|p| p.into_inner());
                let last = *guard;
                drop(guard);
                job();
                if last {
                    return;
                }
            }
        })?;
        Ok(Periodic {
            stop,
            thread: Some(thread),
        })
    }

    /// Runs the job a last time and joins the thread.
    pub(crate) fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            *lock(&self.stop.0) = true;
            self.stop.1.notify_all();
            let _ = thread.join();
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop();
    }
}
