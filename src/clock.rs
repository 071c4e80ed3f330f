//! The sandbox clock: real time plus an offset, which the control plane can advance (time
//! travel). It is the only code that reads the wall clock; everything else asks it for `now`.

use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, Zoned};
use std::sync::atomic::{AtomicI64, Ordering};

/// Japan Standard Time (UTC+9, no daylight saving).
pub fn jst() -> TimeZone {
    TimeZone::fixed(Offset::constant(9))
}

/// A sandbox's clock. The offset is in nanoseconds and lives in an atomic so that reading the
/// time on the request path never takes a lock.
#[derive(Debug)]
pub struct Clock {
    offset_nanos: AtomicI64,
}

impl Clock {
    /// A clock running `offset_nanos` ahead of (or behind) the wall clock.
    pub fn with_offset(offset_nanos: i64) -> Self {
        Clock {
            offset_nanos: AtomicI64::new(offset_nanos),
        }
    }

    /// A clock that reads `start` right now and runs on from there.
    pub fn starting_at(start: Timestamp) -> Self {
        let offset = start.duration_since(Timestamp::now());
        Clock::with_offset(offset.as_nanos() as i64)
    }

    pub fn offset_nanos(&self) -> i64 {
        self.offset_nanos.load(Ordering::Relaxed)
    }

    /// The sandbox's current instant.
    pub fn now(&self) -> Timestamp {
        let offset = SignedDuration::from_nanos(self.offset_nanos());
        Timestamp::now().checked_add(offset).unwrap_or(Timestamp::MAX)
    }

    /// Real time, for the few things that must hold outside the sandbox: the `iat`/`exp`
    /// of ID tokens, which off-the-shelf OIDC libraries check against their own clock.
    pub fn real_now(&self) -> Timestamp {
        Timestamp::now()
    }

    /// Converts a sandbox instant to real time (the same distance from now).
    pub fn to_real(&self, sandbox: Timestamp) -> Timestamp {
        let offset = SignedDuration::from_nanos(self.offset_nanos());
        sandbox.checked_sub(offset).unwrap_or(sandbox)
    }

    /// The sandbox's current time in Japan.
    pub fn now_jst(&self) -> Zoned {
        self.now().to_zoned(jst())
    }

    /// Moves the clock forward to `target` if it is ahead; returns the new offset.
    pub fn advance_to(&self, target: Timestamp) -> i64 {
        let by = target.duration_since(self.now());
        if by > SignedDuration::ZERO {
            self.advance(by)
        } else {
            self.offset_nanos()
        }
    }

    /// Moves the clock forward; returns the new offset (to persist).
    pub fn advance(&self, by: SignedDuration) -> i64 {
        let by = by.as_nanos().clamp(0, i64::MAX as i128) as i64;
        self.offset_nanos.fetch_add(by, Ordering::Relaxed) + by
    }
}

/// Real time in Unix milliseconds, for what lives outside the sandbox: webhook timestamps
/// and retry times, which receivers check against their own clocks.
pub fn real_now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// An instant as Japan's civil date and time. JST is a fixed offset, so this is arithmetic,
/// with no time zone rules to consult (it runs on every reference answer).
pub fn jst_datetime(ts: Timestamp) -> jiff::civil::DateTime {
    Offset::constant(9).to_datetime(ts)
}

/// Appends `YYYY-MM-DD` (years outside 0..=9999 the way jiff writes them).
pub fn push_date(out: &mut String, date: jiff::civil::Date) {
    let year = date.year();
    if !(0..=9999).contains(&year) {
        out.push_str(&date.to_string());
        return;
    }
    push_digits(out, year as u64, 4);
    out.push('-');
    push_digits(out, date.month() as u64, 2);
    out.push('-');
    push_digits(out, date.day() as u64, 2);
}

/// Appends `HH:MM:SS+09:00`.
pub fn push_time_jst(out: &mut String, time: jiff::civil::Time) {
    push_digits(out, time.hour() as u64, 2);
    out.push(':');
    push_digits(out, time.minute() as u64, 2);
    out.push(':');
    push_digits(out, time.second() as u64, 2);
    out.push_str("+09:00");
}

/// Appends `n` in decimal, zero-padded to `width` digits (at most 20; higher digits are
/// dropped), without formatting machinery: dates, times and history item keys on hot paths.
pub fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let width = width.min(digits.len());
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // ASCII digits only.
    out.push_str(std::str::from_utf8(&digits[..width]).unwrap_or_default());
}

/// RFC 3339 with the `+09:00` offset, second precision, as the API shows timestamps.
pub fn format_jst(ts: Timestamp) -> String {
    let dt = jst_datetime(ts);
    let mut out = String::with_capacity(25);
    push_date(&mut out, dt.date());
    out.push('T');
    push_time_jst(&mut out, dt.time());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward() {
        let start: Timestamp = "2026-11-21T00:00:00Z".parse().unwrap();
        let clock = Clock::starting_at(start);
        clock.advance(SignedDuration::from_hours(24 * 91));
        let now = clock.now();
        assert!(now >= "2027-02-20T00:00:00Z".parse::<Timestamp>().unwrap());
        assert!(now < "2027-02-20T01:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(format_jst(start), "2026-11-21T09:00:00+09:00");
        let late: Timestamp = "2026-12-31T15:04:05.9Z".parse().unwrap();
        assert_eq!(format_jst(late), "2027-01-01T00:04:05+09:00");
        assert_eq!(
            format_jst(late),
            late.to_zoned(jst()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
        );
    }
}

/// Parses a duration written either in ISO 8601 (`P91D`, `PT1H`) or the short friendly form
/// (`60s`, `1h`, `30d`, `2w`). Days count as 24 hours; months and years are refused because
/// their length depends on the date.
pub fn parse_duration(input: &str) -> Result<SignedDuration, String> {
    let span: jiff::Span = input
        .trim()
        .parse()
        .map_err(|e| format!("{input:?} is not a duration; write e.g. \"60s\", \"1h\", \"30d\" or \"P91D\" ({e})"))?;
    span.to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| format!("{input:?}: use days or weeks instead of months or years (e.g. \"90d\")"))
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        assert_eq!(parse_duration("P91D").unwrap(), SignedDuration::from_hours(91 * 24));
        assert_eq!(parse_duration("1h").unwrap(), SignedDuration::from_hours(1));
        assert_eq!(parse_duration("60s").unwrap(), SignedDuration::from_secs(60));
        assert_eq!(parse_duration("30d").unwrap(), SignedDuration::from_hours(720));
        assert!(parse_duration("P1M").is_err());
        assert!(parse_duration("soon").is_err());
    }
}

/// The server's real-time clock (Unix seconds), for what follows real time across sandboxes:
/// a sandbox's creation, last use and idle expiry. Tests move it forward to drive idle expiry
/// without waiting.
#[derive(Debug, Default)]
pub struct ServerClock {
    offset_secs: AtomicI64,
}

impl ServerClock {
    pub fn now(&self) -> Timestamp {
        Timestamp::now()
            .checked_add(SignedDuration::from_secs(self.offset_secs.load(Ordering::Relaxed)))
            .unwrap_or(Timestamp::MAX)
    }

    pub fn now_secs(&self) -> i64 {
        self.now().as_second()
    }

    /// Moves real time forward for this server (tests of idle expiry).
    pub fn advance(&self, by: SignedDuration) {
        self.offset_secs.fetch_add(by.as_secs(), Ordering::Relaxed);
    }
}
