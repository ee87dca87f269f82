//! The printable page of the report: `templates/report/`, compiled into the binary, parsed
//! once on first use and rendered with minijinja (HTML escaping on, undefined values are
//! errors). The page is self-contained: inline CSS, no scripts, no fonts or images from
//! anywhere.

use std::sync::OnceLock;

use chrono::DateTime;
use minijinja::value::{Serde, ValueKind};
use minijinja::{Environment, UndefinedBehavior, Value};

use super::ListingReport;
use super::summary::{self, beijing_text};
use crate::domain::clock::beijing;
use crate::error::AppError;

/// The page's template and its stylesheet, by name.
const FILES: &[(&str, &str)] = &[
    (
        "listing.html",
        include_str!("../../../templates/report/listing.html"),
    ),
    (
        "report.css",
        include_str!("../../../templates/report/report.css"),
    ),
];

static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();

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

/// `{{ instant|bj }}`: Beijing time to the second, `—` for none.
fn bj(v: Value) -> String {
    if none(&v) {
        "—".into()
    } else {
        beijing_text(&text(&v))
    }
}

/// `{{ instant|bj_ms }}`: Beijing time to the millisecond (bids), `—` for none.
fn bj_ms(v: Value) -> String {
    if none(&v) {
        return "—".into();
    }
    let s = text(&v);
    DateTime::parse_from_rfc3339(&s)
        .map(|t| {
            t.with_timezone(&beijing())
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or(s)
}

/// `{{ instant|utc }}`: UTC to the second, `—` for none.
fn utc(v: Value) -> String {
    if none(&v) {
        return "—".into();
    }
    let s = text(&v);
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or(s)
}

/// `{{ code|label }}`: the Chinese name of a code, `—` for none.
fn label(v: Value) -> String {
    if none(&v) {
        "—".into()
    } else {
        summary::label(&text(&v)).to_string()
    }
}

/// `{{ text|dash }}`: the text, or `—` for none or empty.
fn dash(v: Value) -> String {
    if none(&v) { "—".into() } else { text(&v) }
}

/// `{{ hash|short }}`: the first 12 characters and an ellipsis.
fn short(v: Value) -> String {
    let s = text(&v);
    if s.chars().count() > 12 {
        format!("{}…", s.chars().take(12).collect::<String>())
    } else {
        s
    }
}

/// `{{ value|plain }}`: evidence for people: lists joined with commas, `—` for nothing.
fn plain(v: Value) -> String {
    if none(&v) {
        return "—".into();
    }
    if v.kind() == ValueKind::Seq {
        let items: Vec<String> = v
            .try_iter()
            .map(|it| it.map(|x| text(&x)).collect())
            .unwrap_or_default();
        return if items.is_empty() {
            "—".into()
        } else {
            items.join(", ")
        };
    }
    text(&v)
}

fn build() -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in FILES {
        env.add_template(name, source)
            .map_err(|e| format!("report template {name}: {e}"))?;
    }
    env.add_filter("yuan", yuan);
    env.add_filter("bj", bj);
    env.add_filter("bj_ms", bj_ms);
    env.add_filter("utc", utc);
    env.add_filter("label", label);
    env.add_filter("dash", dash);
    env.add_filter("short", short);
    env.add_filter("plain", plain);
    Ok(env)
}

/// The report as one printable HTML page.
pub fn render(report: &ListingReport) -> Result<String, AppError> {
    let env = ENV
        .get_or_init(build)
        .as_ref()
        .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    let page = env
        .get_template("listing.html")
        .and_then(|t| t.render(Serde(report)))
        .map_err(|e| AppError::internal(anyhow::anyhow!("rendering the report page: {e:#}")))?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_say_dash_for_nothing_and_format_the_rest() {
        assert_eq!(yuan(Value::from(())), "—");
        assert_eq!(yuan(Value::from("1234567.00")), "1,234,567.00");
        assert_eq!(
            bj(Value::from("2026-11-27T16:30:00Z")),
            "2026-11-28 00:30:00"
        );
        assert_eq!(
            utc(Value::from("2026-11-27T16:30:00.5Z")),
            "2026-11-27 16:30:00"
        );
        assert_eq!(label(Value::from("bid.placed")), "出价");
        assert_eq!(short(Value::from("0123456789abcdef")), "0123456789ab…");
        assert_eq!(plain(Value::from(Vec::<String>::new())), "—");
        assert_eq!(plain(Value::from(vec!["a", "b"])), "a, b");
        assert_eq!(dash(Value::from("")), "—");
    }

    #[test]
    fn the_templates_parse() {
        assert!(build().is_ok(), "{:?}", build().err());
    }
}
