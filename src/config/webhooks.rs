//! The webhook delivery worker's settings (`[webhooks]`).

use anyhow::bail;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// How often the worker looks for due deliveries, in milliseconds.
    pub poll_interval_ms: u64,
    /// Deliveries claimed per round (at most one per stream).
    pub batch_size: u32,
    /// Seconds a claimed delivery is reserved for its worker.
    pub lease_seconds: u64,
    /// Seconds before a POST without an answer counts as a failed attempt.
    pub timeout_seconds: u64,
    /// Delay after the first failed attempt, in milliseconds; later delays double.
    pub retry_initial_ms: u64,
    /// Longest delay between two attempts, in milliseconds.
    pub retry_max_delay_ms: u64,
    /// Attempts in all before a delivery is marked failed (and holds its stream back).
    pub max_attempts: u32,
}

impl WebhookSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.poll_interval_ms == 0
            || self.batch_size == 0
            || self.max_attempts == 0
            || self.timeout_seconds == 0
            || self.lease_seconds <= self.timeout_seconds
        {
            bail!(
                "webhooks.poll_interval_ms, batch_size, max_attempts and timeout_seconds must be \
                 at least 1, and lease_seconds longer than timeout_seconds"
            );
        }
        Ok(())
    }
}
