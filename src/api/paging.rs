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

#[cfg(test)]
mod tests {
    use super::*;

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
