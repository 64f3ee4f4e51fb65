//! The log-structured, encrypted chunk store.
//!
//! `error` (typed errors), `record` (plaintext record encoding), `seal` (records as sealed
//! continuation chunks), `region` (one database region: log, index, transactions, cleaning).
pub mod error;
pub mod record;
pub mod region;
pub mod seal;
