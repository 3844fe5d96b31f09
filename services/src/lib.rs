//! Connection-swap services.
