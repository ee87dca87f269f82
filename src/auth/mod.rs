//! Authentication: password hashing, access and refresh tokens, accounts and logins, the
//! signed-in caller (`AuthUser`) and per-IP rate limits. Reading these from an HTTP request
//! is the api layer's work (`api::extract`).

pub mod accounts;
pub mod credentials;
pub mod login;
pub mod mfa;
pub mod password;
pub mod ratelimit;
pub mod tokens;
pub mod user;
pub mod verify_email;

pub use user::AuthUser;
