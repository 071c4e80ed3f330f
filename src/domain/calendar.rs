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

/// Which days are peak days for corporate traffic (scenario `peakDays`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeakDays {
    /// 五十日: the 5th, 10th, 15th, 20th, 25th, 30th and the last day of the month; one that
    /// falls on a bank holiday moves to the previous business day. Default true.
    #[serde(default = "yes")]
    pub gotobi: bool,
    /// Days of the month that are paydays (default `[25]`); one that falls on a bank holiday
    /// moves to the previous business day.
    #[serde(default = "default_paydays")]
    pub paydays: Vec<i8>,
    /// The last business day of each month. Default true.
    #[serde(default = "yes")]
    pub month_end: bool,
    /// Further peak days (`YYYY-MM-DD`), e.g. a bonus day or year-end.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub dates: Vec<Date>,
}

fn yes() -> bool {
    true
}

fn default_paydays() -> Vec<i8> {
    vec![25]
}

impl Default for PeakDays {
    fn default() -> Self {
        PeakDays {
            gotobi: true,
            paydays: default_paydays(),
            month_end: true,
            dates: Vec::new(),
        }
    }
}

/// Why a day is a peak day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PeakReason {
    /// 五十日 (gotōbi).
    Gotobi,
    /// A payday.
    Payday,
    /// The month's last business day.
    MonthEnd,
    /// Listed in the scenario.
    Listed,
}

/// The business day a nominal day of `date`'s month lands on (the previous business day when
/// it is a bank holiday); days past the month's end mean its last day.
fn landing(date: Date, day: i8) -> Date {
    let last = date.last_of_month();
    let nominal = if day >= last.day() {
        last
    } else {
        Date::new(date.year(), date.month(), day).unwrap_or(last)
    };
    previous_business_day(nominal)
}

impl PeakDays {
    /// Why `date` is a peak day (empty: it is not one).
    pub fn reasons(&self, date: Date) -> Vec<PeakReason> {
        let mut why = Vec::new();
        if !is_business_day(date) {
            if self.dates.contains(&date) {
                why.push(PeakReason::Listed);
            }
            return why;
        }
        if self.gotobi && [5, 10, 15, 20, 25, 30, 31].iter().any(|d| landing(date, *d) == date) {
            why.push(PeakReason::Gotobi);
        }
        if self.paydays.iter().any(|d| landing(date, *d) == date) {
            why.push(PeakReason::Payday);
        }
        if self.month_end && landing(date, 31) == date {
            why.push(PeakReason::MonthEnd);
        }
        if self.dates.contains(&date) {
            why.push(PeakReason::Listed);
        }
        why
    }

    /// Problems with the spec, as `field: what to fix`.
    pub fn problems(&self) -> Vec<String> {
        self.paydays
            .iter()
            .filter(|d| !(1..=31).contains(*d))
            .map(|d| format!("peakDays.paydays: {d} is not a day of the month (1–31)"))
            .collect()
    }
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

    #[test]
    fn peak_days_of_november_2026() {
        let p = PeakDays::default();
        // The 5th is a Thursday; the 15th a Sunday, so 五十日 moves to Friday the 13th.
        assert_eq!(p.reasons(date(2026, 11, 5)), vec![PeakReason::Gotobi]);
        assert_eq!(p.reasons(date(2026, 11, 13)), vec![PeakReason::Gotobi]);
        assert!(p.reasons(date(2026, 11, 15)).is_empty());
        assert_eq!(
            p.reasons(date(2026, 11, 25)),
            vec![PeakReason::Gotobi, PeakReason::Payday]
        );
        assert_eq!(
            p.reasons(date(2026, 11, 30)),
            vec![PeakReason::Gotobi, PeakReason::MonthEnd]
        );
        assert!(p.reasons(date(2026, 11, 24)).is_empty());
        // February 2027 ends on Sunday the 28th: month-end moves to Friday the 26th.
        assert_eq!(
            p.reasons(date(2027, 2, 26)),
            vec![PeakReason::Gotobi, PeakReason::MonthEnd]
        );
    }
}
