//! Pages of one request's entries (`GET /service-requests/{id}/history` and `/evidence`):
//! at most [`MAX_ENTRIES`] entries and about [`MAX_PAGE_BYTES`] per response, well under
//! Lambda's 6 MB response limit however long a request's history grows.

use crate::problem::{ApiError, FieldMessage};

/// Entries per page: at most, and by default.
pub const MAX_ENTRIES: usize = 500;
/// A page stops before its items pass this many bytes (it always holds at least one entry; one
/// entry is at most a 32,000-character text, about 256 KiB as JSON).
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Where a page starts and how long it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryPage {
    /// The last seq of the previous page (entries after it), if any.
    pub after: Option<u64>,
    /// The tree size the evidence's pages are proven against (pinned by the first page).
    pub size: Option<u64>,
    pub limit: usize,
}

/// Read `limit` and `cursor` (`<seq>` for history, `<size>.<seq>` for evidence, as the
/// previous page's `nextCursor` gave it).
pub fn entry_page(params: &[(String, String)], pinned: bool) -> Result<EntryPage, ApiError> {
    let mut page = EntryPage {
        after: None,
        size: None,
        limit: MAX_ENTRIES,
    };
    let mut errors = Vec::new();
    for (name, value) in params {
        match name.as_str() {
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_ENTRIES).contains(&n) && !value.starts_with('0') => page.limit = n,
                _ => errors.push(FieldMessage::new(
                    "query:limit",
                    format!("must be a whole number from 1 to {MAX_ENTRIES}"),
                )),
            },
            "cursor" => {
                let number = |s: &str| s.parse::<u64>().ok().filter(|_| s == "0" || !s.starts_with('0'));
                let parsed = if pinned {
                    value
                        .split_once('.')
                        .and_then(|(size, seq)| Some((Some(number(size)?), number(seq)?)))
                        .filter(|(size, seq)| size.is_some_and(|size| *seq < size))
                } else {
                    number(value).map(|seq| (None, seq))
                };
                match parsed {
                    Some((size, seq)) => {
                        page.size = size;
                        page.after = Some(seq);
                    }
                    None => {
                        return Err(ApiError::BadRequest {
                            detail: "the cursor is not valid for this query".into(),
                            errors: vec![FieldMessage::new(
                                "query:cursor",
                                "must be a nextCursor this API returned for the same request",
                            )],
                        });
                    }
                }
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(page)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Take items while they fit: at most `limit`, and about `MAX_PAGE_BYTES` by `size_of`; at
/// least one. Whether any were left.
pub fn fill<T>(items: impl IntoIterator<Item = T>, limit: usize, size_of: impl Fn(&T) -> usize) -> (Vec<T>, bool) {
    let mut page = Vec::new();
    let mut bytes = 0;
    let mut items = items.into_iter().peekable();
    while let Some(item) = items.peek() {
        let size = size_of(item);
        if page.len() == limit || (!page.is_empty() && bytes + size > MAX_PAGE_BYTES) {
            return (page, true);
        }
        bytes += size;
        page.extend(items.next());
    }
    (page, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn cursors_and_limits_are_read_strictly() {
        let page = entry_page(&params(&[("limit", "20"), ("cursor", "7")]), false).unwrap();
        assert_eq!((page.after, page.size, page.limit), (Some(7), None, 20));
        let page = entry_page(&params(&[("cursor", "12.7")]), true).unwrap();
        assert_eq!((page.after, page.size, page.limit), (Some(7), Some(12), MAX_ENTRIES));
        for bad in ["", "x", "07", "12.7", "-1"] {
            assert!(entry_page(&params(&[("cursor", bad)]), false).is_err(), "{bad}");
        }
        for bad in ["7", "7.12", "7.7", "12.", ".7", "012.7"] {
            assert!(entry_page(&params(&[("cursor", bad)]), true).is_err(), "{bad}");
        }
        for bad in ["0", "501", "010", "x"] {
            assert!(entry_page(&params(&[("limit", bad)]), false).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_page_stops_at_its_limit_or_its_bytes_and_holds_at_least_one() {
        let (page, more) = fill(0..10, 4, |_| 1);
        assert_eq!((page, more), (vec![0, 1, 2, 3], true));
        let (page, more) = fill(0..4, 4, |_| 1);
        assert_eq!((page, more), (vec![0, 1, 2, 3], false));
        let big = MAX_PAGE_BYTES / 2;
        let (page, more) = fill(0..5, 100, |_| big);
        assert_eq!((page, more), (vec![0, 1], true));
        let (page, more) = fill(0..2, 100, |_| MAX_PAGE_BYTES * 2);
        assert_eq!((page, more), (vec![0], true), "one entry however large");
    }
}
