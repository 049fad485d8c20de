//! A shard owns a share of the devices: their agents (sans-IO cores), one heap of wake-ups,
//! and the queue of devices waiting for a session slot. Everything a device does outside a
//! session happens here, on one task; a session runs on a task of its own, which takes the
//! agent and gives it back when the session is over.
//!
//! Every input that may start a session (the boot, a timer, a Connection Request, a finished
//! transfer) is applied only once a session slot is held, so a device never starts a
//! session (and its response timeout) while it waits for a slot.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use cwmp_cpe::agent::{Agent, Boot, Effect};
use cwmp_cpe::http::HttpRequest;
use cwmp_cpe::queue::TransferJob;
use cwmp_model::Features;
use cwmp_model::persist::MemoryStore;
use cwmp_wire::DateTime;
use jiff::Timestamp;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};

use crate::fleet::Ctx;
use crate::identity::{connection_request_path, mix};
use crate::schedule::{Millis, WakeUps};
use crate::transfer;

/// What other tasks tell a shard.
pub(crate) enum ShardMsg {
    /// A session task is done with the agent.
    SessionDone {
        local: u32,
        agent: Box<Agent>,
        reboot: bool,
        sessions_ok: u32,
    },
    TransferDone {
        local: u32,
        id: u64,
        outcome: transfer::Outcome,
    },
    /// The Connection Request credentials of a device (`None`: not booted).
    Credentials {
        local: u32,
        reply: oneshot::Sender<Option<(String, String)>>,
    },
    /// An authenticated Connection Request for a device.
    ConnectionRequest {
        local: u32,
    },
}

const QUEUED: u8 = 1;
/// A wake-up fired.
const DUE: u8 = 2;
/// A Connection Request waits.
const CR: u8 = 4;
/// The agent must boot (first start or reboot).
const BOOT: u8 = 8;
/// The agent is away in a session task.
const SESSION: u8 = 16;
/// A session of the device has succeeded.
const INFORMED: u8 = 32;
/// The device rebooted onto a downloaded firmware and has not informed since.
const NEW_FIRMWARE: u8 = 64;

const NO_WAKE: Millis = Millis::MAX;

struct Slot {
    agent: Option<Box<Agent>>,
    /// The device's and the agent's state documents (kept here to boot again after a reboot).
    stores: Option<Box<(MemoryStore, MemoryStore)>>,
    /// The firmware the device runs, once it installed a downloaded one.
    firmware: Option<Box<str>>,
    /// Connection Request credentials while the agent is away in a session.
    credentials: Option<Box<(String, String)>>,
    wake: Millis,
    flags: u8,
}

pub(crate) struct Shard {
    id: usize,
    ctx: Arc<Ctx>,
    slots: Vec<Slot>,
    wake: WakeUps,
    ready: VecDeque<(u32, Instant)>,
    transfers: HashMap<u32, Vec<(u64, transfer::Outcome)>>,
    rx: mpsc::UnboundedReceiver<ShardMsg>,
}

/// Runs `f` with the devices' own logs silenced unless they are wanted.
pub(crate) fn quiet<T>(ctx: &Ctx, f: impl FnOnce() -> T) -> T {
    if ctx.config.device_logs { f() } else { tracing::dispatcher::with_default(&tracing::Dispatch::none(), f) }
}

impl Shard {
    pub fn new(id: usize, ctx: Arc<Ctx>, rx: mpsc::UnboundedReceiver<ShardMsg>, arrivals: &[Millis]) -> Shard {
        let mut wake = WakeUps::default();
        let slots = arrivals
            .iter()
            .enumerate()
            .map(|(local, &at)| {
                wake.push(at, local as u32);
                Slot { agent: None, stores: None, firmware: None, credentials: None, wake: at, flags: BOOT }
            })
            .collect();
        Shard { id, ctx, slots, wake, ready: VecDeque::new(), transfers: HashMap::new(), rx }
    }

    fn global(&self, local: u32) -> u32 {
        local * self.ctx.shards.len() as u32 + self.id as u32
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            while !self.ready.is_empty() {
                match self.ctx.sessions.clone().try_acquire_owned() {
                    Ok(permit) => self.start_next(permit),
                    Err(_) => break,
                }
            }
            let next = self.wake.next().map(|at| self.ctx.instant(at));
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.on_message(msg),
                    None => break,
                },
                permit = self.ctx.sessions.clone().acquire_owned(), if !self.ready.is_empty() => {
                    if let Ok(permit) = permit {
                        self.start_next(permit);
                    }
                }
                () = sleep_until(next), if next.is_some() => self.fire_due(),
            }
        }
    }

    fn on_message(&mut self, msg: ShardMsg) {
        match msg {
            ShardMsg::SessionDone { local, agent, reboot, sessions_ok } => {
                let slot = &mut self.slots[local as usize];
                slot.flags &= !SESSION;
                slot.credentials = None;
                if sessions_ok > 0 {
                    if slot.flags & INFORMED == 0 {
                        slot.flags |= INFORMED;
                        self.ctx.stats.devices_informed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if slot.flags & NEW_FIRMWARE != 0 {
                        slot.flags &= !NEW_FIRMWARE;
                        self.ctx.stats.firmware_informed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                if reboot {
                    self.reboot(local);
                    return;
                }
                slot.agent = Some(agent);
                if slot.flags & CR != 0 || self.transfers.contains_key(&local) {
                    self.enqueue(local);
                }
                self.schedule(local);
            }
            ShardMsg::TransferDone { local, id, outcome } => {
                self.transfers.entry(local).or_default().push((id, outcome));
                self.enqueue(local);
            }
            ShardMsg::Credentials { local, reply } => {
                let slot = self.slots.get(local as usize);
                let credentials = slot.and_then(|s| match &s.agent {
                    Some(agent) => Some((
                        agent.management_server("ConnectionRequestUsername").unwrap_or_default(),
                        agent.management_server("ConnectionRequestPassword").unwrap_or_default(),
                    )),
                    None => s.credentials.as_deref().cloned(),
                });
                let _ = reply.send(credentials);
            }
            ShardMsg::ConnectionRequest { local } => {
                if let Some(slot) = self.slots.get_mut(local as usize)
                    && slot.flags & BOOT == 0
                {
                    slot.flags |= CR;
                    self.enqueue(local);
                }
            }
        }
    }

    /// Queues a device for a session slot (not while it is away in a session: it is looked
    /// at again when it comes back).
    fn enqueue(&mut self, local: u32) {
        let slot = &mut self.slots[local as usize];
        if slot.flags & (QUEUED | SESSION) == 0 {
            slot.flags |= QUEUED;
            self.ready.push_back((local, Instant::now()));
            self.ctx.stats.queued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn fire_due(&mut self) {
        let now = self.ctx.now_millis();
        while let Some((at, local)) = self.wake.pop_due(now) {
            let slot = &mut self.slots[local as usize];
            if slot.wake == at {
                slot.wake = NO_WAKE;
                slot.flags |= DUE;
                self.enqueue(local);
            }
        }
    }

    /// Sets the device's wake-up to what its agent asks for.
    fn schedule(&mut self, local: u32) {
        let slot = &mut self.slots[local as usize];
        let Some(agent) = &slot.agent else { return };
        let at = agent.poll_timeout().map_or(NO_WAKE, |t| self.ctx.millis(t));
        if at != slot.wake {
            slot.wake = at;
            if at != NO_WAKE {
                self.wake.push(at, local);
            }
        }
    }

    /// The first queued device gets the slot: its pending inputs are applied, and a session
    /// it starts runs on a task of its own.
    fn start_next(&mut self, permit: OwnedSemaphorePermit) {
        let Some((local, since)) = self.ready.pop_front() else { return };
        self.ctx.stats.queued.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.ctx.stats.queue_wait(since.elapsed());
        let now = Timestamp::now();
        let flags = self.slots[local as usize].flags;
        self.slots[local as usize].flags &= !(QUEUED | DUE | CR);
        if flags & BOOT != 0 {
            self.slots[local as usize].flags &= !BOOT;
            match self.boot(local, now) {
                Ok(agent) => self.slots[local as usize].agent = Some(agent),
                Err(e) => {
                    tracing::error!(device = self.global(local), error = %e, "device cannot boot");
                    return;
                }
            }
        }
        let Some(mut agent) = self.slots[local as usize].agent.take() else { return };
        let finished = self.transfers.remove(&local).unwrap_or_default();
        let ctx = self.ctx.clone();
        quiet(&ctx, || {
            if flags & CR != 0 {
                agent.connection_request(now);
            }
            for (id, outcome) in finished {
                if let Some(version) = outcome.firmware.filter(|_| outcome.result.fault_code == 0) {
                    // The image is installed by rebooting onto it; the TransferComplete goes
                    // in the Inform after the boot, with the new SoftwareVersion (A.3.2.8).
                    let slot = &mut self.slots[local as usize];
                    slot.firmware = Some(version.into());
                    slot.flags |= NEW_FIRMWARE;
                    agent.request_reboot(now);
                }
                agent.transfer_finished(now, id, outcome.result);
            }
            if flags & DUE != 0 {
                agent.handle_timeout(now);
            }
        });
        self.settle(local, agent, permit);
    }

    /// Carries out the agent's effects; a session it started goes to a session task with
    /// the slot, otherwise the agent waits for its next wake-up.
    fn settle(&mut self, local: u32, mut agent: Box<Agent>, permit: OwnedSemaphorePermit) {
        let mut reboot = false;
        let mut started = false;
        while let Some(effect) = agent.poll_effect() {
            match effect {
                Effect::SessionStarted => started = true,
                Effect::SessionEnded { .. } => {}
                Effect::Transfer(job) => spawn_transfer(&self.ctx, self.id, local, job),
                Effect::ChangeDuState { id, .. } => {
                    quiet(&self.ctx, || agent.du_state_change_finished(Timestamp::now(), id, Vec::new(), Vec::new()))
                }
                Effect::Reboot | Effect::FactoryReset => reboot = true,
            }
        }
        if reboot {
            drop(agent);
            self.reboot(local);
            return;
        }
        match agent.poll_transmit() {
            Some(request) => {
                let slot = &mut self.slots[local as usize];
                slot.flags |= SESSION;
                slot.credentials = Some(Box::new((
                    agent.management_server("ConnectionRequestUsername").unwrap_or_default(),
                    agent.management_server("ConnectionRequestPassword").unwrap_or_default(),
                )));
                slot.wake = NO_WAKE;
                let task = SessionTask { ctx: self.ctx.clone(), shard: self.id, local, agent, permit };
                tokio::spawn(task.run(request, started));
            }
            None => {
                drop(permit);
                self.slots[local as usize].agent = Some(agent);
                self.schedule(local);
            }
        }
    }

    /// The device goes down and boots again after the reboot delay.
    fn reboot(&mut self, local: u32) {
        self.ctx.stats.reboots.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let at = self.ctx.millis(Timestamp::now()) + self.ctx.config.reboot_delay.as_millis() as Millis;
        let slot = &mut self.slots[local as usize];
        slot.agent = None;
        slot.flags |= BOOT;
        slot.flags &= !CR;
        slot.wake = at;
        self.wake.push(at, local);
    }

    fn boot(&mut self, local: u32, now: Timestamp) -> Result<Box<Agent>, cwmp_cpe::agent::BootError> {
        let ctx = &self.ctx;
        let global = self.global(local);
        let number = ctx.number(global);
        let model = &ctx.model;
        let slot = &mut self.slots[local as usize];
        let stores = slot.stores.get_or_insert_with(|| Box::new((MemoryStore::new(), MemoryStore::new())));
        let mut config = ctx.agent.clone();
        config.identity.push((model.info("SerialNumber"), ctx.serials.serial(number)));
        if let Some(version) = &slot.firmware {
            config.identity.push((model.info("SoftwareVersion"), version.to_string()));
        }
        if let Some(base) = &ctx.cr_base {
            let url = format!("{base}{}", connection_request_path(ctx.config.seed, global));
            config.identity.push((model.ms("ConnectionRequestURL"), url));
        }
        let interval = ctx.config.inform_interval.as_secs().max(1);
        let phase_path = model.ms("PeriodicInformTime");
        if ctx.config.jitter && model.has(&phase_path) {
            // A random phase of the interval: informs of a fleet that booted together spread
            // over the interval (3.2.1: PeriodicInformTime sets the phase).
            let offset = mix(ctx.config.seed ^ 0x7068_6173_6500 ^ u64::from(global)) % interval;
            let at = Timestamp::from_second(offset as i64).unwrap_or(Timestamp::UNIX_EPOCH);
            config.factory_defaults.push((phase_path, DateTime::utc(at).to_string()));
        }
        let boot = Boot {
            config,
            template: model.template.clone(),
            device_store: Box::new(stores.0.clone()),
            agent_store: Box::new(stores.1.clone()),
            features: Features::default(),
            backend: None,
            hooks: None,
            now,
            seed: mix(ctx.config.seed ^ u64::from(global)),
        };
        ctx.stats.boots.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        quiet(ctx, || Agent::boot(boot)).map(Box::new)
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// Runs a transfer of device `local` of shard `shard` (real or pretended, bounded by the
/// transfer slots) and reports its outcome to the shard.
pub(crate) fn spawn_transfer(ctx: &Arc<Ctx>, shard: usize, local: u32, job: TransferJob) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let Ok(_permit) = ctx.transfers.clone().acquire_owned().await else { return };
        ctx.stats.transfers_started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = transfer::perform(&job, ctx.fetcher.as_deref(), ctx.pretend_delay).await;
        let counter =
            if outcome.result.fault_code == 0 { &ctx.stats.transfers_ok } else { &ctx.stats.transfers_failed };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ctx.stats.bytes_downloaded.fetch_add(outcome.bytes, std::sync::atomic::Ordering::Relaxed);
        let _ = ctx.shards[shard].send(ShardMsg::TransferDone { local, id: job.id, outcome });
    });
}

/// One device's session(s) on a task of its own, holding a session slot.
pub(crate) struct SessionTask {
    pub ctx: Arc<Ctx>,
    pub shard: usize,
    pub local: u32,
    pub agent: Box<Agent>,
    pub permit: OwnedSemaphorePermit,
}

impl SessionTask {
    async fn run(self, first: HttpRequest, started: bool) {
        let SessionTask { ctx, shard, local, mut agent, permit } = self;
        ctx.stats.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = crate::session::drive(&ctx, shard, local, &mut agent, first, started).await;
        ctx.stats.in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        drop(permit);
        let _ = ctx.shards[shard].send(ShardMsg::SessionDone {
            local,
            agent,
            reboot: outcome.reboot,
            sessions_ok: outcome.sessions_ok,
        });
    }
}
