//! A client's log records: on or off, under a target of the application's choosing.

use std::sync::Arc;

/// The target of this crate's records unless the application names another.
pub(crate) const DEFAULT_TARGET: &str = "engineio";

/// Where one client's records go: nowhere (`logger(false)`), or to the `log` facade under
/// its target. Shared by the client, its driver and the connectors the builder makes.
#[derive(Clone, Debug)]
pub(crate) struct Logger {
    target: Option<Arc<str>>,
}

impl Default for Logger {
    fn default() -> Self {
        Logger {
            target: Some(DEFAULT_TARGET.into()),
        }
    }
}

impl Logger {
    pub(crate) fn new(on: bool, target: &str) -> Logger {
        Logger {
            target: on.then(|| target.into()),
        }
    }

    /// The target of the records, or `None` when they are off.
    pub(crate) fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }
}

/// A record through `$logger` (a [`Logger`]), at `$lvl` (`error`, `warn`, `info`,
/// `debug`, `trace`), formatted as `format!` does.
macro_rules! record {
    ($logger:expr, $lvl:ident, $($arg:tt)+) => {
        if let Some(target) = $logger.target() {
            log::$lvl!(target: target, $($arg)+);
        }
    };
}
pub(crate) use record;
