//! Use cases, between the HTTP/OAuth faces and the domain and storage: consent and tokens,
//! reading accounts and history, and running the sandbox (bootstrap, clock, access log).

pub mod bearer;
pub mod capacity;
pub mod clients;
pub mod consent;
pub mod controls;
pub mod debits;
pub mod faults;
pub mod ledger;
pub mod lockout;
pub mod maintenance;
pub mod pending;
pub mod quota;
pub mod reference;
pub mod sandbox;
pub mod sandboxes;
pub mod transfer_writer;
pub mod transfers;
