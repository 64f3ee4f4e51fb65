//! What a blocked task waits for.

/// What a task is blocked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// Not blocked.
    None,
    /// Until `time` reaches this.
    Sleeping(u64),
    /// In `Receive` on an endpoint, with its buffer.
    Receiving {
        /// The endpoint.
        endpoint: u16,
        /// Buffer address.
        buf: usize,
        /// Buffer length.
        cap: usize,
    },
    /// In `Call`, queued on the endpoint, not yet received.
    Calling {
        /// The endpoint.
        endpoint: u16,
        /// Reply buffer address.
        buf: usize,
        /// Reply buffer length.
        cap: usize,
    },
    /// In `Call`, received by the server, waiting for the reply.
    AwaitingReply {
        /// The endpoint.
        endpoint: u16,
        /// Reply buffer address.
        buf: usize,
        /// Reply buffer length.
        cap: usize,
    },
    /// In a blocking `WaitNotification` for these notification bits, until the deadline (in
    /// `time` ticks) if there is one.
    Notification {
        /// The bits waited for.
        mask: u32,
        /// When the wait gives up (returning no bits).
        until: Option<u64>,
    },
    /// In a blocking `ConsoleRead`, with its buffer.
    ConsoleRead {
        /// Buffer address.
        buf: usize,
        /// Buffer length.
        cap: usize,
    },
}
