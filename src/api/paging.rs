//! Paging for list endpoints: `?page=1&per_page=20` (per_page at most 100) and the
//! `{items, page, per_page, total}` envelope.

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: u32,
    pub per_page: u32,
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

impl Paging {
    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self, AppError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(AppError::bad_request("invalid_query", "page starts at 1"));
        }
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(AppError::bad_request(
                "invalid_query",
                "per_page must be between 1 and 100",
            ));
        }
        Ok(Self { page, per_page })
    }

    pub fn offset(&self) -> i64 {
        (i64::from(self.page) - 1) * i64::from(self.per_page)
    }

    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }

    pub fn page<T: ToSchema>(&self, items: Vec<T>, total: i64) -> Page<T> {
        Page {
            items,
            page: self.page,
            per_page: self.per_page,
            total,
        }
    }
}

/// Where the next page of a keyset-paged list starts: its number and the id after which it
/// continues (newest first, so the next ids are smaller). Sent as `{page}.{id}`; clients
/// treat it as opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub page: u32,
    pub after_id: i64,
}

impl Cursor {
    pub fn parse(text: &str) -> Result<Self, AppError> {
        let bad = || AppError::bad_request("invalid_query", "cursor is not one this API gave");
        if !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(bad());
        }
        let (page, id) = text.split_once('.').ok_or_else(bad)?;
        let page: u32 = page.parse().map_err(|_| bad())?;
        let after_id: i64 = id.parse().map_err(|_| bad())?;
        if page < 2 || after_id < 1 {
            return Err(bad());
        }
        Ok(Self { page, after_id })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.page, self.after_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_wrote_and_nothing_else() {
        let c = Cursor {
            page: 3,
            after_id: 9981,
        };
        assert_eq!(c.to_string(), "3.9981");
        assert_eq!(Cursor::parse("3.9981").unwrap(), c);
        for bad in [
            "", "3", "3.", ".5", "1.5", "3.0", "3.-1", "x.5", "3.5.1", "+3.5", "3.9e3",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_and_bounds() {
        let p = Paging::new(None, None).unwrap();
        assert_eq!((p.page, p.per_page, p.offset()), (1, 20, 0));
        assert_eq!(Paging::new(Some(3), Some(100)).unwrap().offset(), 200);
        assert!(Paging::new(Some(0), None).is_err());
        assert!(Paging::new(None, Some(101)).is_err());
        assert!(Paging::new(None, Some(0)).is_err());
    }
}
