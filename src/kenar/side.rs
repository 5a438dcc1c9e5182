//! Which side of a post's chat a person is on. Divar spells it `Supply`, `SUPPLY` or `supply`
//! depending on the doc page; all mean the same.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserSide {
    /// The seller, who owns the post.
    Supply,
    /// The buyer.
    Demand,
}

impl UserSide {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "SUPPLY" | "SUPPLIER" | "SELLER" => Some(UserSide::Supply),
            "DEMAND" | "BUYER" => Some(UserSide::Demand),
            _ => None,
        }
    }

    pub fn other(self) -> Self {
        match self {
            UserSide::Supply => UserSide::Demand,
            UserSide::Demand => UserSide::Supply,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_accepted() {
        for raw in ["Supply", "SUPPLY", "supply", " Supply "] {
            assert_eq!(UserSide::parse(raw), Some(UserSide::Supply), "{raw}");
        }
        for raw in ["Demand", "DEMAND", "demand"] {
            assert_eq!(UserSide::parse(raw), Some(UserSide::Demand), "{raw}");
        }
        assert_eq!(UserSide::parse("both"), None);
        assert_eq!(UserSide::Supply.other(), UserSide::Demand);
    }
}
