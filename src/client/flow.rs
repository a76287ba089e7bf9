//! Flow control on the receiving side: received messages that the application has not
//! taken yet (the message handler still to run or running, an event stream not read) are
//! counted, and the driver stops reading from the transport while any one queue holds
//! more than the client's receive buffer. The server then meets TCP backpressure, as it
//! would with a slow reader on a plain socket, and the client's memory stays bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Context;

use futures::task::AtomicWaker;

use crate::Payload;

/// What a queued message costs: its bytes, plus a fixed amount for the queue's own
/// bookkeeping, so that a flood of empty messages is bounded too.
pub(crate) fn weight(p: &Payload) -> usize {
    p.len() + 64
}

/// One client's receive budget, shared by its queues and its driver.
#[derive(Debug)]
pub(crate) struct Flow {
    limit: usize,
    /// How many queues are at or over the limit.
    full: AtomicUsize,
    /// The driver, waiting for room.
    driver: AtomicWaker,
}

impl Flow {
    pub(crate) fn new(limit: usize) -> Arc<Flow> {
        Arc::new(Flow {
            limit: limit.max(1),
            full: AtomicUsize::new(0),
            driver: AtomicWaker::new(),
        })
    }

    /// Whether some queue is full; if so, the task in `cx` is woken when none is.
    pub(crate) fn is_full(&self, cx: &mut Context<'_>) -> bool {
        if self.full.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.driver.register(cx.waker());
        self.full.load(Ordering::Acquire) > 0
    }

    /// A queue of its own, counted against the limit.
    pub(crate) fn queue(self: &Arc<Flow>) -> Queue {
        Queue {
            flow: self.clone(),
            pending: AtomicUsize::new(0),
        }
    }
}

/// One queue of received messages (the handler's, or one event stream's). What is still
/// counted when it is dropped is released.
#[derive(Debug)]
pub(crate) struct Queue {
    flow: Arc<Flow>,
    pending: AtomicUsize,
}

impl Queue {
    /// `weight` more is waiting in this queue.
    pub(crate) fn add(&self, weight: usize) {
        let before = self.pending.fetch_add(weight, Ordering::AcqRel);
        if before < self.flow.limit && before + weight >= self.flow.limit {
            self.flow.full.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// `weight` was taken from this queue.
    pub(crate) fn take(&self, weight: usize) {
        let before = self.pending.fetch_sub(weight, Ordering::AcqRel);
        if before >= self.flow.limit && before - weight < self.flow.limit {
            self.flow.full.fetch_sub(1, Ordering::AcqRel);
            self.flow.driver.wake();
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        let left = *self.pending.get_mut();
        if left > 0 {
            self.take(left);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    #[test]
    fn full_while_any_queue_is_over_the_limit() {
        let flow = Flow::new(100);
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let (a, b) = (flow.queue(), flow.queue());
        a.add(60);
        b.add(60);
        assert!(!flow.is_full(&mut cx));
        a.add(40);
        assert!(flow.is_full(&mut cx));
        b.add(100);
        a.take(50);
        assert!(flow.is_full(&mut cx), "b is still over");
        drop(b);
        assert!(!flow.is_full(&mut cx), "a dropped queue releases its share");
        a.take(50);
        assert!(!flow.is_full(&mut cx));
    }
}
