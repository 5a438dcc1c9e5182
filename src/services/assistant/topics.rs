//! Which of the common questions a buyer's message asks. Persian is written many ways (Arabic
//! or Persian letters, a zero-width non-joiner or a space or nothing inside a word, colloquial
//! endings), so both the message and the phrases are squashed to letters before matching. A
//! message that matches nothing gets no answer: silence beats a wrong reply.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Price,
    Available,
    Where,
    When,
}

impl Topic {
    /// In the order answers are written into one reply.
    pub const ALL: [Topic; 4] = [Topic::Available, Topic::Price, Topic::Where, Topic::When];

    /// Phrases, squashed like the message. Each is specific enough to mean the topic wherever
    /// it appears: «وقت» alone is left out because «وقت بخیر» is a greeting.
    fn phrases(self) -> &'static [&'static str] {
        match self {
            Topic::Price => &[
                "قیمت",
                "چنده",
                "چندمیدی",
                "چندمیدید",
                "چندمیفروشی",
                "چندتومن",
                "چندتومان",
                "چقدر",
                "چقد",
                "مبلغ",
                "تخفیف",
                "اخرش",
                "کمترمیدی",
                "کمترمیدید",
                "price",
            ],
            Topic::Available => &[
                "موجود",
                "هنوزهست",
                "هستهنوز",
                "هنوزدار",
                "هنوزفروش",
                "فروشرفت",
                "فروختی",
                "فروختید",
                "فروختین",
                "فروختهشد",
                "available",
            ],
            Topic::Where => &[
                "کجا",
                "ادرس",
                "نشانی",
                "محله",
                "کدوممحل",
                "کدام محل",
                "لوکیشن",
                "location",
                "where",
            ],
            Topic::When => &[
                "بازدید",
                "ببینم",
                "ببینمش",
                "ببینیم",
                "ببینیمش",
                "ازنزدیک",
                "کیمیشه",
                "کیمیتونم",
                "کیمیتونیم",
                "کیبیام",
                "کیبیایم",
                "چهساعتی",
                "چهروزی",
                "چهزمانی",
                "چهوقت",
                "visit",
            ],
        }
    }
}

/// Letters only, one spelling: Arabic forms to Persian, hamza seats and marks dropped, Latin
/// lowercased; spaces, ZWNJ, digits and punctuation removed.
pub fn squash(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            'ي' | 'ى' | 'ئ' => Some('ی'),
            'ك' => Some('ک'),
            'ة' | 'ۀ' => Some('ه'),
            'أ' | 'إ' | 'آ' | 'ٱ' => Some('ا'),
            'ؤ' => Some('و'),
            // Harakat, tanwin, shadda, superscript alef, tatweel.
            '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' => None,
            // Arabic-script letters (its digits and punctuation excluded) and Latin ones; the
            // full Unicode tables would cost the worker tens of kilobytes for nothing here.
            '\u{0620}'..='\u{064A}' | '\u{066E}'..='\u{06D3}' | '\u{06D5}' | '\u{06FA}'..='\u{06FF}' => Some(c),
            c if c.is_ascii_alphabetic() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// The topics `text` asks about, in `Topic::ALL` order.
pub fn topics(text: &str) -> Vec<Topic> {
    let squashed = squash(text);
    Topic::ALL
        .into_iter()
        .filter(|t| t.phrases().iter().any(|p| squashed.contains(&squash(p))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Topic::*;

    #[test]
    fn buyers_questions_as_they_are_typed() {
        let cases: &[(&str, &[Topic])] = &[
            ("سلام، قیمت آخرش چنده؟", &[Price]),
            ("قيمت نهايي چند است", &[Price]),
            ("چند می‌دی؟", &[Price]),
            ("چند میدی", &[Price]),
            ("تخفیف هم میدید؟", &[Price]),
            ("هنوز موجوده؟", &[Available]),
            ("هنوز هست؟", &[Available]),
            ("فروش رفته؟", &[Available]),
            ("هنوز موجوده؟ کی می‌تونم ببینم؟", &[Available, When]),
            ("آدرس کجاست؟", &[Where]),
            ("كجا هستيد", &[Where]),
            ("کدوم محله‌اید؟", &[Where]),
            ("برای بازدید چه ساعتی خوبه؟", &[When]),
            ("کی میشه اومد دید", &[When]),
            ("Is it still available? Price?", &[Available, Price]),
            ("سلام وقت بخیر", &[]),
            ("سلام", &[]),
            ("ممنون", &[]),
            ("رنگش چیه؟", &[]),
            ("", &[]),
            ("۱۲۳۴ !!!", &[]),
        ];
        for (text, expected) in cases {
            assert_eq!(topics(text), expected.to_vec(), "{text}");
        }
    }

    #[test]
    fn spellings_squash_to_one() {
        assert_eq!(squash("می‌تونم"), squash("میتونم"));
        assert_eq!(squash("می تونم"), squash("میتونم"));
        assert_eq!(squash("كيف"), squash("کیف"));
        assert_eq!(squash("آدرس"), squash("ادرس"));
        assert_eq!(squash("قیمـــت"), "قیمت");
        assert_eq!(squash("PRICE?"), "price");
    }
}
