//! asset-exchange: the backend of a provincial state-owned asset exchange.
//!
//! Layers (imports point downwards only): `api` (HTTP) → `auth`, `audit` (services) →
//! `store` (diesel) → `domain` (pure rules). `config`, `startup` and `telemetry` wire them.

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
