//! Dates as people in Iran read them: the Solar Hijri (Jalali) calendar, Persian digits, and
//! Tehran time. Iran has kept UTC+03:30 all year since 2022, so a fixed offset is exact.

/// Tehran's offset from UTC, in seconds.
pub const TEHRAN_OFFSET_SECS: i64 = 3 * 3600 + 1800;

const MONTHS: [&str; 12] = [
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
];
/// Indexed by days since the Unix epoch modulo 7: 1970-01-01 was a Thursday.
const WEEKDAYS: [&str; 7] = ["پنجشنبه", "جمعه", "شنبه", "یکشنبه", "دوشنبه", "سه‌شنبه", "چهارشنبه"];

/// Civil (Gregorian) date from days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Jalali date from a Gregorian one (the arithmetic of the 33-year cycle, valid 1800–2200).
pub fn gregorian_to_jalali(gy: i64, gm: u32, gd: u32) -> (i64, u32, u32) {
    const G_DAYS: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let gy2 = if gm > 2 { gy + 1 } else { gy };
    let mut days = 355_666 + 365 * gy + (gy2 + 3) / 4 - (gy2 + 99) / 100
        + (gy2 + 399) / 400
        + i64::from(gd)
        + G_DAYS[(gm - 1) as usize];
    let mut jy = -1595 + 33 * (days / 12_053);
    days %= 12_053;
    jy += 4 * (days / 1461);
    days %= 1461;
    if days > 365 {
        jy += (days - 1) / 365;
        days = (days - 1) % 365;
    }
    let (jm, jd) = if days < 186 {
        (1 + days / 31, 1 + days % 31)
    } else {
        (7 + (days - 186) / 30, 1 + (days - 186) % 30)
    };
    (jy, jm as u32, jd as u32)
}

pub fn persian_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(0x06F0 + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

struct Parts {
    weekday: &'static str,
    day: u32,
    month: &'static str,
    year: i64,
    hour: i64,
    minute: i64,
}

fn parts(unix_secs: i64) -> Parts {
    let local = unix_secs + TEHRAN_OFFSET_SECS;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (gy, gm, gd) = civil_from_days(days);
    let (year, jm, day) = gregorian_to_jalali(gy, gm, gd);
    Parts {
        weekday: WEEKDAYS[days.rem_euclid(7) as usize],
        day,
        month: MONTHS[(jm - 1) as usize],
        year,
        hour: secs / 3600,
        minute: (secs % 3600) / 60,
    }
}

/// "شنبه ۳۰ آبان": a day, for the page's day picker.
pub fn format_day(unix_secs: i64) -> String {
    let p = parts(unix_secs);
    persian_digits(&format!("{} {} {}", p.weekday, p.day, p.month))
}

/// Unix seconds of Tehran's midnight on the day containing `unix_secs`.
pub fn tehran_midnight(unix_secs: i64) -> i64 {
    (unix_secs + TEHRAN_OFFSET_SECS).div_euclid(86_400) * 86_400 - TEHRAN_OFFSET_SECS
}

/// "شنبه ۳۰ آبان ۱۷:۰۰": short enough for a chat button.
pub fn format_short(unix_secs: i64) -> String {
    let p = parts(unix_secs);
    persian_digits(&format!(
        "{} {} {} {:02}:{:02}",
        p.weekday, p.day, p.month, p.hour, p.minute
    ))
}

/// "شنبه ۱۲ آذر ۱۴۰۵، ساعت ۱۷:۳۰" for an instant (Unix seconds), in Tehran time.
pub fn format_tehran(unix_secs: i64) -> String {
    let p = parts(unix_secs);
    persian_digits(&format!(
        "{} {} {} {}، ساعت {:02}:{:02}",
        p.weekday, p.day, p.month, p.year, p.hour, p.minute
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_convert() {
        assert_eq!(gregorian_to_jalali(2024, 3, 20), (1403, 1, 1), "Nowruz 1403");
        assert_eq!(gregorian_to_jalali(2025, 3, 21), (1404, 1, 1), "Nowruz 1404");
        assert_eq!(gregorian_to_jalali(2026, 11, 21), (1405, 8, 30));
        assert_eq!(gregorian_to_jalali(2026, 11, 22), (1405, 9, 1));
        assert_eq!(gregorian_to_jalali(1979, 2, 11), (1357, 11, 22));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_413), (2025, 11, 21));
    }

    #[test]
    fn formats_in_tehran_time_with_persian_digits() {
        // 2026-11-21T13:30:00Z is 17:00 in Tehran, a Saturday (شنبه), 30 Aban 1405.
        assert_eq!(format_tehran(1_795_267_800), "شنبه ۳۰ آبان ۱۴۰۵، ساعت ۱۷:۰۰");
        // 20:45Z is already the next day in Tehran.
        assert_eq!(format_tehran(1_795_293_900), "یکشنبه ۱ آذر ۱۴۰۵، ساعت ۰۰:۱۵");
        assert_eq!(format_short(1_795_267_800), "شنبه ۳۰ آبان ۱۷:۰۰");
    }

    #[test]
    fn days_start_at_tehran_midnight() {
        // 2026-11-21T20:45Z is 00:15 on 1 Azar in Tehran; that day began at 20:30Z.
        assert_eq!(tehran_midnight(1_795_293_900), 1_795_293_000);
        assert_eq!(format_day(1_795_293_000), "یکشنبه ۱ آذر");
        assert_eq!(tehran_midnight(1_795_293_000), 1_795_293_000);
    }

    #[test]
    fn digits_only_are_replaced() {
        assert_eq!(persian_digits("a1:09"), "a۱:۰۹");
    }
}
