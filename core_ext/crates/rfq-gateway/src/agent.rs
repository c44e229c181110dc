//! The gateway agent: one thread that owns an Aeron client (the C client, through
//! `rusteron-client`), the request subscription, the response publications and the two rings,
//! and runs the duty cycle Aeron agents run: poll requests → decode, check, push records →
//! drain the core's answers → offer them → idle when nothing was done.
//!
//! Python starts and stops it (`rfqcore_core.NativeGateway`), asks for its counters and takes
//! its log lines; none of that touches the duty cycle, which checks for such requests once a
//! millisecond ("the tick").

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusteron_client::bindings::{aeron_header_values, aeron_header_values_t};
use rusteron_client::{
    Aeron, AeronAvailableImageCallback, AeronContext, AeronExclusivePublication, AeronFragmentClosureAssembler,
    AeronHeader, AeronImage, AeronOfferError, AeronSubscription, AeronUnavailableImageCallback, Handler,
};

use crate::gateway::{Gateway, LogLine, Offer, Publisher, Settings, Stats, Transport};

/// What the agent does when a duty cycle found no work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idle {
    /// Never give the CPU up.
    Spin,
    /// `sched_yield` once idle for more than `idle_spins` cycles.
    Yield,
    /// Also sleep 50 µs once idle for 100,000 cycles.
    Sleep,
}

/// Everything one gateway agent needs.
#[derive(Clone)]
pub struct Config {
    /// The media driver's directory.
    pub aeron_dir: String,
    /// Channel of the request stream (e.g. `aeron:ipc`).
    pub channel: String,
    /// Channel of the response streams.
    pub response_channel: String,
    /// Stream id of the requests.
    pub request_stream: i32,
    /// The core's gateway input ring file.
    pub input_ring: PathBuf,
    /// The core's RFQ-output tap ring file.
    pub tap_ring: PathBuf,
    /// Principals, streams and limits.
    pub settings: Settings,
    /// Fragments taken per poll.
    pub fragment_limit: usize,
    /// What an idle duty cycle does.
    pub idle: Idle,
    /// Idle cycles before `Yield`/`Sleep` gives the CPU up.
    pub idle_spins: u64,
    /// Pin the agent thread to this CPU.
    pub cpu: Option<usize>,
}

#[derive(Default)]
struct StatsSlot {
    requested: u64,
    served: u64,
    reset: bool,
    stats: Stats,
}

/// What the agent thread and its owner share (all off the duty cycle but for two relaxed loads
/// per tick).
#[derive(Default)]
pub struct Shared {
    stop: AtomicBool,
    stats_wanted: AtomicBool,
    slot: Mutex<StatsSlot>,
    served: Condvar,
    logs: Mutex<Vec<LogLine>>,
    gone_flag: AtomicBool,
    gone: Mutex<Vec<i32>>,
}

impl Shared {
    /// Asks the agent to stop (it finishes its cycle, then closes everything).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// The agent's counters, asked on its next tick; `None` if it did not answer in `timeout`
    /// (it is stopped: the last counters it published are returned instead when there are any).
    #[must_use]
    pub fn stats(&self, reset_histograms: bool, timeout: Duration) -> Option<Stats> {
        let mut slot = self.slot.lock().ok()?;
        slot.requested += 1;
        slot.reset |= reset_histograms;
        let want = slot.requested;
        self.stats_wanted.store(true, Ordering::Release);
        let (slot, _) = self.served.wait_timeout_while(slot, timeout, |s| s.served < want).ok()?;
        if slot.served >= want { Some(slot.stats.clone()) } else { None }
    }

    /// The counters the agent published last (at its stop, or its last stats request).
    #[must_use]
    pub fn last_stats(&self) -> Option<Stats> {
        self.slot.lock().ok().filter(|s| s.served > 0).map(|s| s.stats.clone())
    }

    /// Log lines since the last call.
    #[must_use]
    pub fn take_logs(&self) -> Vec<LogLine> {
        self.logs.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default()
    }
}

/// A response publication: an exclusive publication of the gateway's Aeron client.
pub struct AeronPub(AeronExclusivePublication);

impl Publisher for AeronPub {
    #[inline]
    fn offer(&self, data: &[u8]) -> Offer {
        match self.0.offer(data) {
            Ok(_) => Offer::Sent,
            Err(AeronOfferError::BackPressured | AeronOfferError::AdminAction) => Offer::Retry,
            Err(AeronOfferError::NotConnected) => Offer::NotConnected,
            Err(_) => Offer::Closed,
        }
    }
}

/// Makes the response publications on the gateway's Aeron client.
pub struct AeronTransport {
    aeron: Aeron,
    channel: CString,
}

impl Transport for AeronTransport {
    type Pub = AeronPub;

    fn publication(&mut self, stream: i32) -> Result<AeronPub, String> {
        self.aeron
            .async_add_exclusive_publication(&self.channel, stream)
            .and_then(|a| a.poll_blocking(Duration::from_secs(5)))
            .map(AeronPub)
            .map_err(|e| format!("stream {stream}: {e}"))
    }
}

struct ImageGone(Arc<Shared>);

impl AeronUnavailableImageCallback for ImageGone {
    fn handle_aeron_on_unavailable_image(&mut self, _sub: AeronSubscription, image: AeronImage) {
        // the Aeron client's conductor thread: hand the session id to the agent
        if let Ok(mut g) = self.0.gone.lock() {
            if let Ok(c) = image.get_constants() {
                g.push(c.session_id());
            }
        }
        self.0.gone_flag.store(true, Ordering::Release);
    }
}

struct ImageNew;

impl AeronAvailableImageCallback for ImageNew {
    fn handle_aeron_on_available_image(&mut self, _sub: AeronSubscription, _image: AeronImage) {}
}

fn session_id(hdr: &AeronHeader) -> i32 {
    let mut v = MaybeUninit::<aeron_header_values_t>::uninit();
    // SAFETY: `hdr` wraps the header of the fragment being delivered, valid for the duration of
    // the poll callback we are in; `aeron_header_values` only copies its fields into `v`, and
    // `v` is read only when it reports success (it then initialised all of it).
    unsafe {
        if aeron_header_values(hdr.get_inner(), v.as_mut_ptr()) < 0 {
            return -1;
        }
        v.assume_init().frame.session_id
    }
}

fn on_fragment(gw: &mut Gateway<AeronTransport>, buf: &[u8], hdr: AeronHeader) {
    let sid = session_id(&hdr);
    gw.on_request(buf, sid);
}

fn pin(cpu: usize) -> Result<(), String> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity read and
    // write only that local set, for the calling thread (pid 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!("cannot pin the gateway thread to CPU {cpu}: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Starts a gateway agent thread; returns once it listens (or with the reason it could not).
///
/// # Errors
/// The rings, the Aeron client, the subscription or a publication could not be opened.
pub fn spawn(cfg: Config) -> Result<(JoinHandle<()>, Arc<Shared>), String> {
    let shared = Arc::new(Shared::default());
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    let sh = Arc::clone(&shared);
    let handle = std::thread::Builder::new()
        .name("rfqcore-gateway".into())
        .spawn(move || run(cfg, &sh, &tx))
        .map_err(|e| format!("cannot start the gateway thread: {e}"))?;
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(())) => Ok((handle, shared)),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            shared.request_stop();
            Err("the gateway did not start within 30 s (is the media driver running?)".into())
        }
    }
}

fn run(cfg: Config, shared: &Arc<Shared>, ready: &mpsc::Sender<Result<(), String>>) {
    let setup = || -> Result<_, String> {
        if let Some(cpu) = cfg.cpu {
            pin(cpu)?;
        }
        let prod = rfq_ring::open_producer(&cfg.input_ring).map_err(|e| format!("gateway ring: {e}"))?;
        let tap = rfq_ring::open_consumer(&cfg.tap_ring).map_err(|e| format!("tap ring: {e}"))?;
        let cstr = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
        let ctx = AeronContext::new().map_err(|e| format!("Aeron context: {e}"))?;
        ctx.set_dir(&cstr(&cfg.aeron_dir)?).map_err(|e| format!("Aeron dir: {e}"))?;
        ctx.set_client_name(c"rfqcore-gateway").map_err(|e| format!("Aeron client name: {e}"))?;
        let aeron = Aeron::new(&ctx).map_err(|e| format!("Aeron client: {e}"))?;
        aeron.start().map_err(|e| format!("no media driver at {}: {e}", cfg.aeron_dir))?;
        let gone = Handler::new(ImageGone(Arc::clone(shared)));
        let new = Handler::new(ImageNew);
        let sub = aeron
            .async_add_subscription(&cstr(&cfg.channel)?, cfg.request_stream, Some(&new), Some(&gone))
            .and_then(|a| a.poll_blocking(Duration::from_secs(5)))
            .map_err(|e| format!("request subscription {} stream {}: {e}", cfg.channel, cfg.request_stream))?;
        let transport = AeronTransport { aeron: aeron.clone(), channel: cstr(&cfg.response_channel)? };
        let gw = Gateway::new(transport, cfg.settings.clone(), prod, tap)?;
        let asm = AeronFragmentClosureAssembler::new().map_err(|e| format!("fragment assembler: {e}"))?;
        Ok((aeron, sub, gw, asm, gone, new))
    };
    let (aeron, sub, mut gw, mut asm, gone, new) = match setup() {
        Ok(x) => x,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    duty_cycle(&cfg, shared, &sub, &mut gw, &mut asm);
    publish_stats(shared, &mut gw);
    publish_logs(shared, &mut gw);
    drop(gw);
    let _ = sub.close();
    drop((gone, new));
    drop(aeron);
}

fn duty_cycle(
    cfg: &Config,
    shared: &Shared,
    sub: &AeronSubscription,
    gw: &mut Gateway<AeronTransport>,
    asm: &mut AeronFragmentClosureAssembler,
) {
    const TICK_NS: i64 = 1_000_000;
    let mono = rfq_ring::clock::monotonic_ns;
    let mut idle_cycles: u64 = 0;
    let mut next_tick = mono() + TICK_NS;
    let mut poll_errors: u64 = 0;
    let mut i: u64 = 0;
    loop {
        let mut work = 0usize;
        if !gw.wants_requests() {
            work += gw.flush_in();
        }
        if gw.wants_requests() {
            match asm.poll(sub, gw, on_fragment, cfg.fragment_limit) {
                Ok(n) => work += usize::try_from(n).unwrap_or(0),
                Err(_) => poll_errors += 1,
            }
        }
        work += gw.poll_tap();
        work += gw.flush_backlogs();
        if work > 0 {
            idle_cycles = 0;
        } else {
            idle_cycles += 1;
            match cfg.idle {
                Idle::Spin => std::hint::spin_loop(),
                Idle::Yield | Idle::Sleep if idle_cycles > cfg.idle_spins => {
                    if cfg.idle == Idle::Sleep && idle_cycles > 100_000 {
                        std::thread::sleep(Duration::from_micros(50));
                    } else {
                        std::thread::yield_now();
                    }
                }
                _ => std::hint::spin_loop(),
            }
        }
        i += 1;
        if i & 255 == 0 {
            let now = mono();
            if now >= next_tick {
                next_tick = now + TICK_NS;
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                if shared.gone_flag.swap(false, Ordering::AcqRel) {
                    let ids: Vec<i32> = shared.gone.lock().map(|mut g| std::mem::take(&mut *g)).unwrap_or_default();
                    for sid in ids {
                        gw.image_gone(sid);
                    }
                }
                if poll_errors > 0 {
                    gw.poll_failed(poll_errors);
                    poll_errors = 0;
                }
                if shared.stats_wanted.load(Ordering::Acquire) {
                    publish_stats(shared, gw);
                }
                publish_logs(shared, gw);
            }
        }
    }
}

fn publish_stats(shared: &Shared, gw: &mut Gateway<AeronTransport>) {
    shared.stats_wanted.store(false, Ordering::Release);
    if let Ok(mut slot) = shared.slot.lock() {
        let reset = std::mem::take(&mut slot.reset);
        slot.stats = gw.stats(reset);
        slot.served = slot.requested.max(slot.served + 1);
        shared.served.notify_all();
    }
}

fn publish_logs(shared: &Shared, gw: &mut Gateway<AeronTransport>) {
    let lines = gw.take_logs();
    if !lines.is_empty() {
        if let Ok(mut l) = shared.logs.lock() {
            if l.len() < 10_000 {
                l.extend(lines);
            }
        }
    }
}
