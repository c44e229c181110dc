//! [`OrderState`]: where one order is in its life, and its stable wire code.

/// The state of one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderState {
    /// Created, not yet sent to the venue.
    New,
    /// Sent, no report from the venue yet.
    PendingNew,
    /// Acknowledged by the venue, nothing filled.
    Acknowledged,
    /// Acknowledged, partly filled.
    PartiallyFilled,
    /// A cancel was requested (or the venue disconnected with the order open); the order may
    /// still fill until the venue confirms.
    PendingCancel,
    /// Terminal: completely filled.
    Filled,
    /// Terminal: cancelled (by request, by the venue, or closed by reconciliation).
    Cancelled,
    /// Terminal: the venue refused the order.
    Rejected,
    /// Terminal: the venue expired the order (time in force).
    Expired,
}

impl OrderState {
    /// Filled, cancelled, rejected or expired.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Filled | Self::Cancelled | Self::Rejected | Self::Expired)
    }

    /// Live at the venue as far as we know (sent and not terminal).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::PendingNew | Self::Acknowledged | Self::PartiallyFilled | Self::PendingCancel
        )
    }
}

const STATES: [OrderState; 9] = [
    OrderState::New,
    OrderState::PendingNew,
    OrderState::Acknowledged,
    OrderState::PartiallyFilled,
    OrderState::PendingCancel,
    OrderState::Filled,
    OrderState::Cancelled,
    OrderState::Rejected,
    OrderState::Expired,
];

impl OrderState {
    /// A stable code (0..=8) for records and snapshots.
    pub fn code(self) -> u8 {
        STATES.iter().position(|s| *s == self).unwrap_or(0) as u8
    }

    /// The state with this [`OrderState::code`].
    pub fn from_code(c: u8) -> Option<OrderState> {
        STATES.get(usize::from(c)).copied()
    }
}
