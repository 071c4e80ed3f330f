//! Names in the Zengin character set: half-width katakana (no ｦ, no small kana), ﾞ and ﾟ,
//! A–Z, 0–9, space and `( ) - . /`. Input is converted the way banks do (small kana → large,
//! hiragana and full-width katakana → half-width, lower → upper case, full-width ASCII →
//! half-width); anything that cannot be converted (・, ー, `*&$+;@=%` …) is rejected.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Half-width forms of the full-width katakana U+30A1 (ァ) ..= U+30F6 (ヶ), small kana made large.
const KATAKANA_TO_HALF: [&str; 86] = [
    "ｱ", "ｱ", "ｲ", "ｲ", "ｳ", "ｳ", "ｴ", "ｴ", "ｵ", "ｵ", // ァアィイゥウェエォオ
    "ｶ", "ｶﾞ", "ｷ", "ｷﾞ", "ｸ", "ｸﾞ", "ｹ", "ｹﾞ", "ｺ", "ｺﾞ", // カガキギクグケゲコゴ
    "ｻ", "ｻﾞ", "ｼ", "ｼﾞ", "ｽ", "ｽﾞ", "ｾ", "ｾﾞ", "ｿ", "ｿﾞ", // サザシジスズセゼソゾ
    "ﾀ", "ﾀﾞ", "ﾁ", "ﾁﾞ", "ﾂ", "ﾂ", "ﾂﾞ", "ﾃ", "ﾃﾞ", "ﾄ", "ﾄﾞ", // タダチヂッツヅテデトド
    "ﾅ", "ﾆ", "ﾇ", "ﾈ", "ﾉ", // ナニヌネノ
    "ﾊ", "ﾊﾞ", "ﾊﾟ", "ﾋ", "ﾋﾞ", "ﾋﾟ", "ﾌ", "ﾌﾞ", "ﾌﾟ", "ﾍ", "ﾍﾞ", "ﾍﾟ", "ﾎ", "ﾎﾞ", "ﾎﾟ", "ﾏ", "ﾐ", "ﾑ", "ﾒ",
    "ﾓ", // マミムメモ
    "ﾔ", "ﾔ", "ﾕ", "ﾕ", "ﾖ", "ﾖ", // ャヤュユョヨ
    "ﾗ", "ﾘ", "ﾙ", "ﾚ", "ﾛ", // ラリルレロ
    "ﾜ", "ﾜ", "ｲ", "ｴ", "ｵ", "ﾝ", "ｳﾞ", "ｶ", "ｹ", // ヮワヰヱヲンヴヵヶ
];

/// Converts one character to its Zengin form, appending to `out`; `Err` names the character.
fn convert_char(c: char, out: &mut String) -> Result<(), char> {
    let cp = c as u32;
    match c {
        // Full-width katakana, and hiragana shifted onto katakana.
        '\u{30A1}'..='\u{30F6}' => out.push_str(KATAKANA_TO_HALF[(cp - 0x30A1) as usize]),
        '\u{3041}'..='\u{3096}' => out.push_str(KATAKANA_TO_HALF[(cp + 0x60 - 0x30A1) as usize]),
        '\u{309B}' => out.push('ﾞ'),
        '\u{309C}' => out.push('ﾟ'),
        // Half-width small kana → large; ｦ → ｵ.
        'ｧ' => out.push('ｱ'),
        'ｨ' => out.push('ｲ'),
        'ｩ' => out.push('ｳ'),
        'ｪ' => out.push('ｴ'),
        'ｫ' => out.push('ｵ'),
        'ｬ' => out.push('ﾔ'),
        'ｭ' => out.push('ﾕ'),
        'ｮ' => out.push('ﾖ'),
        'ｯ' => out.push('ﾂ'),
        'ｦ' => out.push('ｵ'),
        '\u{FF71}'..='\u{FF9F}' => out.push(c),
        // Full-width ASCII → ASCII, then handled below.
        '\u{FF01}'..='\u{FF5E}' => {
            let ascii = char::from_u32(cp - 0xFF01 + 0x21).ok_or(c)?;
            convert_char(ascii, out)?;
        }
        '\u{3000}' => out.push(' '),
        'a'..='z' => out.push(c.to_ascii_uppercase()),
        'A'..='Z' | '0'..='9' | ' ' | '(' | ')' | '-' | '.' | '/' => out.push(c),
        _ => return Err(c),
    }
    Ok(())
}

/// Converts a name to the Zengin character set, or says which character cannot be converted.
pub fn to_zengin(input: &str) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        convert_char(c, &mut out).map_err(|bad| {
            format!(
                "{bad:?} cannot be written in the Zengin character set (half-width katakana, A-Z, 0-9, space and ( ) - . /)"
            )
        })?;
    }
    Ok(out)
}

/// A name in half-width katakana, as the Zengin system carries it (e.g. `ﾀﾅｶ ﾀﾛｳ`, `ｶ)ﾔﾏﾀﾞｼﾖｳｼﾞ`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KanaName(String);

impl KanaName {
    /// Longest name accepted (the statement / API limit for remitter names).
    pub const MAX_CHARS: usize = 48;

    /// Converts and validates; an empty or over-long name is rejected.
    pub fn parse(input: &str) -> Result<Self, String> {
        let converted = to_zengin(input.trim())?;
        let len = converted.chars().count();
        if len == 0 {
            return Err("a kana name must not be empty".into());
        }
        if len > Self::MAX_CHARS {
            return Err(format!(
                "a kana name may have at most {} characters (ﾞ and ﾟ count as one each), got {len}",
                Self::MAX_CHARS
            ));
        }
        Ok(KanaName(converted))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KanaName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<KanaName> for String {
    fn from(k: KanaName) -> String {
        k.0
    }
}

impl fmt::Display for KanaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_like_a_bank() {
        assert_eq!(to_zengin("キュウヨ").unwrap(), "ｷﾕｳﾖ");
        assert_eq!(to_zengin("たなか たろう").unwrap(), "ﾀﾅｶ ﾀﾛｳ");
        assert_eq!(to_zengin("ｶ)ﾔﾏﾀﾞ").unwrap(), "ｶ)ﾔﾏﾀﾞ");
        assert_eq!(to_zengin("ガッコウ").unwrap(), "ｶﾞﾂｺｳ");
        assert_eq!(to_zengin("ｂｉｇ　ａ").unwrap(), "BIG A");
        assert_eq!(to_zengin("パン（カ").unwrap(), "ﾊﾟﾝ(ｶ");
    }

    #[test]
    fn rejects_what_cannot_be_converted() {
        assert!(to_zengin("タナカ・タロウ").is_err());
        assert!(to_zengin("ラーメン").is_err());
        assert!(to_zengin("A*B").is_err());
        assert!(to_zengin("田中").is_err());
        assert!(KanaName::parse("  ").is_err());
    }
}
