//! Rendering of the public pages: the templates, stylesheet, script and string tables of
//! `templates/pages/`, compiled into the binary, parsed once on first use and rendered with
//! minijinja (HTML escaping on for `.html`, undefined values are errors). Every text a page
//! shows comes from `strings.{lang}.toml`, so a page is the same template in both languages.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::DateTime;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::domain::clock::beijing;
use crate::error::AppError;
use crate::exchange::report::summary;

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../../templates/pages/layout.html"),
    ),
    (
        "board.html",
        include_str!("../../../templates/pages/board.html"),
    ),
    (
        "listing.html",
        include_str!("../../../templates/pages/listing.html"),
    ),
    (
        "message.html",
        include_str!("../../../templates/pages/message.html"),
    ),
    (
        "token_form.html",
        include_str!("../../../templates/pages/token_form.html"),
    ),
];

/// Files served as they are under `/assets/`: name, content type, bytes.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "pages.css",
        "text/css; charset=utf-8",
        include_str!("../../../templates/pages/pages.css"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../templates/pages/pages.js"),
    ),
];

const STRINGS_ZH: &str = include_str!("../../../templates/pages/strings.zh-CN.toml");
const STRINGS_EN: &str = include_str!("../../../templates/pages/strings.en.toml");

/// The language of a page: Chinese first, English on request (`?lang=en`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// `en` (any case) is English; anything else, or nothing, is Chinese.
    pub fn from_query(q: Option<&str>) -> Self {
        match q {
            Some(l) if l.eq_ignore_ascii_case("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// The BCP 47 tag, for `lang` attributes.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Self {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

struct Pages {
    env: Environment<'static>,
    zh: BTreeMap<String, String>,
    en: BTreeMap<String, String>,
}

static PAGES: OnceLock<Result<Pages, String>> = OnceLock::new();

fn none(v: &Value) -> bool {
    v.is_none() || v.is_undefined() || v.as_str().is_some_and(str::is_empty)
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// `{{ amount|yuan }}`: money with thousands separators, `—` for none.
fn yuan(v: Value) -> String {
    if none(&v) {
        "—".into()
    } else {
        summary::yuan(&text(&v))
    }
}

fn beijing_fmt(v: &Value, format: &str) -> String {
    if none(v) {
        return "—".into();
    }
    let s = text(v);
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&beijing()).format(format).to_string())
        .unwrap_or(s)
}

/// `{{ instant|bj }}`: Beijing wall-clock time to the minute, `—` for none.
fn bj(v: Value) -> String {
    beijing_fmt(&v, "%Y-%m-%d %H:%M")
}

/// `{{ instant|bj_s }}`: Beijing wall-clock time to the second, `—` for none.
fn bj_s(v: Value) -> String {
    beijing_fmt(&v, "%Y-%m-%d %H:%M:%S")
}

/// `{{ seconds|clock }}`: a duration as `M:SS` or `H:MM:SS`.
fn clock(v: Value) -> String {
    let secs = i64::try_from(v).unwrap_or(0).max(0);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn strings(source: &str, name: &str) -> Result<BTreeMap<String, String>, String> {
    toml::from_str(source).map_err(|e| format!("page strings {name}: {e}"))
}

fn build() -> Result<Pages, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| format!("page template {name}: {e}"))?;
    }
    env.add_filter("yuan", yuan);
    env.add_filter("bj", bj);
    env.add_filter("bj_s", bj_s);
    env.add_filter("clock", clock);
    let zh = strings(STRINGS_ZH, "zh-CN")?;
    let en = strings(STRINGS_EN, "en")?;
    if let Some(k) = zh.keys().find(|k| !en.contains_key(*k)) {
        return Err(format!("page string {k} has no English text"));
    }
    if let Some(k) = en.keys().find(|k| !zh.contains_key(*k)) {
        return Err(format!("page string {k} has no Chinese text"));
    }
    Ok(Pages { env, zh, en })
}

fn pages() -> Result<&'static Pages, AppError> {
    PAGES
        .get_or_init(build)
        .as_ref()
        .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))
}

/// What every page's layout needs besides its own data.
#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    /// `zh-CN` or `en`.
    pub lang: &'static str,
    /// The other language's tag, for the toggle.
    pub other_lang: &'static str,
    /// This page in the other language.
    pub other_lang_url: String,
    /// `?lang=en` in English (for links without a query), else empty.
    pub lq: &'static str,
    /// `&lang=en` in English (for links with a query), else empty.
    pub la: &'static str,
    /// Ask search engines not to index (previews, token pages, errors).
    pub noindex: bool,
    /// The page's public address, printed at the foot of a printout.
    pub canonical: String,
}

impl Frame {
    /// The frame of a page at `path` whose query (without `lang`) is `query`.
    pub fn new(lang: Lang, path: &str, query: &[(String, String)]) -> Self {
        let mut other: Vec<(String, String)> =
            query.iter().filter(|(k, _)| k != "lang").cloned().collect();
        if lang.other() == Lang::En {
            other.push(("lang".into(), "en".into()));
        }
        Frame {
            lang: lang.tag(),
            other_lang: lang.other().tag(),
            other_lang_url: with_query(path, &other),
            lq: if lang == Lang::En { "?lang=en" } else { "" },
            la: if lang == Lang::En { "&lang=en" } else { "" },
            noindex: false,
            canonical: String::new(),
        }
    }
}

/// `path` with `query` percent-encoded after it.
pub fn with_query(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Renders template `name` with the frame, the language's strings (`t`) and `data` (whose
/// fields become top-level names).
pub fn render(
    name: &str,
    lang: Lang,
    frame: &Frame,
    data: &impl Serialize,
) -> Result<String, AppError> {
    let p = pages()?;
    let strings = match lang {
        Lang::Zh => &p.zh,
        Lang::En => &p.en,
    };
    let ctx = minijinja::context! {
        frame => Serde(frame),
        t => Serde(strings),
        ..Value::from(Serde(data))
    };
    p.env
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| AppError::internal(anyhow::anyhow!("rendering page {name}: {e:#}")))
}

/// One string of the language's table (for texts built outside templates).
pub fn string(lang: Lang, key: &str) -> String {
    pages()
        .ok()
        .and_then(|p| match lang {
            Lang::Zh => p.zh.get(key),
            Lang::En => p.en.get(key),
        })
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_and_both_string_tables_load_with_the_same_keys() {
        assert!(build().is_ok(), "{:?}", build().err());
    }

    #[test]
    fn filters_format_money_time_and_durations() {
        assert_eq!(yuan(Value::from("1234567.00")), "1,234,567.00");
        assert_eq!(yuan(Value::from(())), "—");
        assert_eq!(bj(Value::from("2026-11-27T16:30:00Z")), "2026-11-28 00:30");
        assert_eq!(
            bj_s(Value::from("2026-11-27T16:30:05.250Z")),
            "2026-11-28 00:30:05"
        );
        assert_eq!(clock(Value::from(299)), "4:59");
        assert_eq!(clock(Value::from(3725)), "1:02:05");
        assert_eq!(clock(Value::from(-3)), "0:00");
    }

    #[test]
    fn the_language_toggle_keeps_the_rest_of_the_query() {
        let q = vec![
            ("kind".to_string(), "equity_transfer".to_string()),
            ("q".to_string(), "股权 & 厂房".to_string()),
            ("lang".to_string(), "en".to_string()),
        ];
        let f = Frame::new(Lang::En, "/", &q);
        assert_eq!(
            f.other_lang_url,
            "/?kind=equity_transfer&q=%E8%82%A1%E6%9D%83%20%26%20%E5%8E%82%E6%88%BF"
        );
        assert_eq!(f.lang, "en");
        let f = Frame::new(Lang::Zh, "/listings/3", &[]);
        assert_eq!(f.other_lang_url, "/listings/3?lang=en");
        assert_eq!(f.lq, "");
    }
}
