//! Money: yuan with exactly two decimals (分), never floating point. Kept as a
//! `rust_decimal::Decimal` in rules and the API, stored as whole fen (`i64`).
//!
//! The API accepts a JSON string (`"1500000.00"`, `"1500000"`) or a JSON integer and refuses
//! more than two decimals, negatives, exponents, NaN and JSON floats; it always answers with
//! a string with exactly two decimals.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest amount accepted: 10^12 yuan.
pub const MAX_YUAN: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be an amount in yuan such as \"1500000.00\"")]
    Malformed,
    #[error("must have at most 2 decimal places")]
    TooPrecise,
    #[error("must not be negative")]
    Negative,
    #[error("must not exceed 1000000000000.00")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Parses the decimal text form: digits, optionally a point and 1–2 digits.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let t = text.trim();
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        let digits_ok = !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit());
        if t.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        if !digits_ok || (t.contains('.') && frac.is_empty()) || int.len() > 16 {
            return Err(if int.len() > 16 && digits_ok {
                MoneyError::TooLarge
            } else {
                MoneyError::Malformed
            });
        }
        if frac.len() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        let d = Decimal::from_str(t).map_err(|_| MoneyError::Malformed)?;
        Self::from_decimal(d)
    }

    pub fn from_decimal(d: Decimal) -> Result<Self, MoneyError> {
        if d.is_sign_negative() && !d.is_zero() {
            return Err(MoneyError::Negative);
        }
        if d.normalize().scale() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        if d > Decimal::from(MAX_YUAN) {
            return Err(MoneyError::TooLarge);
        }
        let mut d = d;
        d.rescale(2);
        Ok(Money(d))
    }

    pub fn from_yuan(yuan: i64) -> Result<Self, MoneyError> {
        Self::from_decimal(Decimal::from(yuan))
    }

    /// From whole fen as stored.
    pub fn from_fen(fen: i64) -> Self {
        Money(Decimal::new(fen, 2))
    }

    /// Whole fen, as stored.
    pub fn fen(self) -> i64 {
        let mut d = self.0;
        d.rescale(2);
        i64::try_from(d.mantissa()).unwrap_or(i64::MAX)
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// `self` as a share of `whole` is at most `num/den`, computed exactly.
    pub fn at_most_share_of(self, whole: Money, num: i64, den: i64) -> bool {
        i128::from(self.fen()) * i128::from(den) <= i128::from(whole.fen()) * i128::from(num)
    }

    /// `self` is at least `num/den` of `whole`, computed exactly.
    pub fn at_least_share_of(self, whole: Money, num: i64, den: i64) -> bool {
        i128::from(self.fen()) * i128::from(den) >= i128::from(whole.fen()) * i128::from(num)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.fen().checked_add(other.fen()).map(Money::from_fen)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.fen().checked_sub(other.fen()).map(Money::from_fen)
    }

    /// `self * k`.
    pub fn checked_mul(self, k: i64) -> Option<Money> {
        self.fen().checked_mul(k).map(Money::from_fen)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.0;
        d.rescale(2);
        write!(f, "{d}")
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

struct MoneyVisitor;

impl Visitor<'_> for MoneyVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an amount in yuan as a string with at most 2 decimals, or a whole number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Money, E> {
        Money::parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Money, E> {
        let yuan = i64::try_from(v).map_err(|_| E::custom(MoneyError::TooLarge))?;
        Money::from_yuan(yuan).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Money, E> {
        if v < 0 {
            return Err(E::custom(MoneyError::Negative));
        }
        Money::from_yuan(v).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Money, E> {
        Err(E::custom(
            "must be a string such as \"1500000.50\" or a whole number, not a floating-point number",
        ))
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        d.deserialize_any(MoneyVisitor)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\d{1,13}(\.\d{1,2})?$"))
            .description(Some("Yuan with at most 2 decimals; requests also accept a whole number; responses always have exactly 2 decimals"))
            .examples([serde_json::json!("1500000.00")])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

#[cfg(test)]
mod tests {
    use super::*;

    fn de(json: &str) -> Result<Money, String> {
        serde_json::from_str::<Money>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn strings_and_integers_are_accepted_and_written_with_two_decimals() {
        assert_eq!(de("\"1500000.5\"").unwrap().to_string(), "1500000.50");
        assert_eq!(de("\"1500000\"").unwrap().to_string(), "1500000.00");
        assert_eq!(de("1500000").unwrap().to_string(), "1500000.00");
        assert_eq!(
            serde_json::to_string(&de("\"0.01\"").unwrap()).unwrap(),
            "\"0.01\""
        );
        assert_eq!(
            de("\"1000000000000.00\"").unwrap().fen(),
            100_000_000_000_000
        );
    }

    #[test]
    fn floats_exponents_nan_negatives_and_three_decimals_are_refused() {
        for bad in [
            "1.5",
            "\"1.234\"",
            "\"1e6\"",
            "\"NaN\"",
            "\"-1\"",
            "-1",
            "\"\"",
            "\" 1\"x",
            "\"1.\"",
            "\".5\"",
            "\"+1\"",
            "\"1,000\"",
            "1e3",
            "true",
            "null",
        ] {
            assert!(de(bad).is_err(), "{bad} accepted");
        }
        assert!(de("\"1000000000000.01\"").is_err());
        assert!(de("10000000000000").is_err());
        assert!(de("\"99999999999999999999\"").is_err());
    }

    #[test]
    fn fen_round_trip_is_exact() {
        for text in ["0.00", "0.01", "123456789012.34", "1000000000000.00"] {
            let m = Money::parse(text).unwrap();
            assert_eq!(Money::from_fen(m.fen()), m);
            assert_eq!(Money::from_fen(m.fen()).to_string(), text);
        }
    }

    #[test]
    fn shares_are_exact_at_the_edge() {
        let price = Money::parse("1000000.00").unwrap();
        assert!(
            Money::parse("300000.00")
                .unwrap()
                .at_most_share_of(price, 3, 10)
        );
        assert!(
            !Money::parse("300000.01")
                .unwrap()
                .at_most_share_of(price, 3, 10)
        );
        assert!(
            Money::parse("900000.00")
                .unwrap()
                .at_least_share_of(price, 9, 10)
        );
        assert!(
            !Money::parse("899999.99")
                .unwrap()
                .at_least_share_of(price, 9, 10)
        );
    }
}
