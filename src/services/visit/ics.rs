//! The agreed visit as an iCalendar (RFC 5545) event, for the "add to calendar" button.

use super::jalali::civil_from_days;

/// How long a visit is put in the calendar for.
pub const VISIT_MINUTES: i64 = 60;
/// The calendar reminds the person this long before the visit.
pub const ALARM_MINUTES: i64 = 60;

fn utc_stamp(unix_secs: i64) -> String {
    let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
    let s = unix_secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", s / 3600, (s % 3600) / 60, s % 60)
}

/// RFC 5545 §3.3.11: backslash, semicolon and comma escaped, newlines as `\n`, and no
/// control characters at all (they could forge properties).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Lines longer than 75 octets are folded (RFC 5545 §3.1), on character boundaries.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out
}

pub struct VisitEvent<'a> {
    pub uid: &'a str,
    pub start_unix: i64,
    pub summary: &'a str,
    pub description: &'a str,
    pub url: Option<&'a str>,
    /// Where, when the launch said (a location message's coordinates, as `lat,lon`).
    pub location: Option<&'a str>,
    pub stamp_unix: i64,
}

pub fn render(event: &VisitEvent) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        "PRODID:-//kenar-edge//visit//FA".to_string(),
        "CALSCALE:GREGORIAN".to_string(),
        "METHOD:PUBLISH".to_string(),
        "BEGIN:VEVENT".to_string(),
        format!("UID:{}@kenar-edge", escape(event.uid)),
        format!("DTSTAMP:{}", utc_stamp(event.stamp_unix)),
        format!("DTSTART:{}", utc_stamp(event.start_unix)),
        format!("DTEND:{}", utc_stamp(event.start_unix + VISIT_MINUTES * 60)),
        format!("SUMMARY:{}", escape(event.summary)),
        format!("DESCRIPTION:{}", escape(event.description)),
    ];
    if let Some(url) = event.url {
        lines.push(format!("URL:{}", escape(url)));
    }
    if let Some(location) = event.location {
        lines.push(format!("LOCATION:{}", escape(location)));
    }
    lines.extend([
        "BEGIN:VALARM".to_string(),
        "ACTION:DISPLAY".to_string(),
        format!("DESCRIPTION:{}", escape(event.summary)),
        format!("TRIGGER:-PT{ALARM_MINUTES}M"),
        "END:VALARM".to_string(),
        "END:VEVENT".to_string(),
        "END:VCALENDAR".to_string(),
    ]);
    lines.iter().map(|l| fold(l)).collect::<Vec<_>>().join("\r\n") + "\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_valid_event_in_utc() {
        let ics = render(&VisitEvent {
            uid: "p1",
            start_unix: 1_795_267_800,
            summary: "بازدید",
            description: "یادداشت",
            url: Some("https://divar.ir/v/gZd7omnS"),
            location: Some("35.7,51.4"),
            stamp_unix: 1_795_000_000,
        });
        assert!(ics.contains("\r\nLOCATION:35.7\\,51.4\r\n"));
        assert!(ics.contains("\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n"));
        assert!(ics.contains("\r\nTRIGGER:-PT60M\r\n"));
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ics.contains("\r\nDTSTART:20261121T133000Z\r\n"));
        assert!(ics.contains("\r\nDTEND:20261121T143000Z\r\n"));
        assert!(ics.contains("\r\nUID:p1@kenar-edge\r\n"));
        assert!(ics.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
    }

    #[test]
    fn hostile_text_cannot_add_properties() {
        let ics = render(&VisitEvent {
            uid: "p1",
            start_unix: 0,
            summary: "x\r\nATTENDEE:mailto:evil@example.com",
            description: "a;b,c\\d\ne",
            url: None,
            location: None,
            stamp_unix: 0,
        });
        assert!(!ics.contains("\r\nATTENDEE"));
        assert!(ics.contains("DESCRIPTION:a\\;b\\,c\\\\d\\ne"));
    }

    #[test]
    fn long_lines_fold_on_character_boundaries() {
        let long = "ب".repeat(100);
        let folded = fold(&format!("SUMMARY:{long}"));
        for line in folded.split("\r\n") {
            assert!(line.len() <= 75, "{}", line.len());
        }
        assert_eq!(folded.replace("\r\n ", ""), format!("SUMMARY:{long}"));
    }
}
