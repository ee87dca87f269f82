//! Webhooks to the supervision platform: which audit actions an admin's event pattern
//! covers, what a registration must look like, and the signature over a delivery's body.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The shortest secret accepted (characters).
pub const MIN_SECRET_CHARS: usize = 16;
/// The longest URL accepted (characters).
pub const MAX_URL_CHARS: usize = 2_000;

/// The families of audit actions a webhook may follow with `family.*`.
pub const FAMILIES: [&str; 8] = [
    "listing",
    "registration",
    "deposit",
    "auction",
    "bid",
    "negotiation",
    "deal",
    "alert",
];

/// API names that are not audit action names, and the actions they stand for. The API calls
/// an accepted bid `bid.accepted`; the trail records it as `bid.placed` (an English
/// auction's bid) or `bid.sealed` (a sealed bid, whose amount its event never holds).
const ALIASES: [(&str, &[&str]); 1] = [("bid.accepted", &["bid.placed", "bid.sealed"])];

/// How one subscription compares an audit action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The action equals this name.
    Exact(String),
    /// The action starts with this (`listing.`).
    Prefix(String),
}

impl Match {
    pub fn kind(&self) -> &'static str {
        match self {
            Match::Exact(_) => "exact",
            Match::Prefix(_) => "prefix",
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Match::Exact(s) | Match::Prefix(s) => s,
        }
    }

    /// Whether an audit action matches (the database's trigger applies the same rule).
    pub fn covers(&self, action: &str) -> bool {
        match self {
            Match::Exact(s) => action == s,
            Match::Prefix(p) => action.starts_with(p.as_str()),
        }
    }
}

/// Expands one pattern of the API (`listing.*`, `bid.accepted`, `deal.closed`) into the
/// matches it stands for, or `None` when it names nothing known.
pub fn expand(pattern: &str) -> Option<Vec<Match>> {
    if let Some((_, actions)) = ALIASES.iter().find(|(name, _)| *name == pattern) {
        return Some(actions.iter().map(|a| Match::Exact((*a).into())).collect());
    }
    if let Some(family) = pattern.strip_suffix(".*") {
        return FAMILIES
            .contains(&family)
            .then(|| vec![Match::Prefix(format!("{family}."))]);
    }
    let (family, name) = pattern.split_once('.')?;
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch == '_' || ch.is_ascii_digit());
    (FAMILIES.contains(&family) && plain).then(|| vec![Match::Exact(pattern.into())])
}

/// Whether `url` is an absolute http(s) URL with a host.
pub fn valid_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    url.chars().count() <= MAX_URL_CHARS
        && !host.is_empty()
        && !host.contains('@')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether a secret is long enough.
pub fn valid_secret(secret: &str) -> bool {
    secret.chars().count() >= MIN_SECRET_CHARS
}

/// The `X-Signature` header's value: `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, body)))
}

/// Checks an `X-Signature` value against `body` in constant time (the receiver's side).
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    m.update(body);
    m.verify_slice(&sig).is_ok()
}

fn mac(secret: &str, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: new_from_slice cannot fail for Sha256.
    match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(mut m) => {
            m.update(body);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_pattern_is_a_prefix_and_covers_its_family_only() {
        let m = expand("listing.*").unwrap();
        assert_eq!(m, vec![Match::Prefix("listing.".into())]);
        assert!(m[0].covers("listing.disclosure_ended"));
        assert!(!m[0].covers("listings.x"));
        assert!(!m[0].covers("deal.closed"));
    }

    #[test]
    fn bid_accepted_stands_for_the_bid_events_of_the_trail() {
        let m = expand("bid.accepted").unwrap();
        assert!(m.iter().any(|x| x.covers("bid.placed")));
        assert!(m.iter().any(|x| x.covers("bid.sealed")));
        assert!(!m.iter().any(|x| x.covers("bid.accepted")));
    }

    #[test]
    fn unknown_patterns_are_refused() {
        for p in [
            "",
            "*",
            "user.*",
            "auth.login",
            "listing.",
            "listing.*.*",
            "Deal.closed",
            "deal.Closed",
        ] {
            assert!(expand(p).is_none(), "{p}");
        }
        assert!(expand("alert.raised").is_some());
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        assert!(valid_url("https://sasac.zj.gov.cn/hooks"));
        assert!(valid_url("http://127.0.0.1:8081/"));
        for u in [
            "ftp://x/",
            "https://",
            "https:///x",
            "http://a b/",
            "javascript:x",
            "http://u@h/",
        ] {
            assert!(!valid_url(u), "{u}");
        }
    }

    #[test]
    fn a_signature_verifies_with_its_secret_only() {
        let sig = signature("0123456789abcdef", b"{\"id\":1}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify("0123456789abcdef", b"{\"id\":1}", &sig));
        assert!(!verify("0123456789abcdeX", b"{\"id\":1}", &sig));
        assert!(!verify("0123456789abcdef", b"{\"id\":2}", &sig));
        assert!(!verify("0123456789abcdef", b"{\"id\":1}", "sha256=zz"));
    }
}
