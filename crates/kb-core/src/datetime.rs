//! The one datetime text format of the API and of text storage:
//! `YYYY-MM-DD HH:MM:SS.mmmZ` in UTC (space separator, millisecond precision).
//!
//! The format is fixed-width and sorts lexicographically in time order, which is what lets
//! filters compare datetimes as plain text (`created >= @todayStart`).

use jiff::{Timestamp, civil, tz::TimeZone};

/// Format a timestamp the way the API and the text columns carry it.
pub fn format(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S%.3fZ").to_string()
}

/// The current time, truncated to milliseconds, in the API format.
pub fn now() -> String {
    format(Timestamp::now())
}

/// Parse the datetime forms clients send: RFC 3339 / ISO 8601 (`2024-05-06T07:08:09.123Z`,
/// with any offset), the API form (`2024-05-06 07:08:09.123Z`), and the zone-less forms
/// `YYYY-MM-DD HH:MM:SS[.fff]` and `YYYY-MM-DD`, which are taken as UTC.
pub fn parse(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    let zoneless = text.strip_suffix('Z').unwrap_or(text);
    if let Ok(dt) = zoneless.parse::<civil::DateTime>() {
        return dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
    }
    if let Ok(date) = zoneless.parse::<civil::Date>() {
        return date.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
    }
    None
}

/// Normalise any accepted datetime text to the API format, or `None` when it is not a date.
pub fn normalize(text: &str) -> Option<String> {
    parse(text).map(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_space_and_millis() {
        let ts: Timestamp = "2026-11-21T13:05:02.882345Z".parse().unwrap();
        assert_eq!(format(ts), "2026-11-21 13:05:02.882Z");
    }

    #[test]
    fn accepts_the_forms_clients_send() {
        for (input, want) in [
            ("2024-05-06T07:08:09.123456Z", "2024-05-06 07:08:09.123Z"),
            ("2024-05-06 07:08:09.123Z", "2024-05-06 07:08:09.123Z"),
            ("2024-05-06 07:08:09", "2024-05-06 07:08:09.000Z"),
            ("2024-05-06T09:08:09+02:00", "2024-05-06 07:08:09.000Z"),
            ("2024-05-06", "2024-05-06 00:00:00.000Z"),
        ] {
            assert_eq!(normalize(input).as_deref(), Some(want), "{input}");
        }
        assert_eq!(normalize("not a date"), None);
        assert_eq!(normalize(""), None);
    }
}
