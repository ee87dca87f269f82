//! OCDS amounts: money as an exact JSON number, in yuan, with its currency.

use super::CURRENCY;
use crate::domain::money::Money;
use serde::Serialize;

/// An OCDS amount as a JSON number.
///
/// serde_json is built without `arbitrary_precision`, so a number goes out through the f64
/// nearest to it. Money has exactly two decimals and at most 10^12 yuan: at most 15
/// significant digits. Every decimal of at most 15 significant digits has its own nearest
/// f64 (f64 keeps 15 decimal digits), and serde_json prints the shortest text that reads back
/// as that f64, which therefore is this decimal (trailing zeros dropped: `1.50` → `1.5`).
/// This is the only float in the service; the unit tests prove the round trip.
pub fn to_json_number(m: Money) -> serde_json::Number {
    // Rust parses decimal text to the correctly rounded nearest f64.
    m.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        // Unreachable (the text is always a finite decimal); whole yuan rather than a panic.
        .unwrap_or_else(|| serde_json::Number::from(m.fen() / 100))
}
#[derive(Debug, Clone, Serialize)]
pub struct Amount {
    pub amount: serde_json::Number,
    pub currency: &'static str,
}

impl Amount {
    pub(super) fn fen(fen: i64) -> Self {
        Self {
            amount: to_json_number(Money::from_fen(fen)),
            currency: CURRENCY,
        }
    }
}
