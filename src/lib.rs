//! asset-exchange: the backend of a provincial state-owned asset exchange.
//!
//! Layers, top to bottom; a module imports only modules below it (`tests/layers.rs` checks
//! every `use`, docs/architecture.md explains each layer):
//!
//! `cli`, `demo`, `startup` (wiring) → `api` (HTTP) → `jobs` → `telemetry` → `state` →
//! `exchange` (use cases) → `auth` → `notify` → `audit` → `live` → `metrics` → `store`
//! (diesel) → `config` → `error` → `random` → `domain` (pure rules, imports nothing).

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod exchange;
pub mod jobs;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod random;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tls;
