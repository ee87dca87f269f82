//! Rules for accounts: what a valid e-mail, password, name, phone and locale are, and when
//! failed logins lock an account.

use chrono::{DateTime, Duration, Utc};

/// A field-level rule violation: the field and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MAX_EMAIL_BYTES: usize = 254;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_ORG_NAME_CHARS: usize = 200;
pub const LOCALES: [&str; 2] = ["zh-CN", "en"];
pub const DEFAULT_LOCALE: &str = "zh-CN";

/// Passwords that appear at the top of every leaked-password list and pass a length check.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "a123456789",
    "0123456789",
    "9876543210",
    "1111111111",
    "0000000000",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "asdfghjkl1",
    "zxcvbnm123",
    "password12",
    "password123",
    "password1234",
    "password1!",
    "passw0rd123",
    "iloveyou12",
    "admin12345",
    "administrator",
    "welcome123",
    "letmein123",
    "abc1234567",
    "abcdefghij",
    "aa12345678",
    "woaini1314",
    "5201314520",
    "changeme123",
    "football123",
    "baseball123",
    "sunshine123",
    "princess123",
    "dragon12345",
    "monkey12345",
    "superman123",
];

/// Normalises an e-mail address (trimmed, lower-case) and checks its shape.
pub fn normalize_email(input: &str) -> Result<String, FieldError> {
    let email = input.trim().to_lowercase();
    let invalid = || FieldError::new("email", "must be an e-mail address like name@example.com");
    if email.is_empty() || email.len() > MAX_EMAIL_BYTES {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c);
    if local.is_empty()
        || local.len() > 64
        || domain.contains('@')
        || email.chars().any(bad_char)
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || domain.starts_with('-')
    {
        return Err(invalid());
    }
    Ok(email)
}

/// Checks the password policy: at least 10 characters, not the e-mail or its local part,
/// not one character repeated, not a well-known common password.
pub fn check_password(password: &str, email: &str) -> Result<(), FieldError> {
    let err = |m: &str| Err(FieldError::new("password", m));
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return err("must be at least 10 characters long");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return err("must be at most 1024 bytes long");
    }
    let lower = password.to_lowercase();
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if lower == email || (!local.is_empty() && lower == local) {
        return err("must not be your e-mail address");
    }
    let mut chars = lower.chars();
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return err("must not repeat a single character");
    }
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return err("is too common; choose one that is not on leaked-password lists");
    }
    Ok(())
}

/// Trims a display name and checks it is present and not too long.
pub fn check_name(
    field: &'static str,
    input: &str,
    max_chars: usize,
) -> Result<String, FieldError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if name.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// Checks an optional phone number: digits with an optional leading `+`, and spaces or
/// dashes between groups; 5 to 20 digits.
pub fn check_phone(input: &str) -> Result<String, FieldError> {
    let phone = input.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let shape_ok = phone
        .char_indices()
        .all(|(i, c)| c.is_ascii_digit() || c == ' ' || c == '-' || (c == '+' && i == 0));
    if !shape_ok || !(5..=20).contains(&digits) {
        return Err(FieldError::new(
            "phone",
            "must be a phone number such as +86 138 0000 0000",
        ));
    }
    Ok(phone.to_string())
}

/// Checks a locale against the ones we write e-mails in.
pub fn check_locale(input: &str) -> Result<String, FieldError> {
    LOCALES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(input.trim()))
        .map(|l| l.to_string())
        .ok_or_else(|| FieldError::new("locale", "must be zh-CN or en"))
}

/// The lockout policy for failed logins.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failed: u32,
    pub duration: Duration,
}

/// What a failed login does to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedLoginOutcome {
    /// Count the failure; the account stays open.
    Counted { failed_logins: u32 },
    /// This failure reaches the limit: lock until the given instant and reset the count.
    Locked { until: DateTime<Utc> },
}

impl LockoutPolicy {
    /// Is the account locked at `now`?
    pub fn is_locked(&self, locked_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        locked_until.is_some_and(|until| now < until)
    }

    /// Decides what one more failure does, given the failures counted so far.
    pub fn on_failure(&self, failed_so_far: u32, now: DateTime<Utc>) -> FailedLoginOutcome {
        let failed = failed_so_far.saturating_add(1);
        if failed >= self.max_failed {
            FailedLoginOutcome::Locked {
                until: now + self.duration,
            }
        } else {
            FailedLoginOutcome::Counted {
                failed_logins: failed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            normalize_email("  Li.Wei@Example.COM ").unwrap(),
            "li.wei@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@b.com.",
            "a@b..com",
            "<a>@b.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
        assert!(normalize_email(&format!("{}@b.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn password_needs_ten_characters_counted_as_characters() {
        assert!(check_password("Sh0rt!pw9", "x@y.com").is_err());
        assert!(check_password("Tr1cky-Horse", "x@y.com").is_ok());
        // ten Chinese characters are ten characters, though thirty bytes
        assert!(check_password("国有资产交易平台密码", "x@y.com").is_ok());
    }

    #[test]
    fn password_equal_to_the_email_is_refused() {
        assert!(check_password("Li.Wei@Example.com", "li.wei@example.com").is_err());
        assert!(check_password("LI.WEI.2026", "li.wei.2026@example.com").is_err());
    }

    #[test]
    fn common_and_repeated_passwords_are_refused() {
        assert!(check_password("Password123", "x@y.com").is_err());
        assert!(check_password("1234567890", "x@y.com").is_err());
        assert!(check_password("aaaaaaaaaaaa", "x@y.com").is_err());
    }

    #[test]
    fn overlong_password_is_refused() {
        assert!(check_password(&"ab".repeat(600), "x@y.com").is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("name", "  王小明 ", 100).unwrap(), "王小明");
        assert!(check_name("name", "   ", 100).is_err());
        assert!(check_name("name", &"字".repeat(101), 100).is_err());
        assert!(check_name("name", "a\u{0}b", 100).is_err());
    }

    #[test]
    fn phones_and_locales() {
        assert!(check_phone("+86 138-0000-0000").is_ok());
        assert!(check_phone("13800000000").is_ok());
        assert!(check_phone("12a45678").is_err());
        assert!(check_phone("1+2345678").is_err());
        assert!(check_phone("123").is_err());
        assert_eq!(check_locale("EN").unwrap(), "en");
        assert_eq!(check_locale("zh-cn").unwrap(), "zh-CN");
        assert!(check_locale("fr").is_err());
    }

    #[test]
    fn fifth_failure_locks_for_the_configured_time() {
        let policy = LockoutPolicy {
            max_failed: 5,
            duration: Duration::minutes(15),
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap();
        assert_eq!(
            policy.on_failure(3, now),
            FailedLoginOutcome::Counted { failed_logins: 4 }
        );
        let until = now + Duration::minutes(15);
        assert_eq!(
            policy.on_failure(4, now),
            FailedLoginOutcome::Locked { until }
        );
        assert!(policy.is_locked(Some(until), now));
        assert!(
            !policy.is_locked(Some(until), until),
            "the end instant is exclusive"
        );
        assert!(!policy.is_locked(None, now));
    }
}
