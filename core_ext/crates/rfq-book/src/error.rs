use std::fmt;

/// Why a book update was refused. A refused update changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookError {
    /// Price must be strictly positive.
    NonPositivePrice(i64),
    /// Quantity must not be negative (zero deletes a level).
    NegativeQuantity(i64),
    /// The ladder already holds its fixed capacity of levels.
    CapacityExceeded(usize),
    /// The price is not a multiple of the ladder's tick.
    OffTick(i64),
}

impl fmt::Display for BookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BookError::NonPositivePrice(p) => write!(f, "price {p} is not positive"),
            BookError::NegativeQuantity(q) => write!(f, "quantity {q} is negative"),
            BookError::CapacityExceeded(c) => write!(f, "ladder full ({c} levels)"),
            BookError::OffTick(p) => write!(f, "price {p} is not a multiple of the tick"),
        }
    }
}

impl std::error::Error for BookError {}
