//! Work a caller cannot cancel half way, without a task of its own.
//!
//! An invocation must run to its end even if the client goes away or its
//! deadline passes. Spawning it on a task of its own guarantees that but
//! costs two task hand-overs per call on the hot path. [`Detachable`] runs
//! the future inline in the caller's task instead; only if the caller
//! drops it before it finished is the rest of it spawned, to finish on its
//! own.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

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

impl<T: Send + 'static> Future for Detachable<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(inner) = self.inner.as_mut() else {
            // Polled after it finished: a caller's bug, answered by never
            // finishing again rather than a panic.
            return Poll::Pending;
        };
        match inner.as_mut().poll(cx) {
            Poll::Ready(value) => {
                self.inner = None;
                Poll::Ready(value)
            }
            Poll::Pending => Poll::Pending,
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
        let value = Detachable::new(async { 7 }).await;
        assert_eq!(value, 7);
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
