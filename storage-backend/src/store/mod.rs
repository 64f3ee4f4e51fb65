//! The log-structured, encrypted chunk store.
//!
//! `error` (typed errors), `record` (plaintext record encoding), `seal` (records as sealed
//! continuation chunks), `region` (one database region: log, index, transactions, cleaning),
//! `anchor` (the ring that finds the newest checkpoint in bounded reads; engine v2, not yet
//! used by `region`).
pub mod anchor;
pub mod error;
pub mod record;
pub mod region;
pub mod seal;
