//! The wire codes of a `CONTROL` record: the command in `side`, the field in `source`.
//!
//! Part of the one source of wire codes (see `codes.rs`); `tools/wire_codes.py` generates the
//! Python enums and the field tables of `docs/rfq-protocol.md` from it.

/// `CONTROL` commands and fields (docs/rfq-protocol.md).
pub mod control {
    pub use self::command::*;

    /// `CONTROL` commands, carried in `side`.
    pub mod command {
        /// Kill switch on/off for a scope.
        pub const KILL: u8 = 1;
        /// Clear a repeated-execution halt.
        pub const REENABLE: u8 = 2;
        /// Restricted list on/off for an instrument.
        pub const RESTRICT: u8 = 3;
        /// Change a client field.
        pub const SET_CLIENT: u8 = 4;
        /// Change an instrument risk field.
        pub const SET_INSTRUMENT: u8 = 5;
        /// Change a tier field.
        pub const SET_TIER: u8 = 6;
        /// Change a pricing field.
        pub const SET_PRICING: u8 = 7;
        /// Change a desk field.
        pub const SET_DESK: u8 = 8;
        /// Approve a pending RFQ.
        pub const APPROVE: u8 = 9;
        /// Decline a pending RFQ.
        pub const DECLINE: u8 = 10;
        /// The desk cancels a live quote.
        pub const CANCEL_QUOTE: u8 = 11;
        /// Change a composite's hedging policy (docs/hedging.md).
        pub const SET_HEDGE: u8 = 12;
        /// Change a composite's pricing v1 ladder sizes.
        pub const SET_LADDER: u8 = 13;
        /// Include (`qty` 1) or exclude (0) member instrument `price` of composite `instrument`.
        pub const SET_MEMBER: u8 = 14;
    }

    /// Field codes of the `SET_*` commands, carried in `source`.
    pub mod field {
        /// `SET_CLIENT` fields (scope: `price` = client id).
        pub mod client {
            /// Credit limit (cents).
            pub const CREDIT_LIMIT: u16 = 1;
            /// Max open quotes.
            pub const MAX_OPEN_QUOTES: u16 = 2;
            /// RFQ rate per second.
            pub const RFQ_RATE: u16 = 3;
            /// RFQ burst.
            pub const RFQ_BURST: u16 = 4;
            /// Accept rate per second.
            pub const ACCEPT_RATE: u16 = 5;
            /// Accept burst.
            pub const ACCEPT_BURST: u16 = 6;
            /// Tier id.
            pub const TIER: u16 = 7;
            /// Enabled (0/1).
            pub const ENABLED: u16 = 8;
        }

        /// `SET_INSTRUMENT` fields (scope: `instrument`).
        pub mod instrument {
            /// Min qty.
            pub const MIN_QTY: u16 = 1;
            /// Max qty.
            pub const MAX_QTY: u16 = 2;
            /// Max notional (cents).
            pub const MAX_NOTIONAL: u16 = 3;
            /// Long limit (qty).
            pub const LONG_LIMIT: u16 = 4;
            /// Short limit (qty, positive).
            pub const SHORT_LIMIT: u16 = 5;
            /// Collar (cbps).
            pub const COLLAR_CBPS: u16 = 6;
            /// Approval qty.
            pub const APPROVAL_QTY: u16 = 7;
            /// Approval notional (cents).
            pub const APPROVAL_NOTIONAL: u16 = 8;
            /// Approval timeout (ns).
            pub const APPROVAL_TIMEOUT_NS: u16 = 9;
        }

        /// `SET_TIER` fields (scope: `price` = tier id).
        pub mod tier {
            /// Markup (cbps).
            pub const MARKUP_CBPS: u16 = 1;
            /// Fee (cbps).
            pub const FEE_CBPS: u16 = 2;
            /// Default TTL (ns).
            pub const TTL_NS: u16 = 3;
            /// Max TTL (ns).
            pub const MAX_TTL_NS: u16 = 4;
            /// Allow partial fills (0/1).
            pub const ALLOW_PARTIAL: u16 = 5;
        }

        /// `SET_PRICING` fields (scope: `instrument`).
        pub mod pricing {
            /// Skew (cbps per whole unit of desk position).
            pub const SKEW_CBPS_PER_UNIT: u16 = 1;
            /// Max skew (cbps).
            pub const MAX_SKEW_CBPS: u16 = 2;
            /// Volatility multiplier (percent).
            pub const VOL_MULT_PCT: u16 = 3;
            /// Volatility EMA shift.
            pub const VOL_EMA_SHIFT: u16 = 4;
            /// Hedge fee (cbps).
            pub const HEDGE_FEE_CBPS: u16 = 5;
            /// Ladder base half-spread (cbps).
            pub const BASE_CBPS: u16 = 6;
            /// Ladder size spread (cbps per unit).
            pub const SIZE_CBPS_PER_UNIT: u16 = 7;
        }

        /// `SET_DESK` fields (no scope).
        pub mod desk {
            /// Repeated-execution count.
            pub const EXEC_COUNT: u16 = 1;
            /// Repeated-execution window (ns).
            pub const EXEC_WINDOW_NS: u16 = 2;
        }

        /// `SET_HEDGE` fields (scope: `instrument` = composite; docs/hedging.md).
        pub mod hedge {
            /// Mode: a `hedge_mode` value.
            pub const MODE: u16 = 1;
            /// Ratio (percent).
            pub const RATIO_PCT: u16 = 2;
            /// Threshold (composite qty units).
            pub const THRESHOLD: u16 = 3;
            /// Max slippage (cbps).
            pub const MAX_SLIPPAGE_CBPS: u16 = 4;
            /// Retry (ns).
            pub const RETRY_NS: u16 = 5;
        }

        /// `SET_LADDER` fields (scope: `instrument` = composite; the ladder must stay increasing, ≤ 32 sizes).
        pub mod ladder {
            /// The ladder size at index `aux` becomes `qty` (index = the ladder's length appends).
            pub const SIZE_AT: u16 = 1;
            /// Keep the first `qty` sizes.
            pub const TRUNCATE: u16 = 2;
        }
    }

    /// Values of the `SET_HEDGE` field `MODE` (in `qty`).
    pub mod hedge_mode {
        /// No hedging.
        pub const OFF: i64 = 0;
        /// Hedge the client flow in full.
        pub const FULL: i64 = 1;
        /// Hedge `RATIO_PCT` percent of the client flow.
        pub const PARTIAL: i64 = 2;
        /// Hedge the whole client flow once the unhedged position reaches `THRESHOLD`.
        pub const THRESHOLD: i64 = 3;
    }
}
