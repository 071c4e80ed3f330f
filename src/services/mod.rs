//! Use cases, between the HTTP/OAuth faces and the domain and storage: consent and tokens,
//! reading accounts and history, and running the sandbox (bootstrap, clock, access log).

pub mod bearer;
pub mod consent;
pub mod debits;
pub mod faults;
pub mod ledger;
pub mod lockout;
pub mod reference;
pub mod sandbox;
pub mod sandboxes;
pub mod transfer_writer;
pub mod transfers;
