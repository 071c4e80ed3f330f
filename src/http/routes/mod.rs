//! One module per resource; each exposes `router()`.

pub mod accounts;
pub mod capacity;
pub mod clients;
pub mod control;
pub mod debits;
pub mod faults;
pub mod health;
pub mod lifecycle;
pub mod public;
pub mod transfers;
pub mod webhooks;
