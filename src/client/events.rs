//! The client's one event queue: every event of every connection, read by the handlers'
//! dispatcher and by each [`Events`](super::Events) stream, each at its own pace.
//!
//! It is a broadcast queue with a cursor per reader, not a queue per reader: an event is
//! stored once and dropped when every reader that wants it has passed it. Received messages
//! are weighed (length + 64 bytes); while the messages held for the slowest reader weigh
//! more than the client's receive buffer the queue is *full*, and the driver stops reading
//! from the transport until a reader catches up. The server then meets TCP backpressure,
//! as it would with a slow reader on a plain socket, and the client's memory stays bounded.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures::Stream;

use super::{Shared, lock};
use crate::{ClientEvent, Payload};

/// What a queued message costs: its bytes, plus a fixed amount for the queue's own
/// bookkeeping, so that a flood of empty messages is bounded too.
fn weight(p: &Payload) -> usize {
    p.len() + 64
}

/// One entry of the queue.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    /// An event every reader sees.
    Event(ClientEvent),
    /// A connection that never opened has ended: only dispatchers see this (the streams
    /// never saw it begin).
    Failed,
}

impl Entry {
    fn weight(&self) -> usize {
        match self {
            Entry::Event(ClientEvent::Message(p)) => weight(p),
            _ => 0,
        }
    }
    fn is_message(&self) -> bool {
        matches!(self, Entry::Event(ClientEvent::Message(_)))
    }
}

/// Which entries a reader takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReaderKind {
    /// An event stream: every [`ClientEvent`].
    Stream,
    /// A connection's handler dispatcher: every entry, messages only while a message
    /// handler is set.
    Dispatcher {
        /// Whether it takes messages.
        messages: bool,
    },
}

impl ReaderKind {
    fn wants(self, entry: &Entry) -> bool {
        match (self, entry) {
            (ReaderKind::Stream, Entry::Failed) => false,
            (ReaderKind::Dispatcher { messages: false }, e) if e.is_message() => false,
            _ => true,
        }
    }
}

#[derive(Debug)]
struct Reader {
    kind: ReaderKind,
    /// The sequence number of the next entry it reads.
    pos: u64,
    waker: Option<Waker>,
}

/// A reader's handle: its slot in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReaderId(usize);

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct EventQueue {
    entries: VecDeque<Entry>,
    /// The sequence number of `entries[0]`.
    head: u64,
    /// The weight of the messages in `entries`.
    weight: usize,
    limit: usize,
    readers: Vec<Option<Reader>>,
    /// The driver, waiting for the queue to be no longer full.
    driver: Option<Waker>,
    /// No more entries will come: the client is gone.
    ended: bool,
}

impl EventQueue {
    pub(crate) fn new(limit: usize) -> EventQueue {
        EventQueue {
            entries: VecDeque::new(),
            head: 0,
            weight: 0,
            limit: limit.max(1),
            readers: Vec::new(),
            driver: None,
            ended: false,
        }
    }

    fn tail(&self) -> u64 {
        self.head + self.entries.len() as u64
    }

    /// A new reader; it reads what is pushed from now on.
    pub(crate) fn subscribe(&mut self, kind: ReaderKind) -> ReaderId {
        let reader = Reader {
            kind,
            pos: self.tail(),
            waker: None,
        };
        match self.readers.iter().position(Option::is_none) {
            Some(i) => {
                self.readers[i] = Some(reader);
                ReaderId(i)
            }
            None => {
                self.readers.push(Some(reader));
                ReaderId(self.readers.len() - 1)
            }
        }
    }

    /// Removes a reader; what only it held is released.
    pub(crate) fn unsubscribe(&mut self, id: ReaderId) {
        if let Some(slot) = self.readers.get_mut(id.0) {
            *slot = None;
        }
        self.release();
    }

    /// From now on, every dispatcher takes messages (a message handler was set).
    pub(crate) fn dispatch_messages(&mut self) {
        for r in self.readers.iter_mut().flatten() {
            if let ReaderKind::Dispatcher { messages } = &mut r.kind {
                *messages = true;
            }
        }
    }

    /// Whether any reader wants messages; if none does, a message need not be queued.
    pub(crate) fn wants_messages(&self) -> bool {
        self.readers
            .iter()
            .flatten()
            .any(|r| r.kind != ReaderKind::Dispatcher { messages: false })
    }

    /// Appends an entry and wakes the readers that want it. A message nobody wants is
    /// dropped at once.
    pub(crate) fn push(&mut self, entry: Entry) {
        if entry.is_message() && !self.wants_messages() {
            return;
        }
        for r in self.readers.iter_mut().flatten() {
            if r.kind.wants(&entry) {
                if let Some(w) = r.waker.take() {
                    w.wake();
                }
            }
        }
        self.weight += entry.weight();
        self.entries.push_back(entry);
    }

    /// The reader's next entry, if there is one; otherwise `cx` is woken when there is
    /// (or when the queue ends: then `Ready(None)`). The entry stays the reader's next
    /// until [`advance`](Self::advance): a dispatcher advances only once the handler has
    /// run, so that the message counts against the receive buffer until then.
    pub(crate) fn poll_peek(&mut self, id: ReaderId, cx: &mut Context<'_>) -> Poll<Option<Entry>> {
        let head = self.head;
        let Some(Some(r)) = self.readers.get_mut(id.0) else {
            return Poll::Ready(None);
        };
        // Entries dropped while it sat before them were ones it does not want.
        r.pos = r.pos.max(head);
        let mut i = (r.pos - head) as usize;
        while let Some(entry) = self.entries.get(i) {
            if r.kind.wants(entry) {
                return Poll::Ready(Some(entry.clone()));
            }
            i += 1;
            r.pos += 1;
        }
        if self.ended {
            return Poll::Ready(None);
        }
        if !r.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            r.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Moves the reader past the entry [`poll_peek`](Self::poll_peek) returned.
    pub(crate) fn advance(&mut self, id: ReaderId) {
        if let Some(Some(r)) = self.readers.get_mut(id.0) {
            r.pos = r.pos.max(self.head) + 1;
        }
        self.release();
    }

    /// Drops the entries at the front that no reader still needs, and wakes the driver if
    /// that made room.
    fn release(&mut self) {
        let was_full = self.is_full();
        while let Some(front) = self.entries.front() {
            let needed = self
                .readers
                .iter()
                .flatten()
                .any(|r| r.pos <= self.head && r.kind.wants(front));
            if needed {
                break;
            }
            self.weight -= front.weight();
            self.entries.pop_front();
            self.head += 1;
        }
        if was_full && !self.is_full() {
            if let Some(w) = self.driver.take() {
                w.wake();
            }
        }
    }

    /// Whether the messages held for the slowest reader weigh the receive buffer or more.
    pub(crate) fn is_full(&self) -> bool {
        self.weight >= self.limit
    }

    /// Whether the queue is full; if so, `cx` is woken when it no longer is.
    pub(crate) fn poll_full(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.is_full() {
            return false;
        }
        if !self
            .driver
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            self.driver = Some(cx.waker().clone());
        }
        true
    }

    /// No more entries will come; readers get what is left, then the end.
    pub(crate) fn end(&mut self) {
        self.ended = true;
        for r in self.readers.iter_mut().flatten() {
            if let Some(w) = r.waker.take() {
                w.wake();
            }
        }
    }
}

/// The stream returned by [`AsyncClient::events`](crate::AsyncClient::events).
///
/// ```
/// use futures::{FutureExt, StreamExt};
///
/// let eio = engineio::AsyncClient::new();
/// let mut events = eio.events();
/// // Nothing has happened yet: the stream waits for the first event.
/// assert!(events.next().now_or_never().is_none());
/// ```
pub struct Events {
    shared: Arc<Shared>,
    reader: ReaderId,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    pub(super) fn new(shared: Arc<Shared>) -> Events {
        let reader = lock(&shared.state).events.subscribe(ReaderKind::Stream);
        Events { shared, reader }
    }
}

impl Stream for Events {
    type Item = ClientEvent;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        let mut state = lock(&self.shared.state);
        match state.events.poll_peek(self.reader, cx) {
            Poll::Ready(Some(Entry::Event(event))) => {
                state.events.advance(self.reader);
                Poll::Ready(Some(event))
            }
            // Streams never see the other kind of entry.
            Poll::Ready(Some(Entry::Failed)) | Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        // What nobody will read no longer holds up the connection.
        lock(&self.shared.state).events.unsubscribe(self.reader);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    fn msg(n: usize) -> Entry {
        Entry::Event(ClientEvent::Message(Payload::from(vec![0u8; n])))
    }

    fn peek(q: &mut EventQueue, id: ReaderId) -> Option<Entry> {
        let waker = noop_waker();
        match q.poll_peek(id, &mut Context::from_waker(&waker)) {
            Poll::Ready(e) => e,
            Poll::Pending => None,
        }
    }

    #[test]
    fn full_while_the_slowest_reader_holds_the_limit() {
        let mut q = EventQueue::new(1000);
        let (a, b) = (
            q.subscribe(ReaderKind::Stream),
            q.subscribe(ReaderKind::Stream),
        );
        q.push(msg(436));
        q.push(msg(436));
        assert!(q.is_full());
        assert!(peek(&mut q, a).is_some());
        q.advance(a);
        q.advance(a);
        assert!(q.is_full(), "b has read nothing");
        q.advance(b);
        assert!(!q.is_full());
        q.unsubscribe(b);
        assert!(q.entries.is_empty(), "a read everything, b is gone");
    }

    #[test]
    fn a_dispatcher_without_a_message_handler_holds_no_message() {
        let mut q = EventQueue::new(100);
        let d = q.subscribe(ReaderKind::Dispatcher { messages: false });
        q.push(msg(10));
        assert!(q.entries.is_empty(), "nobody wants it");
        let s = q.subscribe(ReaderKind::Stream);
        q.push(Entry::Event(ClientEvent::Connect));
        q.push(msg(10));
        q.push(Entry::Failed);
        assert!(matches!(
            peek(&mut q, d),
            Some(Entry::Event(ClientEvent::Connect))
        ));
        q.advance(d);
        assert!(matches!(peek(&mut q, d), Some(Entry::Failed)));
        q.advance(d);
        assert!(matches!(
            peek(&mut q, s),
            Some(Entry::Event(ClientEvent::Connect))
        ));
        q.advance(s);
        assert!(matches!(
            peek(&mut q, s),
            Some(Entry::Event(ClientEvent::Message(_)))
        ));
        q.advance(s);
        assert_eq!(peek(&mut q, s).map(|_| ()), None, "streams skip Failed");
        assert!(q.entries.is_empty());
    }
}
