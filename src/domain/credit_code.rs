//! The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from a
//! 31-symbol alphabet, the last one a check character over the first 17.

/// The code alphabet; a character's value is its position (I, O, Z, S and V are not used).
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1 to 17.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Why a credit code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    #[error("a unified social credit code has exactly 18 characters")]
    Length,
    #[error("character {0:?} is not allowed in a unified social credit code")]
    Character(char),
    #[error("the check character does not match the rest of the code")]
    CheckCharacter,
}

/// A validated unified social credit code, upper-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditCode(String);

impl CreditCode {
    /// Validates `input` (surrounding spaces ignored, letters in either case).
    pub fn parse(input: &str) -> Result<Self, CreditCodeError> {
        let code = input.trim().to_ascii_uppercase();
        if code.chars().count() != 18 {
            return Err(CreditCodeError::Length);
        }
        let mut values = [0u32; 18];
        for (slot, c) in values.iter_mut().zip(code.chars()) {
            *slot = value_of(c).ok_or(CreditCodeError::Character(c))?;
        }
        let body: [u32; 17] = values[..17]
            .try_into()
            .map_err(|_| CreditCodeError::Length)?;
        if check_value(&body) != values[17] {
            return Err(CreditCodeError::CheckCharacter);
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Computes the check character for the first 17 characters of a code, or `None` if the
/// input is not 17 characters of the alphabet. Useful to build test and demo data.
pub fn check_character(first17: &str) -> Option<char> {
    let upper = first17.to_ascii_uppercase();
    let values: Vec<u32> = upper.chars().map(value_of).collect::<Option<_>>()?;
    let body: [u32; 17] = values.try_into().ok()?;
    Some(char::from(ALPHABET[check_value(&body) as usize]))
}

fn value_of(c: char) -> Option<u32> {
    let byte = u8::try_from(c).ok()?;
    ALPHABET.iter().position(|&a| a == byte).map(|p| p as u32)
}

fn check_value(body: &[u32; 17]) -> u32 {
    let sum: u32 = body.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    (31 - sum % 31) % 31
}

#[cfg(test)]
mod tests {
    use super::*;

    // Well-formed codes whose check characters were worked out by hand from the standard.
    const REAL_CODES: [&str; 3] = [
        "91110000100010433L",
        "91310000132201024L",
        "91350100M000100Y43",
    ];

    #[test]
    fn published_codes_are_accepted() {
        for code in REAL_CODES {
            assert_eq!(CreditCode::parse(code).unwrap().as_str(), code);
        }
    }

    #[test]
    fn lower_case_and_spaces_are_normalised() {
        let code = CreditCode::parse("  91110000100010433l ").unwrap();
        assert_eq!(code.as_str(), "91110000100010433L");
    }

    #[test]
    fn a_changed_character_breaks_the_check() {
        assert_eq!(
            CreditCode::parse("91110000100010434L"),
            Err(CreditCodeError::CheckCharacter)
        );
    }

    #[test]
    fn every_single_digit_change_is_detected() {
        let code = REAL_CODES[0];
        for pos in 0..17 {
            for replacement in ALPHABET.iter().map(|&b| char::from(b)) {
                let mut chars: Vec<char> = code.chars().collect();
                if chars[pos] == replacement {
                    continue;
                }
                chars[pos] = replacement;
                let changed: String = chars.into_iter().collect();
                assert!(CreditCode::parse(&changed).is_err(), "{changed} accepted");
            }
        }
    }

    #[test]
    fn wrong_length_is_refused() {
        assert_eq!(
            CreditCode::parse("9111000010001043"),
            Err(CreditCodeError::Length)
        );
        assert_eq!(CreditCode::parse(""), Err(CreditCodeError::Length));
        assert_eq!(
            CreditCode::parse("91110000100010433LX"),
            Err(CreditCodeError::Length)
        );
    }

    #[test]
    fn letters_outside_the_alphabet_are_refused() {
        for bad in ['I', 'O', 'Z', 'S', 'V', '-', '统'] {
            let mut code: Vec<char> = REAL_CODES[0].chars().collect();
            code[5] = bad;
            let code: String = code.into_iter().collect();
            assert_eq!(
                CreditCode::parse(&code),
                Err(CreditCodeError::Character(bad))
            );
        }
    }

    #[test]
    fn check_character_builds_valid_codes() {
        let body = "91440300MA5F00000";
        let check = check_character(body).unwrap();
        assert!(CreditCode::parse(&format!("{body}{check}")).is_ok());
        assert_eq!(check_character("short"), None);
    }

    #[test]
    fn check_value_zero_is_written_as_zero() {
        // Find a body whose weighted sum is a multiple of 31: its check character is '0'.
        let mut body: Vec<char> = "91110000100010433".chars().collect();
        for c in ALPHABET.iter().map(|&b| char::from(b)) {
            body[16] = c;
            let s: String = body.iter().collect();
            if check_character(&s) == Some('0') {
                assert!(CreditCode::parse(&format!("{s}0")).is_ok());
                return;
            }
        }
        panic!("no body with check value 0 found");
    }
}
