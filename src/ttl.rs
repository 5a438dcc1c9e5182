//! Lifetimes of things kept in KV. Workers KV refuses an expiration TTL under 60 s, so a `Ttl`
//! cannot be built below that floor and the store never meets the error at run time.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(u32);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a KV lifetime must be at least {min} s, got {0} s", min = Ttl::MIN_SECS)]
pub struct TtlTooShort(pub u64);

impl Ttl {
    pub const MIN_SECS: u32 = 60;

    pub fn from_secs(secs: u64) -> Result<Self, TtlTooShort> {
        if secs < u64::from(Self::MIN_SECS) {
            return Err(TtlTooShort(secs));
        }
        Ok(Ttl(u32::try_from(secs).unwrap_or(u32::MAX)))
    }

    /// For lifetimes that may legitimately be shorter than KV allows (a code valid for 30 s):
    /// rounds up to the floor so the entry outlives its meaning, never the other way round.
    pub fn at_least_floor(secs: u64) -> Self {
        Ttl(u32::try_from(secs.max(u64::from(Self::MIN_SECS))).unwrap_or(u32::MAX))
    }

    pub fn secs(self) -> u64 {
        u64::from(self.0)
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_lifetimes_under_the_kv_floor() {
        assert_eq!(Ttl::from_secs(59), Err(TtlTooShort(59)));
        assert_eq!(Ttl::from_secs(0), Err(TtlTooShort(0)));
        assert_eq!(Ttl::from_secs(60).map(Ttl::secs), Ok(60));
    }

    #[test]
    fn rounding_up_never_shortens() {
        assert_eq!(Ttl::at_least_floor(5).secs(), 60);
        assert_eq!(Ttl::at_least_floor(600).secs(), 600);
        assert_eq!(Ttl::at_least_floor(u64::MAX).secs(), u64::from(u32::MAX));
    }
}
