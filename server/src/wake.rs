//! A waker of its own for the rarely ready futures a busy task also waits on.
//!
//! A stream's connection task wakes for every event it writes, and a `select!` then polls every
//! branch again: the server's shutdown token, the connection's end token, its idle clock.
//! Polling a token takes its locks, so at 10 000 streams × 8 events/s that is hundreds of
//! thousands of lock round trips a second for signals that fire once in a connection's life. A
//! [`WakeFlag`] gives those futures their own waker: they are polled only after one of them woke
//! it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

struct Flag {
    woken: AtomicBool,
    /// The task to wake: the one that last polled through the flag.
    task: futures_util::task::AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Whether the futures polled through it were woken since they were last polled.
pub struct WakeFlag {
    flag: Arc<Flag>,
    waker: Waker,
}

impl Default for WakeFlag {
    fn default() -> Self {
        WakeFlag::new()
    }
}

impl WakeFlag {
    /// A flag that starts woken, so its futures are polled (and register) the first time.
    pub fn new() -> WakeFlag {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: futures_util::task::AtomicWaker::new(),
        });
        WakeFlag {
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    /// Runs `poll` with the flag's own waker when the flag was woken since the last run, else
    /// answers `Pending` without running it. After a `Ready` the next call runs `poll` again:
    /// whatever became ready (a timer's tick) must register anew.
    pub fn poll_with<T>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.flag.task.register(cx.waker());
        if !self.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let result = poll(&mut Context::from_waker(&self.waker));
        if result.is_ready() {
            self.flag.woken.store(true, Ordering::Release);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::{poll_fn, Future};
    use std::sync::atomic::AtomicUsize;
    use tokio_util::sync::CancellationToken;

    /// A future that counts its polls and is ready once `ready` is cancelled.
    fn counted(
        token: &CancellationToken,
        polls: &Arc<AtomicUsize>,
    ) -> impl std::future::Future<Output = ()> {
        let (token, polls) = (token.clone(), polls.clone());
        let mut wait = Box::pin(token.cancelled_owned());
        poll_fn(move |cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            wait.as_mut().poll(cx)
        })
    }

    #[tokio::test]
    async fn its_futures_are_polled_once_until_they_wake_it() {
        let token = CancellationToken::new();
        let polls = Arc::new(AtomicUsize::new(0));
        let mut signal = Box::pin(counted(&token, &polls));
        let flag = WakeFlag::new();
        let noop = Waker::noop();
        let mut cx = Context::from_waker(noop);
        for _ in 0..100 {
            assert!(flag
                .poll_with(&mut cx, |cx| signal.as_mut().poll(cx))
                .is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1, "polled only to register");
        token.cancel();
        assert!(flag
            .poll_with(&mut cx, |cx| signal.as_mut().poll(cx))
            .is_ready());
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_wake_of_its_futures_wakes_the_task_that_polled_it() {
        let token = CancellationToken::new();
        let polls = Arc::new(AtomicUsize::new(0));
        let signal = counted(&token, &polls);
        let waiter = tokio::spawn(async move {
            let flag = WakeFlag::new();
            let mut signal = Box::pin(signal);
            poll_fn(|cx| flag.poll_with(cx, |cx| signal.as_mut().poll(cx))).await;
        });
        tokio::task::yield_now().await;
        token.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the task was woken")
            .unwrap();
    }

    #[tokio::test]
    async fn a_timer_that_ticked_is_polled_again_to_register_its_next_tick() {
        let flag = WakeFlag::new();
        let mut ticks = tokio::time::interval(std::time::Duration::from_millis(10));
        let three_ticks = async {
            for _ in 0..3 {
                poll_fn(|cx| flag.poll_with(cx, |cx| ticks.poll_tick(cx))).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), three_ticks)
            .await
            .expect("every tick arrived");
    }
}
