//! Live CWMP sessions: found by connection, by session cookie, by authenticated device, or
//! (for a CPE that opens a new connection per request and drops cookies) by client address.
//! One session per device at a time: a new Inform from a device replaces its old session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

use crate::session::AcsSession;
use crate::store::postgres::cluster::Lease;

/// A session and what the endpoint keeps about it.
pub struct LiveSession {
    pub id: String,
    pub session: AcsSession,
    pub client_ip: IpAddr,
    pub last_activity: Instant,
    pub started: Instant,
    /// Holds one of the endpoint's session slots for the session's life.
    pub _permit: Option<OwnedSemaphorePermit>,
    /// With several nodes: the device's session lease this session runs under.
    pub lease: Option<Lease>,
}

pub type SessionRef = Arc<tokio::sync::Mutex<LiveSession>>;

struct Entry {
    session: SessionRef,
    device_key: String,
    client_ip: IpAddr,
}

#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Entry>,
    by_device: HashMap<String, String>,
}

impl Registry {
    /// Registers a new session, replacing (and returning) the device's previous one.
    pub fn insert(&self, id: String, device_key: String, client_ip: IpAddr, session: SessionRef) -> Option<SessionRef> {
        let mut inner = self.inner.lock().expect("registry lock");
        let previous = inner.by_device.insert(device_key.clone(), id.clone());
        let old = previous.and_then(|old_id| inner.by_id.remove(&old_id)).map(|e| e.session);
        inner.by_id.insert(id, Entry { session, device_key, client_ip });
        old
    }

    pub fn by_id(&self, id: &str) -> Option<SessionRef> {
        self.inner.lock().expect("registry lock").by_id.get(id).map(|e| e.session.clone())
    }

    pub fn by_device(&self, device_key: &str) -> Option<SessionRef> {
        let inner = self.inner.lock().expect("registry lock");
        let id = inner.by_device.get(device_key)?;
        inner.by_id.get(id).map(|e| e.session.clone())
    }

    /// The only live session from `ip`, if exactly one.
    pub fn by_client_ip(&self, ip: IpAddr) -> Option<SessionRef> {
        let inner = self.inner.lock().expect("registry lock");
        let mut found = inner.by_id.values().filter(|e| e.client_ip == ip);
        let first = found.next()?;
        found.next().is_none().then(|| first.session.clone())
    }

    pub fn remove(&self, id: &str) {
        let mut inner = self.inner.lock().expect("registry lock");
        if let Some(entry) = inner.by_id.remove(id)
            && inner.by_device.get(&entry.device_key).is_some_and(|current| current == id)
        {
            inner.by_device.remove(&entry.device_key);
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("registry lock").by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live session, for the idle sweep.
    pub fn all(&self) -> Vec<(String, SessionRef)> {
        let inner = self.inner.lock().expect("registry lock");
        inner.by_id.iter().map(|(id, e)| (id.clone(), e.session.clone())).collect()
    }
}
