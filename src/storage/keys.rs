//! Key layout: `{sandbox}\0{part}\0{part}…`. Parts never contain NUL (ids are ASCII), so
//! prefixes of a key are prefixes of the byte string and range scans follow key order.

use jiff::civil::Date;

pub fn join(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let len = prefix.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.extend_from_slice(prefix);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(0);
        }
        key.extend_from_slice(part);
    }
    key
}

/// A date as a big-endian yyyymmdd number: byte order is date order.
pub fn date_bytes(d: Date) -> [u8; 4] {
    // Years before 0 sort first (they only appear as open range bounds).
    let year = d.year().clamp(0, 9999) as u32;
    let n = year * 10_000 + d.month() as u32 * 100 + d.day() as u32;
    n.to_be_bytes()
}

/// The position of a transaction within its account: date then sequence number.
pub fn position_bytes(d: Date, seq: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&date_bytes(d));
    out[4..].copy_from_slice(&seq.to_be_bytes());
    out
}

/// The month of a date as big-endian yyyymm: the key of a history chunk.
pub fn month_bytes(d: Date) -> [u8; 4] {
    (d.year().clamp(0, 9999) as u32 * 100 + d.month() as u32).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_dates_do_not_overflow() {
        assert!(date_bytes(Date::MIN) < date_bytes(jiff::civil::date(2026, 1, 1)));
        assert!(date_bytes(Date::MAX) > date_bytes(jiff::civil::date(2026, 1, 1)));
        assert!(month_bytes(Date::MIN) < month_bytes(Date::MAX));
    }
}
