//! Work a caller cannot cancel half way, without a task of its own.
//!
//! An invocation must run to its end even if the client goes away or its
//! deadline passes. Spawning it on a task of its own guarantees that but
//! costs two task hand-overs per call on the hot path. [`Detachable`] runs
//! the future inline in the caller's task instead; only if the caller
//! drops it before it finished is the rest of it spawned, to finish on its
//! own. Both front doors (the admin API's invoke and the inbound gRPC
//! server) run invocations this way.
//!
//! A panic while it runs inline (a bug) is caught and answered as
//! [`Panicked`], as a spawned task's `JoinError` would be, so the caller
//! can still reply with an error instead of losing its connection.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The work panicked while polled inline: the panic's message.
#[derive(Debug, thiserror::Error)]
#[error("the invocation panicked: {0}")]
pub(crate) struct Panicked(pub(crate) String);

/// A future polled in place that, dropped unfinished, goes on as a task.
pub(crate) struct Detachable<T: Send + 'static> {
    inner: Option<Pin<Box<dyn Future<Output = T> + Send + 'static>>>,
}

impl<T: Send + 'static> Detachable<T> {
    /// Wraps `future`.
    pub(crate) fn new(future: impl Future<Output = T> + Send + 'static) -> Self {
        Self {
            inner: Some(Box::pin(future)),
        }
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

impl<T: Send + 'static> Future for Detachable<T> {
    type Output = Result<T, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            // Polled after it finished: a caller's bug, answered by never
            // finishing again rather than a panic.
            return Poll::Pending;
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Ready(value)) => {
                self.inner = None;
                Poll::Ready(Ok(value))
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                // Not to be polled again, nor spawned.
                self.inner = None;
                Poll::Ready(Err(Panicked(panic_message(payload.as_ref()))))
            }
        }
    }
}

impl<T: Send + 'static> Drop for Detachable<T> {
    fn drop(&mut self) {
        let Some(rest) = self.inner.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(rest);
            }
            // Outside a runtime nothing can finish it: the process is
            // going down, and recovery completes the invocation.
            Err(_) => tracing::warn!("an unfinished invocation was dropped outside the runtime"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn finishes_inline_when_awaited() {
        let value = Detachable::new(async { 7 }).await.unwrap();
        assert_eq!(value, 7);
    }

    #[tokio::test]
    async fn a_panic_is_an_error_not_a_lost_task() {
        let failed = Detachable::new(async {
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("guest bookkeeping broke");
            }
            1
        })
        .await
        .unwrap_err();
        assert!(failed.0.contains("guest bookkeeping broke"), "{failed}");
        let formatted = Detachable::new(async {
            if std::hint::black_box(true) {
                panic!("index {} out of range", 3);
            }
        })
        .await
        .unwrap_err();
        assert_eq!(formatted.0, "index 3 out of range");
    }

    #[tokio::test]
    async fn dropped_unfinished_it_goes_on_as_a_task() {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let work = Detachable::new(async move {
            let _ = rx.await;
            flag.store(true, Ordering::SeqCst);
        });
        // The caller gives up before the work could finish.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), work).await;
        assert!(gave_up.is_err());
        assert!(!done.load(Ordering::SeqCst));
        tx.send(()).expect("the detached work still listens");
        for _ in 0..200 {
            if done.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the detached work never finished");
    }
}
