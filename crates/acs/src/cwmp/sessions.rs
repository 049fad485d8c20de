//! The live sessions of one ACS node, without I/O: how a request finds its session, one
//! session per device (TR-069 3.7), idle deadlines and the session limit.
//!
//! A request joins a session only by its connection, its session cookie, or credentials
//! that authenticate the session's device; by its client's address only when the
//! compatibility setting allows it, and then only a session that was admitted without
//! authentication (docs/decisions.md, "Session binding"). `H` is the shell's handle on the
//! session itself.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::store::{DeviceCredentials, Millis};

/// What the registry keeps about a session.
struct Entry<H> {
    device_key: String,
    client_ip: IpAddr,
    /// Admitted without authentication: only such a session may be joined by address.
    open: bool,
    /// The device's credentials, for requests that authenticate on a new connection.
    credentials: Option<DeviceCredentials>,
    /// When it ends if no request comes (3.7.2.4's timeout after the last one).
    deadline: Millis,
    /// Requests being handled now: a session with one is alive whatever its deadline.
    busy: u32,
    /// `None` while the session is starting (reserved at admission).
    handle: Option<H>,
}

/// Why a new session cannot start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The device's session is alive: retry after this long (ms).
    DeviceBusy { retry_after: Millis },
    /// The node runs its most sessions.
    Full,
}

/// A session being registered.
pub struct NewSession {
    pub id: String,
    pub device_key: String,
    pub client_ip: IpAddr,
    pub open: bool,
    pub credentials: Option<DeviceCredentials>,
}

pub struct Sessions<H> {
    by_id: HashMap<String, Entry<H>>,
    by_device: HashMap<String, String>,
    timeout: Millis,
    max: usize,
}

impl<H: Clone> Sessions<H> {
    /// `timeout`: idle time after which a session is over (ms); `max`: most live sessions.
    pub fn new(timeout: Millis, max: usize) -> Sessions<H> {
        Sessions { by_id: HashMap::new(), by_device: HashMap::new(), timeout, max }
    }

    fn alive(&self, e: &Entry<H>, now: Millis) -> bool {
        e.busy > 0 || e.deadline > now
    }

    /// Reserves a session for a device that was just admitted, with its Inform in flight.
    /// The device's session, if alive, refuses it unless it is `same_client`'s (the client
    /// that holds it informs again: that session is over); an expired one is dropped.
    /// Returns the id of the session the new one replaces.
    pub fn reserve(&mut self, new: NewSession, same_client: &[&str], now: Millis) -> Result<Option<String>, Refused> {
        let mut replaced = None;
        if let Some(old) = self.by_device.get(&new.device_key).cloned() {
            let e = &self.by_id[&old];
            if self.alive(e, now) && !same_client.contains(&old.as_str()) {
                let retry_after = if e.busy > 0 { self.timeout } else { e.deadline - now };
                return Err(Refused::DeviceBusy { retry_after: retry_after.max(1) });
            }
            self.remove(&old);
            replaced = Some(old);
        }
        if self.by_id.len() >= self.max {
            return Err(Refused::Full);
        }
        self.insert(new, None, now);
        Ok(replaced)
    }

    fn insert(&mut self, new: NewSession, handle: Option<H>, now: Millis) {
        self.by_device.insert(new.device_key.clone(), new.id.clone());
        let entry = Entry {
            device_key: new.device_key,
            client_ip: new.client_ip,
            open: new.open,
            credentials: new.credentials,
            deadline: now + self.timeout,
            busy: 1,
            handle,
        };
        self.by_id.insert(new.id, entry);
    }

    /// Registers a session continued here (another node held it; the store's lease says it
    /// is ours now), with a request in flight. Whatever this node had for the device is
    /// over; a running session is not refused for the limit.
    pub fn adopt(&mut self, new: NewSession, handle: H, now: Millis) -> Option<H> {
        let replaced = self.by_device.get(&new.device_key).cloned().and_then(|old| self.remove(&old));
        self.remove(&new.id);
        self.insert(new, Some(handle), now);
        replaced
    }

    /// The reserved session started: its handle (its Inform is still in flight).
    pub fn started(&mut self, id: &str, handle: H) {
        if let Some(e) = self.by_id.get_mut(id) {
            e.handle = Some(handle);
        }
    }

    /// A request of the session is being handled; false if the session is gone.
    pub fn begin_request(&mut self, id: &str) -> bool {
        match self.by_id.get_mut(id) {
            Some(e) => {
                e.busy += 1;
                true
            }
            None => false,
        }
    }

    /// The request is answered; `deadline` is when the session ends if nothing else comes
    /// (`None`: it is over).
    pub fn finish_request(&mut self, id: &str, deadline: Option<Millis>) {
        match deadline {
            None => {
                self.remove(id);
            }
            Some(deadline) => {
                if let Some(e) = self.by_id.get_mut(id) {
                    e.busy = e.busy.saturating_sub(1);
                    e.deadline = deadline;
                }
            }
        }
    }

    /// Removes a session; its handle, if it had started.
    pub fn remove(&mut self, id: &str) -> Option<H> {
        let e = self.by_id.remove(id)?;
        if self.by_device.get(&e.device_key).is_some_and(|current| current == id) {
            self.by_device.remove(&e.device_key);
        }
        e.handle
    }

    /// A started session by id.
    pub fn get(&self, id: &str) -> Option<H> {
        self.by_id.get(id)?.handle.clone()
    }

    /// Started sessions whose device's credentials have this username.
    pub fn by_username<'a>(&'a self, username: &'a str) -> impl Iterator<Item = (&'a str, &'a DeviceCredentials)> {
        self.by_id.iter().filter_map(move |(id, e)| {
            let c = e.credentials.as_ref().filter(|c| c.username == username)?;
            e.handle.as_ref().map(|_| (id.as_str(), c))
        })
    }

    /// Whether a started session could be joined by its device's credentials.
    pub fn any_with_credentials(&self) -> bool {
        self.by_id.values().any(|e| e.credentials.is_some() && e.handle.is_some())
    }

    /// The device's key of a session.
    pub fn device_of(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|e| e.device_key.as_str())
    }

    /// The only live session from `ip` that was admitted without authentication.
    pub fn open_by_address(&self, ip: IpAddr, now: Millis) -> Option<&str> {
        let mut found = self
            .by_id
            .iter()
            .filter(|(_, e)| e.client_ip == ip && e.handle.is_some() && self.alive(e, now))
            .map(|(id, e)| (id, e.open));
        let (id, open) = found.next()?;
        (found.next().is_none() && open).then_some(id.as_str())
    }

    /// Whether the device has a live session here.
    pub fn device_in_session(&self, device_key: &str, now: Millis) -> bool {
        self.by_device.get(device_key).and_then(|id| self.by_id.get(id)).is_some_and(|e| self.alive(e, now))
    }

    /// The earliest deadline of a session no request is holding.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.by_id.values().filter(|e| e.busy == 0).map(|e| e.deadline).min()
    }

    /// Ends the sessions idle past their deadline; their ids and handles.
    pub fn handle_timeout(&mut self, now: Millis) -> Vec<(String, Option<H>)> {
        let expired: Vec<String> =
            self.by_id.iter().filter(|(_, e)| !self.alive(e, now)).map(|(id, _)| id.clone()).collect();
        expired.into_iter().map(|id| (id.clone(), self.remove(&id))).collect()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every started session with its device.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str, &H)> {
        self.by_id.iter().filter_map(|(id, e)| Some((id.as_str(), e.device_key.as_str(), e.handle.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn new(id: &str, device: &str, open: bool) -> NewSession {
        NewSession { id: id.into(), device_key: device.into(), client_ip: IP, open, credentials: None }
    }

    #[test]
    fn one_session_per_device_until_it_ends_or_idles_out() {
        let mut s: Sessions<u32> = Sessions::new(60_000, 10);
        assert_eq!(s.reserve(new("a", "dev", false), &[], 0), Ok(None));
        // Starting (a request in flight): alive.
        assert!(matches!(s.reserve(new("b", "dev", false), &[], 1), Err(Refused::DeviceBusy { .. })));
        s.started("a", 1);
        s.finish_request("a", Some(60_000));
        assert_eq!(s.reserve(new("b", "dev", false), &[], 20_000), Err(Refused::DeviceBusy { retry_after: 40_000 }));
        // The same client informs again: its session is over.
        assert_eq!(s.reserve(new("b", "dev", false), &["a"], 20_000), Ok(Some("a".into())));
        s.started("b", 2);
        s.finish_request("b", Some(80_000));
        // Idle past its deadline: dropped first, the new one starts.
        assert_eq!(s.reserve(new("c", "dev", false), &[], 80_000), Ok(Some("b".into())));
        assert_eq!(s.len(), 1);
        // Ended with 204: gone.
        s.started("c", 3);
        s.finish_request("c", None);
        assert!(s.is_empty() && !s.device_in_session("dev", 80_000));
    }

    #[test]
    fn limit_and_timeouts() {
        let mut s: Sessions<u32> = Sessions::new(1_000, 2);
        s.reserve(new("a", "d1", false), &[], 0).unwrap();
        s.reserve(new("b", "d2", false), &[], 0).unwrap();
        assert_eq!(s.reserve(new("c", "d3", false), &[], 0), Err(Refused::Full));
        assert_eq!(s.adopt(new("c", "d3", false), 3, 0), None, "a take-over is not refused");
        s.finish_request("c", Some(1_000_000));
        for (id, handle, deadline) in [("a", 1, 1_000), ("b", 2, 5_000)] {
            s.started(id, handle);
            s.finish_request(id, Some(deadline));
        }
        assert!(s.begin_request("b"));
        // Busy sessions have no deadline.
        assert_eq!(s.poll_timeout(), Some(1_000));
        assert_eq!(s.handle_timeout(999), vec![]);
        assert_eq!(s.handle_timeout(1_000), vec![("a".to_owned(), Some(1))]);
        assert!(!s.begin_request("a"));
    }

    #[test]
    fn joining_by_address_only_the_one_open_session() {
        let mut s: Sessions<u32> = Sessions::new(1_000, 10);
        s.reserve(new("a", "d1", true), &[], 0).unwrap();
        assert_eq!(s.open_by_address(IP, 0), None, "not started yet");
        s.started("a", 1);
        s.finish_request("a", Some(1_000));
        assert_eq!(s.open_by_address(IP, 0), Some("a"));
        assert_eq!(s.open_by_address(IP, 1_000), None, "expired");
        s.reserve(new("b", "d2", false), &[], 0).unwrap();
        s.started("b", 2);
        s.finish_request("b", Some(1_000));
        assert_eq!(s.open_by_address(IP, 0), None, "two sessions from one address");
        s.remove("a");
        assert_eq!(s.open_by_address(IP, 0), None, "an authenticated session is never joined by address");
    }
}
