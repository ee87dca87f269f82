//! The TLS crypto backend of outgoing HTTPS (webhook deliveries, the witness's polls).
//!
//! rustls needs one process-wide crypto provider. A build that links both of its backends
//! (the test build does: a dev-dependency pulls in the second) cannot pick one by itself and
//! would panic at the first HTTPS client, so every place that builds one names ring first.

/// Makes ring the process's TLS provider if none is set yet. Cheap and idempotent.
pub fn use_ring() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing the same provider is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
