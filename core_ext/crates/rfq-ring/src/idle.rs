//! Idle strategies for polling loops (Aeron's `IdleStrategy`, LMAX's `WaitStrategy`).
//!
//! A duty cycle does some work, then calls `idle.idle(work_count)`: with `work_count > 0` the
//! strategy resets and returns at once; with 0 it waits according to its policy.
//!
//! ```
//! use rfq_ring::{IdleKind, IdleStrategy};
//! let mut idle = "park".parse::<IdleKind>()?.strategy();
//! idle.idle(0); // nothing done: back off a little
//! idle.idle(3); // did work: reset, no wait
//! # Ok::<(), rfq_ring::ParseIdleKindError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::thread;
use std::time::Duration;

/// What a polling loop does when a duty cycle found no work.
pub trait IdleStrategy {
    /// Called after each duty cycle with the amount of work done (0 = none: wait a little).
    fn idle(&mut self, work_count: usize);
    /// Forget any accumulated back-off (e.g. after work arrives by another route).
    fn reset(&mut self);
}

/// Never gives up the CPU: a `spin_loop` hint per idle call. Lowest latency, burns a core.
#[derive(Clone, Copy, Debug, Default)]
pub struct BusySpin;

impl IdleStrategy for BusySpin {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        if work_count == 0 {
            std::hint::spin_loop();
        }
    }

    #[inline]
    fn reset(&mut self) {}
}

/// Calls `thread::yield_now()` when idle: lets other runnable threads in, otherwise spins.
#[derive(Clone, Copy, Debug, Default)]
pub struct Yield;

impl IdleStrategy for Yield {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        if work_count == 0 {
            thread::yield_now();
        }
    }

    #[inline]
    fn reset(&mut self) {}
}

/// Spin, then yield, then park with a doubling timeout up to a cap (Aeron's
/// `BackoffIdleStrategy`). Any call with work resets it to spinning.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    max_spins: u32,
    max_yields: u32,
    min_park: Duration,
    max_park: Duration,
    spins: u32,
    yields: u32,
    park: Duration,
}

impl Backoff {
    /// Aeron's defaults: 10 spins, 5 yields, park from 1 µs doubling up to 1 ms.
    pub const DEFAULT: Backoff =
        Backoff::new(10, 5, Duration::from_micros(1), Duration::from_millis(1));

    /// `max_spins` spin hints, then `max_yields` yields, then parks starting at `min_park` and
    /// doubling up to `max_park` (`max_park` is raised to `min_park` if smaller).
    #[must_use]
    pub const fn new(
        max_spins: u32,
        max_yields: u32,
        min_park: Duration,
        max_park: Duration,
    ) -> Backoff {
        let max_park = if max_park.as_nanos() < min_park.as_nanos() {
            min_park
        } else {
            max_park
        };
        Backoff {
            max_spins,
            max_yields,
            min_park,
            max_park,
            spins: 0,
            yields: 0,
            park: min_park,
        }
    }

    /// The park timeout the next parking idle call would use.
    #[must_use]
    pub fn current_park(&self) -> Duration {
        self.park
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::DEFAULT
    }
}

impl IdleStrategy for Backoff {
    fn idle(&mut self, work_count: usize) {
        if work_count > 0 {
            self.reset();
        } else if self.spins < self.max_spins {
            self.spins += 1;
            std::hint::spin_loop();
        } else if self.yields < self.max_yields {
            self.yields += 1;
            thread::yield_now();
        } else {
            thread::park_timeout(self.park);
            self.park = self.park.saturating_mul(2).min(self.max_park);
        }
    }

    fn reset(&mut self) {
        self.spins = 0;
        self.yields = 0;
        self.park = self.min_park;
    }
}

/// The strategy names accepted in configuration: `"spin"`, `"yield"`, `"park"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IdleKind {
    /// [`BusySpin`].
    Spin,
    /// [`Yield`].
    #[default]
    Yield,
    /// [`Backoff`] with its defaults.
    Park,
}

impl IdleKind {
    /// The configuration name (`"spin"`, `"yield"` or `"park"`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            IdleKind::Spin => "spin",
            IdleKind::Yield => "yield",
            IdleKind::Park => "park",
        }
    }

    /// A fresh strategy of this kind.
    #[must_use]
    pub fn strategy(self) -> AnyIdle {
        match self {
            IdleKind::Spin => AnyIdle::Spin(BusySpin),
            IdleKind::Yield => AnyIdle::Yield(Yield),
            IdleKind::Park => AnyIdle::Park(Backoff::default()),
        }
    }
}

impl fmt::Display for IdleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown idle strategy name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseIdleKindError {
    /// The rejected input.
    pub input: String,
}

impl fmt::Display for ParseIdleKindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown idle strategy {:?}: expected \"spin\", \"yield\" or \"park\"",
            self.input
        )
    }
}

impl std::error::Error for ParseIdleKindError {}

impl FromStr for IdleKind {
    type Err = ParseIdleKindError;

    fn from_str(s: &str) -> Result<IdleKind, ParseIdleKindError> {
        match s {
            "spin" => Ok(IdleKind::Spin),
            "yield" => Ok(IdleKind::Yield),
            "park" => Ok(IdleKind::Park),
            _ => Err(ParseIdleKindError {
                input: s.to_owned(),
            }),
        }
    }
}

/// Any of the built-in strategies, chosen at run time without boxing.
#[derive(Clone, Copy, Debug)]
pub enum AnyIdle {
    /// Busy spin.
    Spin(BusySpin),
    /// Yield.
    Yield(Yield),
    /// Spin → yield → park back-off.
    Park(Backoff),
}

impl IdleStrategy for AnyIdle {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        match self {
            AnyIdle::Spin(s) => s.idle(work_count),
            AnyIdle::Yield(s) => s.idle(work_count),
            AnyIdle::Park(s) => s.idle(work_count),
        }
    }

    #[inline]
    fn reset(&mut self) {
        match self {
            AnyIdle::Spin(s) => s.reset(),
            AnyIdle::Yield(s) => s.reset(),
            AnyIdle::Park(s) => s.reset(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names() {
        assert_eq!("spin".parse(), Ok(IdleKind::Spin));
        assert_eq!("yield".parse(), Ok(IdleKind::Yield));
        assert_eq!("park".parse(), Ok(IdleKind::Park));
        let err = "sleep".parse::<IdleKind>().unwrap_err();
        assert_eq!(err.input, "sleep");
        assert!(err.to_string().contains("\"sleep\""));
        for k in [IdleKind::Spin, IdleKind::Yield, IdleKind::Park] {
            assert_eq!(k.to_string().parse(), Ok(k));
        }
    }

    #[test]
    fn backoff_progresses_and_resets() {
        let mut b = Backoff::new(2, 1, Duration::from_nanos(100), Duration::from_nanos(350));
        b.idle(0);
        b.idle(0); // spins
        b.idle(0); // yield
        assert_eq!(b.current_park(), Duration::from_nanos(100));
        b.idle(0);
        assert_eq!(b.current_park(), Duration::from_nanos(200));
        b.idle(0);
        assert_eq!(b.current_park(), Duration::from_nanos(350));
        b.idle(0);
        assert_eq!(b.current_park(), Duration::from_nanos(350));
        b.idle(1);
        assert_eq!(b.current_park(), Duration::from_nanos(100));
        assert_eq!((b.spins, b.yields), (0, 0));
    }

    #[test]
    fn all_kinds_idle() {
        for k in [IdleKind::Spin, IdleKind::Yield, IdleKind::Park] {
            let mut s = k.strategy();
            for _ in 0..20 {
                s.idle(0);
            }
            s.idle(1);
            s.reset();
        }
    }
}
