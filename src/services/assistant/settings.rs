//! What a seller tells their assistant to say, read once at the door into types: every text
//! cleaned and bounded, working hours as minutes of a Tehran day.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AppError;
use crate::services::visit::jalali::TEHRAN_OFFSET_SECS;
use crate::web::clean_text;

/// Longer than any chat answer needs; Divar's own message limit is far above.
pub const TEXT_MAX_CHARS: usize = 500;

/// A seller's answers to the questions buyers ask most. An empty text is not sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    pub price: String,
    pub available: String,
    #[serde(rename = "where")]
    pub place: String,
    pub when: String,
}

/// A time of day in Tehran, in minutes after midnight; written "HH:MM".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(u16);

impl ClockTime {
    pub fn parse(raw: &str) -> Option<Self> {
        let (h, m) = raw.trim().split_once(':')?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return None;
        }
        let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
        (h < 24 && m < 60).then_some(ClockTime(h * 60 + m))
    }

    pub fn minutes(self) -> u16 {
        self.0
    }

    /// The time of day in Tehran at `now_ms` (Iran has kept standard time all year since 2022).
    pub fn at(now_ms: u64) -> Self {
        let secs = (now_ms / 1000) as i64 + TEHRAN_OFFSET_SECS;
        ClockTime((secs.rem_euclid(86_400) / 60) as u16)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:02}:{:02}", self.0 / 60, self.0 % 60))
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        ClockTime::parse(&raw).ok_or_else(|| serde::de::Error::custom("a time of day as HH:MM"))
    }
}

/// When the seller answers themselves. `from` after `to` spans midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    pub from: ClockTime,
    pub to: ClockTime,
}

impl Hours {
    pub fn contains(&self, t: ClockTime) -> bool {
        match self.from.cmp(&self.to) {
            std::cmp::Ordering::Less => self.from <= t && t < self.to,
            std::cmp::Ordering::Greater => t >= self.from || t < self.to,
            // The same start and end: a whole day.
            std::cmp::Ordering::Equal => true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub enabled: bool,
    pub greeting: String,
    pub answers: Answers,
    /// `None`: always at work, no away message.
    pub hours: Option<Hours>,
    pub away: String,
}

impl Default for Settings {
    /// What a seller starts from: polite, true of any post, and off until they turn it on.
    fn default() -> Self {
        Settings {
            enabled: false,
            greeting: "سلام، ممنون از پیامتان. این پاسخ خودکار است؛ خودم هم به‌زودی جواب می‌دهم.".into(),
            answers: Answers {
                price: String::new(),
                available: "بله، هنوز موجود است.".into(),
                place: String::new(),
                when: "برای هماهنگی زمان بازدید، دکمهٔ «پیشنهاد زمان بازدید» را بزنید.".into(),
            },
            hours: None,
            away: "الان در دسترس نیستم؛ در ساعت کاری پاسخ می‌دهم.".into(),
        }
    }
}

fn invalid(field: &str, why: &str) -> AppError {
    AppError::InvalidField {
        field: format!("settings.{field}"),
        why: why.into(),
    }
}

fn text(obj: &serde_json::Map<String, Value>, name: &str, field: &str) -> Result<String, AppError> {
    let raw = match obj.get(name) {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(Value::String(s)) => s,
        Some(_) => return Err(invalid(field, "must be text")),
    };
    // What the seller typed goes to strangers: no bidi or control-character tricks.
    let clean = clean_text(raw);
    if clean.chars().count() > TEXT_MAX_CHARS {
        return Err(invalid(field, &format!("is longer than {TEXT_MAX_CHARS} characters")));
    }
    Ok(clean)
}

fn clock(obj: &serde_json::Map<String, Value>, name: &str) -> Result<ClockTime, AppError> {
    obj.get(name)
        .and_then(Value::as_str)
        .and_then(ClockTime::parse)
        .ok_or_else(|| invalid(&format!("hours.{name}"), "must be a time of day as HH:MM"))
}

impl Settings {
    /// Reads the page's `settings` object, naming the first field that is wrong.
    pub fn from_page(value: &Value) -> Result<Self, AppError> {
        let obj = value.as_object().ok_or_else(|| invalid("", "must be a JSON object"))?;
        let enabled = match obj.get("enabled") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("enabled", "must be true or false")),
        };
        let empty = serde_json::Map::new();
        let answers = match obj.get("answers") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(a)) => a,
            Some(_) => return Err(invalid("answers", "must be an object")),
        };
        let hours = match obj.get("hours") {
            None | Some(Value::Null) => None,
            Some(Value::Object(h)) => Some(Hours {
                from: clock(h, "from")?,
                to: clock(h, "to")?,
            }),
            Some(_) => {
                return Err(invalid(
                    "hours",
                    "must be null or {\"from\": \"HH:MM\", \"to\": \"HH:MM\"}",
                ))
            }
        };
        let settings = Settings {
            enabled,
            greeting: text(obj, "greeting", "greeting")?,
            answers: Answers {
                price: text(answers, "price", "answers.price")?,
                available: text(answers, "available", "answers.available")?,
                place: text(answers, "where", "answers.where")?,
                when: text(answers, "when", "answers.when")?,
            },
            hours,
            away: text(obj, "away", "away")?,
        };
        if settings.hours.is_some() && settings.away.is_empty() {
            return Err(invalid("away", "is needed when working hours are set"));
        }
        Ok(settings)
    }

    /// Whether `now_ms` falls outside the seller's working hours.
    pub fn away_at(&self, now_ms: u64) -> bool {
        self.hours.is_some_and(|h| !h.contains(ClockTime::at(now_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(e: AppError) -> String {
        match e {
            AppError::InvalidField { field, .. } => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn clock_times_are_strict() {
        assert_eq!(ClockTime::parse("09:30").map(ClockTime::minutes), Some(570));
        assert_eq!(ClockTime::parse("9:05").map(ClockTime::minutes), Some(545));
        for bad in ["24:00", "12:60", "12", "1:2", "", "aa:bb", "-1:00", "123:00"] {
            assert_eq!(ClockTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn hours_span_midnight_when_from_is_later() {
        let t = |s| ClockTime::parse(s).expect("time");
        let day = Hours {
            from: t("09:00"),
            to: t("21:00"),
        };
        assert!(day.contains(t("09:00")) && day.contains(t("20:59")));
        assert!(!day.contains(t("21:00")) && !day.contains(t("08:59")));
        let night = Hours {
            from: t("20:00"),
            to: t("02:00"),
        };
        assert!(night.contains(t("23:00")) && night.contains(t("01:59")));
        assert!(!night.contains(t("02:00")) && !night.contains(t("12:00")));
        assert!(Hours {
            from: t("08:00"),
            to: t("08:00")
        }
        .contains(t("03:00")));
    }

    #[test]
    fn tehran_time_is_three_and_a_half_hours_ahead() {
        // 2026-11-22 05:30 UTC is 09:00 in Tehran.
        let at = 1_795_325_400_000;
        assert_eq!(ClockTime::at(at), ClockTime::parse("09:00").expect("time"));
        let s = Settings {
            hours: Some(Hours {
                from: ClockTime::parse("09:00").expect("t"),
                to: ClockTime::parse("17:00").expect("t"),
            }),
            ..Settings::default()
        };
        assert!(!s.away_at(at));
        assert!(s.away_at(at - 60_000));
    }

    #[test]
    fn the_page_gets_the_field_that_is_wrong() {
        let base =
            json!({"enabled": true, "greeting": "سلام", "answers": {"price": "۱۰ میلیون"}, "hours": null, "away": ""});
        let ok = Settings::from_page(&base).expect("valid");
        assert_eq!(
            (ok.enabled, ok.answers.price.as_str(), ok.hours),
            (true, "۱۰ میلیون", None)
        );
        let cases = [
            (json!({"enabled": "yes"}), "settings.enabled"),
            (json!({"greeting": 5}), "settings.greeting"),
            (json!({"answers": {"price": "x".repeat(501)}}), "settings.answers.price"),
            (json!({"answers": {"where": ["x"]}}), "settings.answers.where"),
            (json!({"answers": "x"}), "settings.answers"),
            (
                json!({"hours": {"from": "25:00", "to": "10:00"}, "away": "x"}),
                "settings.hours.from",
            ),
            (json!({"hours": {"from": "09:00"}, "away": "x"}), "settings.hours.to"),
            (
                json!({"hours": {"from": "09:00", "to": "17:00"}, "away": ""}),
                "settings.away",
            ),
            (json!({"hours": "always"}), "settings.hours"),
            (json!([]), "settings."),
        ];
        for (body, field) in cases {
            assert_eq!(
                field_of(Settings::from_page(&body).expect_err("invalid")),
                field,
                "{body}"
            );
        }
    }

    #[test]
    fn typed_text_is_cleaned_and_counted_in_characters() {
        let s = Settings::from_page(&json!({"greeting": "\u{202E}سلام\u{0007} ", "away": "ب".repeat(500)}))
            .expect("500 Persian letters are 500 characters");
        assert_eq!(s.greeting, "سلام");
        let round = serde_json::to_value(&s).expect("json");
        assert_eq!(Settings::from_page(&round).expect("round trip"), s);
    }
}
