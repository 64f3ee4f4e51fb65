//! The log-structured, encrypted chunk store.
//!
//! `btree` (engine v2 stage 1: the copy-on-write B+tree index, not used by the store yet),
//! `error` (typed errors), `record` (plaintext record encoding), `seal` (records as sealed
//! continuation chunks), `region` (one database region: log, index, transactions, cleaning).
pub mod btree;
pub mod error;
pub mod record;
pub mod region;
pub mod seal;
