//! Authentication: password hashing, access and refresh tokens, the extractors handlers use
//! to require a signed-in user or a role, and per-IP rate limits.

pub mod accounts;
pub mod extract;
pub mod login;
pub mod password;
pub mod ratelimit;
pub mod tokens;
pub mod verify_email;

pub use extract::{AuthUser, Staff};
