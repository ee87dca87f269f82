//! `ApiJson<T>`: the request-body extractor every endpoint uses. It answers in problem+json
//! for a wrong content type (415), an oversize body (413, limit from configuration), broken
//! JSON (400 `malformed_json`) and a body of the wrong shape (422 `validation_failed`, naming
//! the field, including unknown fields).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldProblem};
use crate::state::AppState;

/// The maximum JSON nesting we parse (serde_json itself stops at 128).
const MAX_DEPTH: usize = 64;

pub struct ApiJson<T>(pub T);

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload, false);
        Box::pin(async move { parse(&body.await?).map(ApiJson) })
    }
}

/// Like [`ApiJson`], for bodies that may be left out entirely: an empty body (with or
/// without a content type) is `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload, true);
        Box::pin(async move {
            let body = body.await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            parse(&body).map(OptionalJson)
        })
    }
}

/// Reads the body within the configured limit, checking the content type (which an empty
/// body may lack when `allow_empty`).
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    allow_empty: bool,
) -> Pin<Box<dyn Future<Output = Result<BytesMut, AppError>>>> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(65_536, |s| s.settings.server.max_body_bytes);
    let json = is_json(req);
    let declared: Option<usize> = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut payload = payload.take();
    Box::pin(async move {
        if declared.is_some_and(|n| n > limit) {
            return Err(AppError::PayloadTooLarge { limit });
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                AppError::bad_request("malformed_body", format!("the body could not be read: {e}"))
            })?;
            if body.len() + chunk.len() > limit {
                return Err(AppError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        if !(json || allow_empty && body.is_empty()) {
            return Err(AppError::UnsupportedMediaType);
        }
        Ok(body)
    })
}

/// Parses a JSON body into `T`, mapping every failure to its problem.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::bad_request(
            "malformed_json",
            "the body is empty; send a JSON object",
        ));
    }
    if nesting_depth(body) > MAX_DEPTH {
        return Err(AppError::bad_request(
            "malformed_json",
            "the JSON is nested too deeply",
        ));
    }
    if let Some(field) = nul_in_strings(body) {
        return Err(AppError::Validation(vec![FieldProblem {
            field,
            message: "must not contain the NUL character (U+0000)".into(),
        }]));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => AppError::Validation(vec![FieldProblem {
                field,
                message: clean(&inner),
            }]),
            // serde_json reports a value of the wrong kind where an enum is expected (a
            // number for `"decision"`) as "expected value", a syntax error; when the body is
            // valid JSON it is the shape that is wrong, which is a 422 naming the field.
            serde_json::error::Category::Syntax if is_valid_json(body) => {
                AppError::Validation(vec![FieldProblem {
                    field,
                    message: "invalid type: expected one of this field's documented values".into(),
                }])
            }
            _ => AppError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {}", clean(&inner)),
            ),
        }
    })?;
    de.end().map_err(|e| {
        AppError::bad_request(
            "malformed_json",
            format!("trailing data after the JSON value: {}", clean(&e)),
        )
    })?;
    Ok(value)
}

/// The path of the first string (or key) holding U+0000, which no text field may contain
/// (PostgreSQL cannot store it at all). JSON can carry it only as the escape `\u0000`, so
/// bodies without that sequence are not parsed twice.
fn nul_in_strings(body: &[u8]) -> Option<String> {
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    fn walk(v: &serde_json::Value, path: &str) -> Option<String> {
        match v {
            serde_json::Value::String(s) => s.contains('\0').then(|| path.to_string()),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, &format!("{path}[{i}]"))),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k.contains('\0') {
                    return Some(here);
                }
                walk(item, &here)
            }),
            _ => None,
        }
    }
    walk(&value, "")
}

/// Whether `body` is one well-formed JSON value (whatever its shape). Parsed in full, not
/// skipped over: skipping checks neither UTF-8 in strings nor that numbers are in range.
fn is_valid_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok()
}

/// serde_json's message without the "at line 1 column 5" suffix, which says nothing useful
/// to a client and varies with formatting.
fn clean(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The deepest nesting of arrays and objects, ignoring brackets inside strings.
fn nesting_depth(body: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in body {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[expect(dead_code)]
        name: String,
        #[expect(dead_code)]
        count: u32,
    }

    fn code(r: Result<Body, AppError>) -> &'static str {
        r.unwrap_err().code()
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert_eq!(code(parse(b"{\"name\": ")), "malformed_json");
        assert_eq!(code(parse(b"")), "malformed_json");
        assert_eq!(
            code(parse(b"{\"name\":\"a\",\"count\":1} x")),
            "malformed_json"
        );
    }

    #[test]
    fn shape_errors_name_the_field() {
        match parse::<Body>(b"{\"name\":\"a\",\"count\":\"x\"}").unwrap_err() {
            AppError::Validation(errors) => assert_eq!(errors[0].field, "count"),
            other => panic!("{other:?}"),
        }
        match parse::<Body>(b"{\"name\":\"a\",\"count\":1,\"admin\":true}").unwrap_err() {
            AppError::Validation(errors) => assert!(errors[0].message.contains("unknown field")),
            other => panic!("{other:?}"),
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Decision {
        Approve,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Review {
        #[expect(dead_code)]
        decision: Decision,
    }

    #[test]
    fn an_enum_given_a_number_is_a_shape_error_naming_the_field() {
        match parse::<Review>(b"{\"decision\": 1}").unwrap_err() {
            AppError::Validation(errors) => assert_eq!(errors[0].field, "decision"),
            other => panic!("{other:?}"),
        }
        assert!(parse::<Review>(b"{\"decision\": \"approve\"}").is_ok());
        for broken in [
            &b"{\"decision\": 1"[..],
            b"{\"decision\": 1e400}",
            b"{\"decision\": \"\xff\"}",
        ] {
            match parse::<Review>(broken).unwrap_err() {
                AppError::BadRequest { code, .. } => assert_eq!(code, "malformed_json"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_nul_character_in_any_string_is_a_shape_error_naming_the_field() {
        match parse::<Body>(b"{\"name\":\"a\\u0000b\",\"count\":1}").unwrap_err() {
            AppError::Validation(errors) => assert_eq!(errors[0].field, "name"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            nul_in_strings(b"{\"a\":[\"x\",{\"b\":\"\\u0000\"}]}").as_deref(),
            Some("a[1].b")
        );
        // An escaped backslash followed by "u0000" is text, not NUL.
        assert!(parse::<Body>(b"{\"name\":\"\\\\u0000\",\"count\":1}").is_ok());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert_eq!(code(parse(deep.as_bytes())), "malformed_json");
        assert_eq!(nesting_depth(b"{\"a\":\"[[[[\"}"), 1);
    }
}
