//! Japanese bank business days. Bank holidays are Saturdays, Sundays, national holidays
//! (国民の祝日, with substitute holidays and the "citizens' holiday" between two holidays) and
//! December 31 – January 3. National holidays follow the Act on National Holidays as amended
//! (Happy Monday rules, equinoxes by the standard astronomical approximation valid 1980–2099,
//! and the one-off dates of 2019–2021).

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};

fn nth_weekday(year: i16, month: i8, weekday: Weekday, n: i8) -> Option<Date> {
    Date::new(year, month, 1).ok()?.nth_weekday_of_month(n, weekday).ok()
}

/// 春分の日 (vernal equinox day).
fn vernal_equinox(year: i16) -> i8 {
    let y = year as f64 - 1980.0;
    (20.8431 + 0.242194 * y - (y / 4.0).floor()).floor() as i8
}

/// 秋分の日 (autumnal equinox day).
fn autumnal_equinox(year: i16) -> i8 {
    let y = year as f64 - 1980.0;
    (23.2488 + 0.242194 * y - (y / 4.0).floor()).floor() as i8
}

/// The named national holidays of a year (before substitutes and bridge days).
fn named_holidays(year: i16) -> Vec<Date> {
    let d = |m: i8, day: i8| Date::new(year, m, day).ok();
    let mut days = vec![
        d(1, 1),
        nth_weekday(year, 1, Weekday::Monday, 2), // 成人の日
        d(2, 11),                                 // 建国記念の日
        d(3, vernal_equinox(year)),
        d(4, 29), // 昭和の日
        d(5, 3),  // 憲法記念日
        d(5, 4),  // みどりの日
        d(5, 5),  // こどもの日
        d(9, autumnal_equinox(year)),
        d(11, 3),                                 // 文化の日
        d(11, 23),                                // 勤労感謝の日
        nth_weekday(year, 9, Weekday::Monday, 3), // 敬老の日
    ];
    if year >= 2020 {
        days.push(d(2, 23)); // 天皇誕生日
    } else if year <= 2018 {
        days.push(d(12, 23));
    }
    // 海の日, スポーツの日 and 山の日 moved for the Tokyo Olympics in 2020 and 2021.
    match year {
        2020 => days.extend([d(7, 23), d(7, 24), d(8, 10)]),
        2021 => days.extend([d(7, 22), d(7, 23), d(8, 8)]),
        _ => {
            days.push(nth_weekday(year, 7, Weekday::Monday, 3));
            days.push(nth_weekday(year, 10, Weekday::Monday, 2));
            if year >= 2016 {
                days.push(d(8, 11));
            }
        }
    }
    if year == 2019 {
        days.extend([d(5, 1), d(10, 22)]); // 即位の日, 即位礼正殿の儀
    }
    let mut days: Vec<Date> = days.into_iter().flatten().collect();
    days.sort();
    days.dedup();
    days
}

/// All national holidays of a year, with substitute holidays (振替休日: the next non-holiday
/// after a holiday on Sunday) and citizens' holidays (国民の休日: a day between two holidays).
pub fn national_holidays(year: i16) -> Vec<Date> {
    let named = named_holidays(year);
    let mut all = named.clone();
    for h in &named {
        if h.weekday() == Weekday::Sunday {
            let mut next = h.tomorrow().unwrap_or(*h);
            while named.contains(&next) {
                next = next.tomorrow().unwrap_or(next);
            }
            all.push(next);
        }
    }
    for h in &named {
        if let (Ok(mid), Ok(after)) = (h.checked_add(1.day()), h.checked_add(2.days()))
            && named.contains(&after)
            && !named.contains(&mid)
            && mid.weekday() != Weekday::Sunday
        {
            all.push(mid);
        }
    }
    all.sort();
    all.dedup();
    all
}

/// Whether `date` is a national holiday.
pub fn is_national_holiday(date: Date) -> bool {
    national_holidays(date.year()).contains(&date)
}

/// Whether banks are open on `date`.
pub fn is_business_day(date: Date) -> bool {
    let weekend = matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
    let year_end = (date.month() == 12 && date.day() == 31) || (date.month() == 1 && date.day() <= 3);
    !(weekend || year_end || is_national_holiday(date))
}

/// The first business day on or after `date`.
pub fn next_business_day(date: Date) -> Date {
    let mut d = date;
    while !is_business_day(d) {
        d = d.tomorrow().unwrap_or(d);
    }
    d
}

/// The last business day on or before `date`.
pub fn previous_business_day(date: Date) -> Date {
    let mut d = date;
    while !is_business_day(d) {
        d = d.yesterday().unwrap_or(d);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn holidays_of_2026_match_the_cabinet_office_table() {
        let expected = [
            date(2026, 1, 1),
            date(2026, 1, 12),
            date(2026, 2, 11),
            date(2026, 2, 23),
            date(2026, 3, 20),
            date(2026, 4, 29),
            date(2026, 5, 3),
            date(2026, 5, 4),
            date(2026, 5, 5),
            date(2026, 5, 6), // substitute for Sunday May 3
            date(2026, 7, 20),
            date(2026, 8, 11),
            date(2026, 9, 21),
            date(2026, 9, 22), // citizens' holiday
            date(2026, 9, 23),
            date(2026, 10, 12),
            date(2026, 11, 3),
            date(2026, 11, 23),
        ];
        assert_eq!(national_holidays(2026), expected);
    }

    #[test]
    fn holidays_of_2025_and_2027() {
        let h25 = national_holidays(2025);
        assert!(h25.contains(&date(2025, 2, 24)), "substitute for Sunday Feb 23");
        assert!(h25.contains(&date(2025, 3, 20)));
        assert!(h25.contains(&date(2025, 9, 23)));
        assert!(h25.contains(&date(2025, 11, 24)), "substitute for Sunday Nov 23");
        let h27 = national_holidays(2027);
        assert!(
            h27.contains(&date(2027, 3, 21)) && h27.contains(&date(2027, 3, 22)),
            "equinox on Sunday, substitute Monday"
        );
        assert!(h27.contains(&date(2027, 9, 23)));
    }

    #[test]
    fn business_days() {
        assert!(!is_business_day(date(2026, 11, 23)), "勤労感謝の日");
        assert!(!is_business_day(date(2026, 12, 31)));
        assert!(!is_business_day(date(2027, 1, 3)));
        assert!(is_business_day(date(2027, 1, 4)));
        assert_eq!(
            next_business_day(date(2026, 11, 21)),
            date(2026, 11, 24),
            "Sat → Tue after the holiday Monday"
        );
        assert_eq!(previous_business_day(date(2026, 11, 23)), date(2026, 11, 20));
    }
}
