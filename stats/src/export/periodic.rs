//! A background thread that runs a job every period, on demand, and once
//! more when stopped, for the push exporters (StatsD, OTLP, the `metrics`
//! bridge).

use crate::sync::{lock, thread, Arc, Condvar, Mutex};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// What the caller and the thread tell each other, under one lock.
#[derive(Debug, Default)]
struct State {
    stopped: bool,
    /// Runs asked for by [`Periodic::run_now`], ever.
    requested: u64,
    /// Of those, the ones a finished run has served.
    served: u64,
    /// The thread has returned: nothing will serve a request any more.
    gone: bool,
}

/// Runs its job every period on its own thread until [`stop`](Self::stop)
/// or drop, which run the job a last time and join the thread. The job runs
/// without the lock held, so stopping never waits for more than one run of
/// it; a job that panics is caught (the run counts as done), so the thread
/// and whoever waits for it carry on.
#[derive(Debug)]
pub(crate) struct Periodic {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Periodic {
    pub(crate) fn start(
        name: &str,
        period: Duration,
        mut job: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Periodic> {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let theirs = Arc::clone(&shared);
        let thread = thread::Builder::new().name(name.into()).spawn(move || {
            let (state, wake) = &*theirs;
            loop {
                let guard = lock(state);
                let (mut guard, _) = wake
                    .wait_timeout_while(guard, period, |s| !s.stopped && s.requested == s.served)
                    .unwrap_or_else(|p| p.into_inner());
                let (last, asked) = (guard.stopped, guard.requested);
                drop(guard);
                // A panicking job must not leave a caller of `run_now`
                // waiting forever, nor end the periodic runs.
                let _ = catch_unwind(AssertUnwindSafe(&mut job));
                guard = lock(state);
                guard.served = asked;
                if last {
                    guard.gone = true;
                }
                drop(guard);
                wake.notify_all();
                if last {
                    return;
                }
            }
        })?;
        Ok(Periodic {
            shared,
            thread: Some(thread),
        })
    }

    /// Runs the job now, on its thread, and returns when a run that started
    /// after this call has finished (at once if the thread has stopped).
    pub(crate) fn run_now(&self) {
        let (state, wake) = &*self.shared;
        let mut guard = lock(state);
        guard.requested += 1;
        let want = guard.requested;
        wake.notify_all();
        let _guard = wake
            .wait_while(guard, |s| s.served < want && !s.gone)
            .unwrap_or_else(|p| p.into_inner());
    }

    /// Runs the job a last time and joins the thread.
    pub(crate) fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            lock(&self.shared.0).stopped = true;
            self.shared.1.notify_all();
            let _ = thread.join();
            // Should the thread have died some other way, no caller waits.
            lock(&self.shared.0).gone = true;
            self.shared.1.notify_all();
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(all(test, not(clockwise_loom)))]
mod tests {
    use super::Periodic;
    use crate::sync::{Arc, AtomicU64, Ordering};
    use std::time::Duration;

    #[test]
    fn run_now_waits_for_a_run_and_stop_runs_once_more() {
        let runs = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&runs);
        let mut p = Periodic::start("test", Duration::from_secs(3600), move || {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        p.run_now();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        p.run_now();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        p.stop();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        p.run_now(); // the thread is gone: returns at once
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_panicking_job_neither_wedges_run_now_nor_ends_the_runs() {
        let runs = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&runs);
        let p = Periodic::start("test", Duration::from_secs(3600), move || {
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first run fails");
            }
        })
        .unwrap();
        p.run_now();
        p.run_now();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
