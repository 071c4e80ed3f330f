//! Zengin identifiers: bank code (4 digits), branch code (3 digits), account number
//! (7 digits) and the deposit type code (預金種目). Constructors validate, so an invalid
//! code cannot exist past the edge.

use serde::{Deserialize, Serialize};
use std::fmt;

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

macro_rules! digit_code {
    ($name:ident, $len:expr, $what:expr) => {
        #[doc = concat!("A ", $what, " of exactly ", stringify!($len), " ASCII digits.")]
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, String> {
                if all_digits(s, $len) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(format!(
                        "{} must be exactly {} digits (e.g. \"{}\"), got {:?}",
                        $what,
                        $len,
                        "0".repeat($len - 1) + "1",
                        s
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(c: $name) -> String {
                c.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

digit_code!(BankCode, 4, "bank code");
digit_code!(BranchCode, 3, "branch code");
digit_code!(AccountNumber, 7, "account number");

/// Deposit type (預金種目) as used in Zengin transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AccountType {
    /// 普通預金, code 1.
    Ordinary,
    /// 当座預金, code 2.
    Current,
    /// 貯蓄預金, code 4.
    Savings,
    /// その他, code 9.
    Other,
}

impl AccountType {
    /// The one-digit Zengin code.
    pub fn code(self) -> &'static str {
        match self {
            AccountType::Ordinary => "1",
            AccountType::Current => "2",
            AccountType::Savings => "4",
            AccountType::Other => "9",
        }
    }

    /// The Japanese name a bank shows.
    pub fn name_ja(self) -> &'static str {
        match self {
            AccountType::Ordinary => "普通",
            AccountType::Current => "当座",
            AccountType::Savings => "貯蓄",
            AccountType::Other => "その他",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_need_exact_digits() {
        assert!(BankCode::parse("0999").is_ok());
        assert!(BankCode::parse("999").is_err());
        assert!(BranchCode::parse("00a").is_err());
        assert!(AccountNumber::parse("1234567").is_ok());
        assert!(AccountNumber::parse("12345678").is_err());
        assert!(AccountNumber::parse("１２３４５６７").is_err());
    }
}
