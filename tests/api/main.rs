//! Integration tests: the real application over HTTP, on SQLite by default and on
//! PostgreSQL when TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod helpers;
mod smtp;

mod accounts;
mod alerts;
mod auctions;
mod audit;
mod authz;
mod bidpath;
mod browse;
mod credentials;
mod deals;
mod defaults;
mod demo;
mod edges;
mod errors;
mod fuzz_regressions;
mod health;
mod hostile;
mod integrity;
mod listings;
mod live;
mod mail;
mod metrics;
mod mfa;
mod ocds;
mod pages;
mod preemption;
mod privileges;
mod proofs;
mod province;
mod report;
mod road;
mod sandbox;
mod scheduling;
mod sealed;
mod tokens;
mod webhooks;
