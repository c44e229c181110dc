//! Errors of the domain model.
use std::fmt;

/// A configuration or value error. Every variant names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// A decimal string could not be parsed at the requested scale.
    BadDecimal {
        /// The offending text.
        text: String,
        /// The scale (number of decimals) it was parsed at.
        decimals: u32,
        /// Why it was refused.
        why: &'static str,
    },
    /// An instrument definition is inconsistent.
    BadInstrument {
        /// Instrument key (`venue:symbol`) or id.
        instrument: String,
        /// What is wrong.
        why: String,
    },
    /// A composite definition is inconsistent.
    BadComposite {
        /// Composite name.
        composite: String,
        /// What is wrong.
        why: String,
    },
    /// The RFQ configuration (tiers, clients, risk, pricing v2, desk) is inconsistent.
    BadRfq {
        /// What part (e.g. `client acme`).
        what: String,
        /// What is wrong.
        why: String,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::BadDecimal { text, decimals, why } => {
                write!(f, "bad decimal {text:?} at {decimals} decimals: {why}")
            }
            ModelError::BadInstrument { instrument, why } => {
                write!(f, "instrument {instrument}: {why}")
            }
            ModelError::BadComposite { composite, why } => write!(f, "composite {composite}: {why}"),
            ModelError::BadRfq { what, why } => write!(f, "{what}: {why}"),
        }
    }
}

impl std::error::Error for ModelError {}
