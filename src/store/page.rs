//! Keyset pagination: a page of rows and the cursor to the next one.

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::domain::Invalid;

/// Position after the last row of a page, ordered by `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    /// Parses the opaque `after` query parameter: `<unix micros>.<uuid>`, the time within the
    /// years 1 to 9999 (rows are never older or newer, and Postgres cannot store every time
    /// chrono can: a cursor beyond its range would fail the page's query).
    pub fn parse(text: &str) -> Result<Cursor, Invalid> {
        let invalid =
            || Invalid::new("That page link is not valid; start again from the first page.");
        let (micros, id) = text.split_once('.').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        let at = DateTime::from_timestamp_micros(micros)
            .filter(|at| (1..=9999).contains(&at.year()))
            .ok_or_else(invalid)?;
        let id = Uuid::parse_str(id).map_err(|_| invalid())?;
        Ok(Cursor { at, id })
    }

    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.timestamp_micros(), self.id)
    }
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// Rows per page for every paginated list.
pub const PAGE_SIZE: i64 = 25;

/// Splits `limit + 1` fetched rows into a page and the cursor of its last row.
pub fn paginate<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(key) } else { None };
    Page { items: rows, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::parse(&cursor.encode()).unwrap(), cursor);
        for bad in [
            "",
            "x",
            "1.2",
            "abc.5f0e",
            "99999999999999999999.00000000-0000-0000-0000-000000000000",
            // Within chrono's range, outside Postgres's: the page query would fail.
            "-8000000000000000000.00000000-0000-0000-0000-000000000000",
            "8000000000000000000.00000000-0000-0000-0000-000000000000",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }
}
