//! `rfq-gateway`: the Aeron RFQ gateway of rfqcore, in the desk's process beside the core.
//!
//! ```text
//! request stream --poll--> decode, check, authenticate --try_push--> gateway ring --> core
//! per-principal streams <--offer-- wire messages <-- tap ring (the core's RFQ answers) <--+
//! ```
//!
//! * [`wire`]: schema v2 (docs/gateway-schema.md) at fixed offsets.
//! * [`gateway`]: the logic (sessions, logon, checks, record translation, answers, backlogs),
//!   over a [`gateway::Transport`] so it is tested without Aeron.
//! * [`status`]: every quote's status from the core's answers, for `QUOTE_STATUS`.
//! * [`agent`]: the thread and its duty cycle over the Aeron C client.
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]

pub mod agent;
pub mod gateway;
pub mod status;
pub mod wire;

pub use agent::{spawn, Config, Idle, Shared};
pub use gateway::{Gateway, LogLine, Principal, Settings, Stats};
