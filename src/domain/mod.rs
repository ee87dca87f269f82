//! Pure business rules: no IO, no framework types, no system clock. Everything here is
//! decided from its arguments, so it is tested directly and fast.

pub mod account;
pub mod auction;
pub mod bidding;
pub mod calendar;
pub mod clock;
pub mod credit_code;
pub mod deal;
pub mod disclosure;
pub mod listing;
pub mod mfa;
pub mod money;
pub mod payment;
pub mod qualification;
pub mod registration;
pub mod reminder;
pub mod retry;
pub mod risk;
pub mod role;
pub mod scope;
pub mod supervision;
pub mod webhook;

pub use clock::Clock;
pub use role::Role;
