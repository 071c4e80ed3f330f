//! Pure types and rules of a Japanese bank: money, Zengin codes, half-width kana names,
//! customers, accounts, transactions and the consent records (clients, grants, tokens).
//! Nothing here does I/O or reads the clock.

pub mod account;
pub mod calendar;
pub mod capacity;
pub mod codes;
pub mod consent;
pub mod customer;
pub mod debit;
pub mod event;
pub mod fault;
pub mod kana;
pub mod maintenance;
pub mod money;
pub mod outcome;
pub mod transaction;
pub mod transfer;
pub mod validation;
pub mod webhook;
