//! Matching codes: the names Python uses and the `u8` codes of the event/request arrays.
use crate::errors::matching_err as merr;
use pyo3::prelude::*;
use rfq_match::{CancelReason, OrderType, PostOnly, RejectReason, Request, StpMode, TimeInForce};
use rfq_model::Side;

pub(crate) const REJECT_NAMES: [&str; 13] = [
    "unknown_order",
    "duplicate_id",
    "unknown_account",
    "bad_qty",
    "off_lot",
    "bad_price",
    "off_tick",
    "price_out_of_band",
    "invalid_combination",
    "book_full",
    "no_liquidity",
    "fok_not_fillable",
    "post_only_would_take",
];

pub(crate) fn reject_code(r: RejectReason) -> u8 {
    match r {
        RejectReason::UnknownOrder => 0,
        RejectReason::DuplicateId => 1,
        RejectReason::UnknownAccount => 2,
        RejectReason::BadQty => 3,
        RejectReason::OffLot => 4,
        RejectReason::BadPrice => 5,
        RejectReason::OffTick => 6,
        RejectReason::PriceOutOfBand => 7,
        RejectReason::InvalidCombination => 8,
        RejectReason::BookFull => 9,
        RejectReason::NoLiquidity => 10,
        RejectReason::FokNotFillable => 11,
        RejectReason::PostOnlyWouldTake => 12,
    }
}

pub(crate) const REQUEST_NAMES: [&str; 3] = ["new", "cancel", "replace"];
pub(crate) fn request_code(r: Request) -> u8 {
    match r {
        Request::New => 0,
        Request::Cancel => 1,
        Request::Replace => 2,
    }
}

pub(crate) const CANCEL_NAMES: [&str; 2] = ["user", "self_trade"];
pub(crate) fn cancel_code(r: CancelReason) -> u8 {
    match r {
        CancelReason::User => 0,
        CancelReason::SelfTrade => 1,
    }
}

pub(crate) const POST_ONLY_NAMES: [&str; 3] = ["off", "reject", "slide"];
pub(crate) fn post_only_code(p: PostOnly) -> u8 {
    match p {
        PostOnly::Off => 0,
        PostOnly::Reject => 1,
        PostOnly::Slide => 2,
    }
}

pub(crate) fn side_of(v: u8) -> Option<Side> {
    Side::from_u8(v)
}
pub(crate) fn kind_of(v: u8) -> Option<OrderType> {
    match v {
        0 => Some(OrderType::Limit),
        1 => Some(OrderType::Market),
        _ => None,
    }
}
pub(crate) fn tif_of(v: u8) -> Option<TimeInForce> {
    match v {
        0 => Some(TimeInForce::Gtc),
        1 => Some(TimeInForce::Ioc),
        2 => Some(TimeInForce::Fok),
        _ => None,
    }
}
pub(crate) fn post_only_of(v: u8) -> Option<PostOnly> {
    match v {
        0 => Some(PostOnly::Off),
        1 => Some(PostOnly::Reject),
        2 => Some(PostOnly::Slide),
        _ => None,
    }
}

pub(crate) fn parse<T>(what: &str, s: &str, names: &[&str], of: impl Fn(u8) -> Option<T>) -> PyResult<T> {
    names
        .iter()
        .position(|n| *n == s)
        .and_then(|i| of(i as u8))
        .ok_or_else(|| merr(format!("{what} must be one of {names:?}, got {s:?}")))
}

pub(crate) fn stp_of(s: &str) -> PyResult<StpMode> {
    Ok(match s {
        "none" => StpMode::Off,
        "cancel_newest" => StpMode::CancelNewest,
        "cancel_oldest" => StpMode::CancelOldest,
        "cancel_both" => StpMode::CancelBoth,
        _ => {
            return Err(merr(format!(
                "stp must be one of [\"none\", \"cancel_newest\", \"cancel_oldest\", \"cancel_both\"], got {s:?}"
            )))
        }
    })
}

