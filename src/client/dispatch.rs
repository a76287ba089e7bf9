//! The handlers' dispatcher: it runs one connection's handlers, one at a time and in
//! order, reading the client's event queue.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use futures::future::BoxFuture;

use super::events::{Entry, ReaderId};
use super::{ClientEvent, Shared, lock};
use crate::logging::{Logger, record};
use crate::{DisconnectReason, Payload};

pub(crate) type AsyncHandler<A> = Arc<dyn Fn(A) -> BoxFuture<'static, ()> + Send + Sync>;
type BlockingHandler<A> = Arc<dyn Fn(A) + Send + Sync>;

/// An event handler: a closure returning a future (`AsyncClient`), or a plain closure
/// (`Client`) that runs on the dispatch thread.
pub(crate) enum Handler<A> {
    Async(AsyncHandler<A>),
    #[cfg_attr(not(feature = "blocking"), allow(dead_code))]
    Blocking(BlockingHandler<A>),
}

impl<A> Clone for Handler<A> {
    fn clone(&self) -> Self {
        match self {
            Handler::Async(h) => Handler::Async(h.clone()),
            Handler::Blocking(h) => Handler::Blocking(h.clone()),
        }
    }
}

impl<A> Handler<A> {
    /// Runs the handler in a task. A panicking handler must not take the other handlers
    /// (and the connection's `connect` answer) with it: the panic is caught and recorded,
    /// as on the dispatch thread.
    async fn call(&self, arg: A, logger: &Logger) {
        use futures::FutureExt;
        let run = std::panic::AssertUnwindSafe(async move {
            match self {
                Handler::Async(h) => h(arg).await,
                Handler::Blocking(h) => h(arg),
            }
        });
        if run.catch_unwind().await.is_err() {
            record!(logger, error, "an event handler panicked");
        }
    }

    /// Runs the handler on a thread of its own.
    #[cfg_attr(not(feature = "blocking"), allow(dead_code))]
    fn call_blocking(&self, arg: A, logger: &Logger) {
        // A panicking handler must not take the other handlers with it.
        let run = std::panic::AssertUnwindSafe(|| match self {
            Handler::Blocking(h) => h(arg),
            Handler::Async(h) => futures::executor::block_on(h(arg)),
        });
        if std::panic::catch_unwind(run).is_err() {
            record!(logger, error, "an event handler panicked");
        }
    }
}

#[derive(Clone, Default)]
pub(crate) struct Handlers {
    pub(crate) connect: Option<Handler<()>>,
    pub(crate) message: Option<Handler<Payload>>,
    pub(crate) disconnect: Option<Handler<DisconnectReason>>,
}

/// The handlers a dispatcher last read, re-read only when they change.
pub(crate) struct HandlerCache {
    version: u64,
    handlers: Handlers,
}

impl HandlerCache {
    pub(crate) fn new() -> HandlerCache {
        HandlerCache {
            version: u64::MAX,
            handlers: Handlers::default(),
        }
    }

    fn get(&mut self, shared: &Shared) -> &Handlers {
        let version = shared.handlers_version.load(Ordering::Acquire);
        if version != self.version {
            self.handlers = lock(&shared.handlers).clone();
            self.version = version;
        }
        &self.handlers
    }
}

/// Runs one connection's handlers, one at a time and in order, reading the event queue:
/// as a task ([`run`](Self::run)) or on a thread ([`run_blocking`](Self::run_blocking)).
/// `handled` fires once the `connect` handler has run. `ended` is dropped when the
/// dispatcher is done (also if it is dropped, or a handler panics), which ends `wait`.
pub(crate) struct Dispatcher {
    shared: Arc<Shared>,
    reader: ReaderId,
    handled: Option<oneshot::Sender<()>>,
    ended: Option<oneshot::Sender<()>>,
    handlers: HandlerCache,
}

/// What a dispatcher does with an entry.
enum Call {
    Connect(Option<Handler<()>>),
    Message(Option<Handler<Payload>>, Payload),
    Disconnect(Option<Handler<DisconnectReason>>, DisconnectReason),
    Nothing,
    /// The connection never opened: done.
    End,
}

impl Dispatcher {
    pub(super) fn new(
        shared: Arc<Shared>,
        reader: ReaderId,
        handled: oneshot::Sender<()>,
        ended: oneshot::Sender<()>,
    ) -> Dispatcher {
        Dispatcher {
            shared,
            reader,
            handled: Some(handled),
            ended: Some(ended),
            handlers: HandlerCache::new(),
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Call>> {
        let entry = match lock(&self.shared.state).events.poll_peek(self.reader, cx) {
            Poll::Ready(Some(entry)) => entry,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let handlers = self.handlers.get(&self.shared);
        Poll::Ready(Some(match entry {
            Entry::Event(ClientEvent::Connect) => Call::Connect(handlers.connect.clone()),
            Entry::Event(ClientEvent::Message(p)) => Call::Message(handlers.message.clone(), p),
            Entry::Event(ClientEvent::Disconnect(r)) => {
                Call::Disconnect(handlers.disconnect.clone(), r)
            }
            Entry::Event(
                ClientEvent::Upgraded
                | ClientEvent::Reconnecting { .. }
                | ClientEvent::ReconnectFailed { .. },
            ) => Call::Nothing,
            Entry::Failed => Call::End,
        }))
    }

    /// The entry's handler has run; returns whether the connection is over.
    fn done(&mut self, call: &Call) -> bool {
        if let Call::Connect(_) = call {
            if let Some(tx) = self.handled.take() {
                let _ = tx.send(());
            }
        }
        // Only now: a message counts against the receive buffer until its handler ran.
        lock(&self.shared.state).events.advance(self.reader);
        matches!(call, Call::Disconnect(..) | Call::End)
    }

    /// Runs the handlers as a task; async handlers are awaited there.
    pub(crate) async fn run(mut self) {
        while let Some(call) = std::future::poll_fn(|cx| self.poll_next(cx)).await {
            let logger = &self.shared.config.logger;
            match &call {
                Call::Connect(Some(h)) => h.call((), logger).await,
                Call::Message(Some(h), p) => h.call(p.clone(), logger).await,
                Call::Disconnect(Some(h), r) => h.call(r.clone(), logger).await,
                _ => {}
            }
            if self.done(&call) {
                break;
            }
        }
    }

    /// Runs the handlers on this thread, outside any executor, so that a handler may
    /// block, and call the blocking client's methods.
    #[cfg_attr(not(feature = "blocking"), allow(dead_code))]
    pub(crate) fn run_blocking(mut self) {
        use futures::executor::block_on;
        while let Some(call) = block_on(std::future::poll_fn(|cx| self.poll_next(cx))) {
            match &call {
                Call::Connect(Some(h)) => h.call_blocking((), &self.shared.config.logger),
                Call::Message(Some(h), p) => h.call_blocking(p.clone(), &self.shared.config.logger),
                Call::Disconnect(Some(h), r) => {
                    h.call_blocking(r.clone(), &self.shared.config.logger)
                }
                _ => {}
            }
            if self.done(&call) {
                break;
            }
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        lock(&self.shared.state).events.unsubscribe(self.reader);
        drop(self.ended.take());
    }
}
