//! Use cases, between the HTTP/OAuth faces and the domain and storage: consent and tokens,
//! reading accounts and history, and running the sandbox (bootstrap, clock, access log).

pub mod access_log;
pub mod bearer;
pub mod clients;
pub mod clock;
pub mod consent;
pub mod controls;
pub mod debits;
pub mod grants;
pub mod ledger;
pub mod lifecycle;
pub mod lockout;
pub mod maintenance;
pub mod quota;
pub mod reference;
pub mod transfers;
