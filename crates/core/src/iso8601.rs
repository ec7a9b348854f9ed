//! ISO 8601 / RFC 3339 date-times in UTC, as the Management API writes them
//! (`2026-12-01T13:05:00.000Z`) and as its searches accept them (`2026-12-01`,
//! `2026-12-01T13:05`, `2026-12-01T13:05:00Z`, `2026-12-01T14:05:00.123+01:00`). Whole seconds
//! only: [`UnixTime`] is the domain's time type. The calendar arithmetic is the proleptic
//! Gregorian one of Howard Hinnant's `days_from_civil` / `civil_from_days`.

use crate::UnixTime;

const DAY: i64 = 86_400;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    days_from_civil(if m == 12 { y + 1 } else { y }, if m == 12 { 1 } else { m + 1 }, 1) - days_from_civil(y, m, 1)
}

/// `t` as `YYYY-MM-DDTHH:MM:SS.000Z`.
pub fn format(t: UnixTime) -> String {
    let (days, secs) = (t.div_euclid(DAY), t.rem_euclid(DAY));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Which end of a range a date stands for when it leaves out its smaller parts: `Start` fills
/// them with zeros, `End` with their largest value (`2026-12-01` as an upper bound means up to
/// `2026-12-01T23:59:59`), as Lucene range queries on dates do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    Start,
    End,
}

fn digits(s: &str, n: usize) -> Option<i64> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// Parses `YYYY-MM-DD`, optionally followed by `THH:MM`, `:SS`, a fraction (dropped) and `Z` or
/// `±HH:MM` (UTC without one). `None` when it is not such a date or names no real time.
pub fn parse(s: &str, fill: Fill) -> Option<UnixTime> {
    let (date, time) = match s.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (y, m, d) = (digits(parts.next()?, 4)?, digits(parts.next()?, 2)?, digits(parts.next()?, 2)?);
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&d) {
        return None;
    }
    let day = days_from_civil(y, m, d) * DAY;
    let Some(time) = time else {
        return Some(if fill == Fill::End { day + DAY - 1 } else { day });
    };
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, o) = time.split_at(i);
        let (sign, o) = if let Some(o) = o.strip_prefix('+') { (1, o) } else { (-1, &o[1..]) };
        let (oh, om) = o.split_once(':')?;
        let (oh, om) = (digits(oh, 2)?, digits(om, 2)?);
        if oh > 23 || om > 59 {
            return None;
        }
        (c, sign * (oh * 3600 + om * 60))
    } else {
        (time, 0)
    };
    let clock =
        clock.split_once('.').map_or(clock, |(c, frac)| if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) { c } else { "" });
    let mut hms = clock.split(':');
    let h = digits(hms.next()?, 2)?;
    let min = digits(hms.next()?, 2)?;
    let sec = match hms.next() {
        Some(s) => Some(digits(s, 2)?),
        None => None,
    };
    if hms.next().is_some() || h > 23 || min > 59 || sec.is_some_and(|s| s > 59) {
        return None;
    }
    let sec = sec.unwrap_or(if fill == Fill::End { 59 } else { 0 });
    Some(day + h * 3600 + min * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format(1_700_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(format(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(format(-1), "1969-12-31T23:59:59.000Z");
        assert_eq!(format(4_102_444_799), "2099-12-31T23:59:59.000Z");
    }

    #[test]
    fn parses_what_it_formats_and_the_shorter_forms() {
        for t in [0, 1, 59, 86_399, 86_400, 951_782_400, 1_700_000_000, 4_102_444_799, -86_401] {
            assert_eq!(parse(&format(t), Fill::Start), Some(t), "{}", format(t));
        }
        assert_eq!(parse("2023-11-14", Fill::Start), Some(1_699_920_000));
        assert_eq!(parse("2023-11-14", Fill::End), Some(1_699_920_000 + 86_399));
        assert_eq!(parse("2023-11-14T22:13", Fill::Start), Some(1_699_999_980));
        assert_eq!(parse("2023-11-14T22:13", Fill::End), Some(1_700_000_039));
        assert_eq!(parse("2023-11-14T22:13:20Z", Fill::Start), Some(1_700_000_000));
        assert_eq!(parse("2023-11-14T22:13:20", Fill::Start), Some(1_700_000_000));
        assert_eq!(parse("2023-11-14T22:13:20.999Z", Fill::Start), Some(1_700_000_000));
        assert_eq!(parse("2023-11-14T23:13:20+01:00", Fill::Start), Some(1_700_000_000));
        assert_eq!(parse("2023-11-14T21:13:20-01:00", Fill::Start), Some(1_700_000_000));
    }

    #[test]
    fn refuses_what_is_not_a_real_date_time() {
        for bad in [
            "",
            "2023",
            "2023-11",
            "23-11-14",
            "2023-13-01",
            "2023-02-29",
            "2023-11-31",
            "2023-00-10",
            "2023-11-14T24:00",
            "2023-11-14T22:60",
            "2023-11-14T22:13:61",
            "2023-11-14T22",
            "2023-11-14T22:13:20+25:00",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20X",
            "now",
            "2023-11-14 22:13:20",
            "+2023-11-14",
            "2023-11-14T22:13:20+0100",
        ] {
            assert_eq!(parse(bad, Fill::Start), None, "{bad:?}");
        }
        assert!(parse("2024-02-29", Fill::Start).is_some(), "a leap day");
    }
}
