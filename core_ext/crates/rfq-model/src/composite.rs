//! Composite books: one underlying priced across several venue books.

use crate::error::ModelError;
use crate::fixed::MAX_DECIMALS;

/// Pricing v1 parameters of a composite: a ladder of sizes and a spread model.
///
/// Spreads are integers in hundredths of a basis point (`cbps`, 1 cbps = 1e-6 relative):
/// half-spread for size `q` = `base_cbps + size_cbps_per_unit * q / 10^qty_decimals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingParams {
    /// Quote ladder sizes in composite quantity units, strictly increasing.
    pub sizes: Vec<i64>,
    /// Base half-spread, cbps.
    pub base_cbps: i64,
    /// Extra half-spread per whole base unit of size, cbps.
    pub size_cbps_per_unit: i64,
}

/// A composite book definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompositeSpec {
    /// Composite id, 1-based; the `instrument` field of `QUOTE` records.
    pub id: u16,
    /// Name, e.g. `BTC`.
    pub name: String,
    /// Price scale of the composite (at least as fine as every member's).
    pub price_decimals: u32,
    /// Quantity scale of the composite, base units (8 = satoshi for BTC).
    pub qty_decimals: u32,
    /// Member instrument ids that are included.
    pub members: Vec<u16>,
    /// A member whose book has not updated for this long (core clock) is stale.
    pub stale_after_ns: i64,
    /// Basis normalisation: members' prices are shifted by an exponential moving average of
    /// `reference mid − member mid` (the reference is the first member), updated at each
    /// repricing with weight `2^-basis_ema_shift`. 0 disables it (raw prices are merged).
    pub basis_ema_shift: u32,
    /// The composite counts as crossed (no quote) only when its best bid exceeds its best ask
    /// by more than this, in cbps of the ask. Venues overlap by a few ticks all the time; an
    /// overlap beyond the tolerance is a dislocation. Sizes whose final quote would be crossed
    /// are withdrawn regardless.
    pub cross_tolerance_cbps: i64,
    /// Pricing parameters.
    pub pricing: PricingParams,
}

impl CompositeSpec {
    /// Check internal consistency (members are checked against instruments by the engine).
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |why: String| Err(ModelError::BadComposite { composite: self.name.clone(), why });
        if self.id == 0 {
            return bad("id 0 is reserved".into());
        }
        if self.price_decimals > MAX_DECIMALS || self.qty_decimals > MAX_DECIMALS {
            return bad("scale above 18 decimals".into());
        }
        if self.basis_ema_shift > 20 {
            return bad(format!("basis_ema_shift {} above 20", self.basis_ema_shift));
        }
        if !(0..1_000_000).contains(&self.cross_tolerance_cbps) {
            return bad(format!("cross tolerance {} cbps out of range", self.cross_tolerance_cbps));
        }
        if self.stale_after_ns <= 0 {
            return bad("stale_after must be positive".into());
        }
        self.pricing.validate().or_else(bad)
    }
}

impl PricingParams {
    /// Check the ladder and spread parameters.
    pub fn validate(&self) -> Result<(), String> {
        if self.sizes.is_empty() {
            return Err("empty size ladder".into());
        }
        if self.sizes.len() > 32 {
            return Err("more than 32 ladder sizes".into());
        }
        if self.sizes[0] <= 0 || self.sizes.windows(2).any(|w| w[0] >= w[1]) {
            return Err("ladder sizes must be positive and strictly increasing".into());
        }
        if self.base_cbps < 0 || self.size_cbps_per_unit < 0 {
            return Err("spreads must not be negative".into());
        }
        if self.base_cbps >= 1_000_000 {
            return Err("base spread of 100% or more".into());
        }
        Ok(())
    }
}
