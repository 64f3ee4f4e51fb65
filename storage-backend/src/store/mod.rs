//! The log-structured, encrypted chunk store.
//!
//! `error` (typed errors), `record` (plaintext record encoding), `seal` (records as sealed
//! continuation chunks), `region` (one database region: log, index, transactions, cleaning).
//! Engine v2, built stage by stage and not used by `region` yet: `btree` (the copy-on-write
//! B+tree index over a RAM-budgeted page pool) and `anchor` (the ring that finds the newest
//! checkpoint in bounded reads).
pub mod anchor;
pub mod btree;
pub mod error;
pub mod record;
pub mod region;
pub mod seal;
pub mod v2;
