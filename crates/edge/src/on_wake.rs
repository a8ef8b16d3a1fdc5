//! A future polled again only after it woke its task itself.
//!
//! Why: a connection task waits on its socket and, beside it, on the node's shutdown tokens.
//! tokio wakes the whole task for either, and `select!` (or a `poll_fn` watching both) then
//! polls every branch. A token's cancellation future takes two locks on every poll — the
//! token's state and the waiter list it shares with every connection on every serving thread
//! — and a connection task is polled at least twice per request. [`OnWake`] hands the inner
//! future a waker of its own that records the wake-up before waking the task, and skips
//! polling the inner future until that happened.
//!
//! Owns: that bookkeeping. Never: changes what the inner future resolves to, or loses a
//! wake-up (the inner future is polled again whenever it woke, or the task's waker changed).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// The waker `OnWake` gives its inner future: notes the wake-up, then wakes the task.
struct Noted {
    woken: AtomicBool,
    task: Waker,
}

impl Wake for Noted {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

pin_project_lite::pin_project! {
    /// `inner`, polled only on the first poll, after it woke the task, or when the task's
    /// waker changed. For futures that are pending nearly all their life (shutdown signals)
    /// inside tasks that are woken often for other reasons.
    pub struct OnWake<F> {
        #[pin]
        inner: F,
        noted: Option<Arc<Noted>>,
    }
}

impl<F> OnWake<F> {
    pub fn new(inner: F) -> Self {
        OnWake { inner, noted: None }
    }
}

impl<F: Future> Future for OnWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let noted = match this.noted {
            Some(noted) if noted.task.will_wake(cx.waker()) => {
                if !noted.woken.swap(false, Ordering::Acquire) {
                    return Poll::Pending;
                }
                noted.clone()
            }
            // First poll, or polled from another task: a waker for this one.
            _ => {
                let noted = Arc::new(Noted {
                    woken: AtomicBool::new(false),
                    task: cx.waker().clone(),
                });
                *this.noted = Some(noted.clone());
                noted
            }
        };
        let waker = Waker::from(noted);
        this.inner.poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls; ready once `ready` is set, waking through the waker it last got.
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
    }

    impl Future for Probe {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if self.ready.load(Ordering::Relaxed) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    #[tokio::test]
    async fn the_inner_future_is_polled_again_only_after_it_woke_the_task() {
        let token = tokio_util::sync::CancellationToken::new();
        let mut waiting = std::pin::pin!(OnWake::new(token.clone().cancelled_owned()));
        // Polled many times by unrelated wake-ups: stays pending, cheaply.
        for _ in 0..100 {
            let pending = std::future::poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx))).await;
            assert!(pending.is_pending());
        }
        // The token's own wake-up gets through.
        let cancel = {
            let token = token.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                token.cancel();
            })
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the cancellation woke the waiting task");
        cancel.await.expect("joined");
    }

    #[test]
    fn unrelated_polls_do_not_reach_the_inner_future() {
        let polls = Arc::new(AtomicUsize::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let mut fut = Box::pin(OnWake::new(Probe {
            polls: polls.clone(),
            ready: ready.clone(),
        }));
        let task = Waker::noop();
        let mut cx = Context::from_waker(task);
        for _ in 0..10 {
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(
            polls.load(Ordering::Relaxed),
            1,
            "only the first poll got through"
        );
        // The inner future's own wake-up lets the next poll through.
        ready.store(true, Ordering::Relaxed);
        let noted = fut.noted.clone().expect("registered");
        Waker::from(noted).wake();
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_new_task_waker_polls_the_inner_future_again() {
        let polls = Arc::new(AtomicUsize::new(0));
        let mut fut = Box::pin(OnWake::new(Probe {
            polls: polls.clone(),
            ready: Arc::new(AtomicBool::new(false)),
        }));
        let first = Waker::noop();
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(first))
            .is_pending());
        struct Other;
        impl Wake for Other {
            fn wake(self: Arc<Self>) {}
        }
        let other = Waker::from(Arc::new(Other));
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(&other))
            .is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }
}
