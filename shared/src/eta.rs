//! The honest ETA a merchant gives for a SKU, and the sentence shoppers read.

use crate::{Date, DomainError};
use serde::{Deserialize, Serialize};

/// When units are expected to ship: a single day (`earliest == latest`) or a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EtaWire")]
pub struct Eta {
    earliest: Date,
    latest: Date,
}

#[derive(Deserialize)]
struct EtaWire {
    earliest: Date,
    latest: Date,
}

impl TryFrom<EtaWire> for Eta {
    type Error = DomainError;
    fn try_from(w: EtaWire) -> Result<Eta, DomainError> {
        Eta::new(w.earliest, w.latest)
    }
}

impl Eta {
    pub fn new(earliest: Date, latest: Date) -> Result<Eta, DomainError> {
        if earliest > latest {
            return Err(DomainError::EtaRange);
        }
        Ok(Eta { earliest, latest })
    }
    pub fn earliest(&self) -> Date {
        self.earliest
    }
    pub fn latest(&self) -> Date {
        self.latest
    }
}

/// The sentence used in messages and the widget. `today` decides whether a year is spelled out.
pub fn eta_phrase(eta: Option<&Eta>, today: Date) -> String {
    let year = today.year();
    match eta {
        None => "we'll tell you as soon as we know when it ships".to_owned(),
        Some(e) if e.earliest.week_start() == e.latest.week_start() => {
            format!("we expect this to ship the week of {}", e.earliest.week_start().long_text(year))
        }
        Some(e) => {
            format!("we expect this to ship between {} and {}", e.earliest.long_text(year), e.latest.long_text(year))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn phrase_table() {
        let today = d("2026-11-29");
        let cases = [
            (None, "we'll tell you as soon as we know when it ships"),
            (Some(("2026-12-07", "2026-12-07")), "we expect this to ship the week of December 7"),
            (Some(("2026-12-09", "2026-12-11")), "we expect this to ship the week of December 7"),
            (Some(("2026-12-07", "2026-12-18")), "we expect this to ship between December 7 and December 18"),
            (Some(("2027-01-06", "2027-01-06")), "we expect this to ship the week of January 4, 2027"),
        ];
        for (eta, want) in cases {
            let eta = eta.map(|(a, b)| Eta::new(d(a), d(b)).unwrap());
            assert_eq!(eta_phrase(eta.as_ref(), today), want);
        }
    }

    #[test]
    fn reversed_range_is_rejected() {
        assert_eq!(Eta::new(d("2026-12-08"), d("2026-12-07")), Err(DomainError::EtaRange));
        let wire = r#"{"earliest":"2026-12-08","latest":"2026-12-07"}"#;
        assert!(serde_json::from_str::<Eta>(wire).is_err());
    }
}
