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
}

impl fmt::Display for Yen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
