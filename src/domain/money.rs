//! Money: whole yen as a signed 64-bit integer. Never a float.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of Japanese yen. Signed, because balances may be negative under an overdraft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Yen(pub i64);

impl Yen {
    pub const ZERO: Yen = Yen(0);

    /// The JSON form Japanese bank APIs use: a string of whole yen ("1200000").
    pub fn to_api_string(self) -> String {
        self.0.to_string()
    }

    /// Parses the API form: 1 to 15 ASCII digits, no sign, no separators.
    pub fn parse_api(s: &str) -> Option<Yen> {
        (!s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
            .map(Yen)
    }
}

/// For people (pages, notifications, messages): thousands separators, `10,000`.
impl fmt::Display for Yen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.unsigned_abs().to_string();
        if self.0 < 0 {
            f.write_str("-")?;
        }
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Yen;

    #[test]
    fn display_groups_thousands() {
        assert_eq!(Yen(0).to_string(), "0");
        assert_eq!(Yen(999).to_string(), "999");
        assert_eq!(Yen(10_000).to_string(), "10,000");
        assert_eq!(Yen(-1_234_567).to_string(), "-1,234,567");
        assert_eq!(Yen(10_000).to_api_string(), "10000");
    }
}
