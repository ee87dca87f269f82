//! Rules of two-factor authentication (TOTP, RFC 6238): which roles must use it, what a code
//! a person types is (a six-digit TOTP code or a recovery code), when a TOTP code is fresh
//! (never twice within its step), and the shape of recovery codes.

use super::Role;

/// How many recovery codes an enrolment hands out.
pub const RECOVERY_CODES: usize = 10;
/// Random bytes behind one recovery code (80 bits).
pub const RECOVERY_CODE_BYTES: usize = 10;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: usize = 6;

/// What a second-factor code turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Factor {
    /// Six digits: a code of the authenticator app.
    Totp(String),
    /// Anything else of the right alphabet: a recovery code, normalised (lower case, no
    /// separators).
    Recovery(String),
}

/// Reads a typed code: spaces around and inside are ignored; six digits are a TOTP code;
/// letters and digits with optional `-` separators are a recovery code. `None`: neither.
pub fn classify(code: &str) -> Option<Factor> {
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() == TOTP_DIGITS && compact.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Factor::Totp(compact));
    }
    let normal: String = compact
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let fits = !normal.is_empty()
        && normal.len() <= 64
        && normal.bytes().all(|b| b.is_ascii_alphanumeric());
    fits.then_some(Factor::Recovery(normal))
}

/// A TOTP code is accepted only for a step later than the last one accepted, so a code seen
/// over someone's shoulder (or sent twice) does not work again.
pub fn is_fresh_step(last_used: Option<i64>, step: i64) -> bool {
    last_used.is_none_or(|last| step > last)
}

/// Whether an account of `role` must have MFA on before it may do anything else.
pub fn must_enroll(role: Role, required: &[Role], enrolled: bool) -> bool {
    !enrolled && required.contains(&role)
}

/// Reads a comma-separated list of role names (`operator,auditor,admin`); empty is none.
pub fn parse_roles(list: &str) -> Result<Vec<Role>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Role::parse(s).ok_or_else(|| format!("unknown role {s:?}")))
        .collect()
}

/// Writes random bytes as a recovery code people can copy: lower-case RFC 4648 base32 in
/// groups of four, e.g. `k3q7-x2mf-9abc-d4ef`.
pub fn format_recovery_code(bytes: &[u8; RECOVERY_CODE_BYTES]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut chars = Vec::with_capacity(RECOVERY_CODE_BYTES * 8 / 5);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for b in bytes {
        buffer = (buffer << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            chars.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    chars
        .chunks(4)
        .map(|g| g.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_are_a_totp_code_and_the_rest_a_recovery_code() {
        assert_eq!(classify(" 123 456 "), Some(Factor::Totp("123456".into())));
        assert_eq!(
            classify("K3Q7-x2mf-9ABC-d4ef"),
            Some(Factor::Recovery("k3q7x2mf9abcd4ef".into()))
        );
        assert_eq!(
            classify("1234567"),
            Some(Factor::Recovery("1234567".into()))
        );
        assert_eq!(classify(""), None);
        assert_eq!(classify("--"), None);
        assert_eq!(classify("drop table;"), None);
        assert_eq!(classify(&"a".repeat(65)), None);
    }

    #[test]
    fn a_step_is_accepted_once_and_never_an_earlier_one() {
        assert!(is_fresh_step(None, 100));
        assert!(is_fresh_step(Some(99), 100));
        assert!(!is_fresh_step(Some(100), 100));
        assert!(!is_fresh_step(Some(101), 100));
    }

    #[test]
    fn only_the_required_roles_must_enroll_and_only_until_they_do() {
        let staff = [Role::Operator, Role::Auditor, Role::Admin];
        assert!(must_enroll(Role::Admin, &staff, false));
        assert!(!must_enroll(Role::Admin, &staff, true));
        assert!(!must_enroll(Role::Bidder, &staff, false));
        assert!(!must_enroll(Role::Admin, &[], false));
    }

    #[test]
    fn role_lists_are_read_and_unknown_names_refused() {
        assert_eq!(
            parse_roles("operator, auditor,admin"),
            Ok(vec![Role::Operator, Role::Auditor, Role::Admin])
        );
        assert_eq!(parse_roles(""), Ok(vec![]));
        assert!(parse_roles("operator,root").is_err());
    }

    #[test]
    fn recovery_codes_are_sixteen_base32_characters_in_groups_of_four() {
        let code = format_recovery_code(&[0xff; RECOVERY_CODE_BYTES]);
        assert_eq!(code, "7777-7777-7777-7777");
        let code = format_recovery_code(&[0; RECOVERY_CODE_BYTES]);
        assert_eq!(code, "aaaa-aaaa-aaaa-aaaa");
        let code = format_recovery_code(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(code.len(), 19);
        assert!(matches!(classify(&code), Some(Factor::Recovery(c)) if c.len() == 16));
    }
}
