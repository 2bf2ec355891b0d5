//! Cron schedules as PocketBase accepts them (`settings.backups.cron`): five segments —
//! minute, hour, day of month, month, day of week (0 is Sunday) — each `*`, a value, a range
//! `a-b`, any of these with a step `/n`, or a comma list of them; or one of the macros
//! `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
//!
//! A minute is due when every segment matches it (day of month and day of week included:
//! both must match, as in PocketBase, unlike classic cron's "either").
//!
//! A hand-written parser rather than a cron crate, because the accepted syntax, the error
//! messages and the day-matching rule must be PocketBase's, and the whole thing is small.

/// A parsed schedule: for each segment, which values match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
}

/// Why an expression is not a schedule; the text is PocketBase's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error(
        "Invalid cron expression - must be a valid macro or to have exactly 5 space separated segments."
    )]
    Segments,
    #[error("Invalid segment value - must be between the min and max of the segment.")]
    OutOfRange,
    #[error(
        "Invalid segment - must be *, a number, a range (a-b) or a step (x/n), or a comma list of them."
    )]
    Malformed,
}

/// The inclusive bounds of each segment, in order.
const BOUNDS: [(u32, u32); 5] = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)];

impl Schedule {
    pub fn parse(expression: &str) -> Result<Schedule, CronError> {
        let expanded = match expression.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let segments: Vec<&str> = expanded.split_whitespace().collect();
        let [minutes, hours, days, months, weekdays] = segments.as_slice() else {
            return Err(CronError::Segments);
        };
        let mut sets = [0u64; 5];
        for (set, (segment, bounds)) in sets.iter_mut().zip(
            [minutes, hours, days, months, weekdays]
                .into_iter()
                .zip(BOUNDS),
        ) {
            *set = parse_segment(segment, bounds)?;
        }
        let [minutes, hours, days, months, weekdays] = sets;
        Ok(Schedule {
            minutes,
            hours,
            days,
            months,
            weekdays,
        })
    }

    /// Whether the minute of `at` (in UTC) is one the schedule runs in.
    pub fn is_due(&self, at: jiff::Timestamp) -> bool {
        let time = at.to_zoned(jiff::tz::TimeZone::UTC);
        let has = |set: u64, value: i64| set & (1 << value) != 0;
        has(self.minutes, time.minute().into())
            && has(self.hours, time.hour().into())
            && has(self.days, time.day().into())
            && has(self.months, time.month().into())
            && has(self.weekdays, time.weekday().to_sunday_zero_offset().into())
    }
}

fn parse_segment(segment: &str, (min, max): (u32, u32)) -> Result<u64, CronError> {
    let mut set = 0u64;
    for item in segment.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(number(step)?)),
            None => (item, None),
        };
        let (first, last) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (number(a)?, number(b)?)
        } else {
            let value = number(range)?;
            // "5/15" runs from 5 to the end of the segment, every 15.
            (value, if step.is_some() { max } else { value })
        };
        if first < min || last > max || first > last {
            return Err(CronError::OutOfRange);
        }
        let step = match step {
            Some(0) => return Err(CronError::OutOfRange),
            Some(step) => step,
            None => 1,
        };
        let mut value = first;
        while value <= last {
            set |= 1 << value;
            value = value.saturating_add(step);
        }
    }
    Ok(set)
}

fn number(text: &str) -> Result<u32, CronError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CronError::Malformed);
    }
    text.parse().map_err(|_| CronError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn accepts_what_pocketbase_accepts() {
        for ok in [
            "* * * * *",
            "0 3 * * *",
            "*/5 * * * *",
            "1,2,3-5 0-23/2 1 1-12 0-6",
            "@daily",
            "@hourly",
            "  @weekly ",
        ] {
            assert!(Schedule::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Schedule::parse("bad"), Err(CronError::Segments));
        assert_eq!(Schedule::parse("* * * * * *"), Err(CronError::Segments));
        assert_eq!(Schedule::parse(""), Err(CronError::Segments));
        assert_eq!(Schedule::parse("60 * * * *"), Err(CronError::OutOfRange));
        assert_eq!(Schedule::parse("* * 0 * *"), Err(CronError::OutOfRange));
        assert_eq!(Schedule::parse("* * * * 7"), Err(CronError::OutOfRange));
        assert_eq!(Schedule::parse("5-1 * * * *"), Err(CronError::OutOfRange));
        assert_eq!(Schedule::parse("*/0 * * * *"), Err(CronError::OutOfRange));
        assert_eq!(Schedule::parse("a * * * *"), Err(CronError::Malformed));
        assert_eq!(Schedule::parse("1,,2 * * * *"), Err(CronError::Malformed));
        assert_eq!(
            CronError::Segments.to_string(),
            "Invalid cron expression - must be a valid macro or to have exactly 5 space separated segments."
        );
    }

    #[test]
    fn due_minutes_match_every_segment() {
        let nightly = Schedule::parse("0 3 * * *").unwrap();
        assert!(nightly.is_due(at("2026-11-22T03:00:59Z")));
        assert!(!nightly.is_due(at("2026-11-22T03:01:00Z")));
        assert!(!nightly.is_due(at("2026-11-22T04:00:00Z")));

        let every_quarter = Schedule::parse("*/15 * * * *").unwrap();
        assert!(every_quarter.is_due(at("2026-11-22T10:45:00Z")));
        assert!(!every_quarter.is_due(at("2026-11-22T10:50:00Z")));
        let from_five = Schedule::parse("5/20 * * * *").unwrap();
        assert!(from_five.is_due(at("2026-11-22T10:45:00Z")));
        assert!(!from_five.is_due(at("2026-11-22T10:40:00Z")));

        // 2026-11-22 is a Sunday: day of month and day of week must both match.
        let sundays_the_22nd = Schedule::parse("0 0 22 * 0").unwrap();
        assert!(sundays_the_22nd.is_due(at("2026-11-22T00:00:00Z")));
        assert!(!sundays_the_22nd.is_due(at("2026-11-29T00:00:00Z")));
        assert!(!sundays_the_22nd.is_due(at("2026-12-22T00:00:00Z")));

        let weekly = Schedule::parse("@weekly").unwrap();
        assert!(weekly.is_due(at("2026-11-22T00:00:00Z")));
        assert!(!weekly.is_due(at("2026-11-23T00:00:00Z")));
    }
}
