//! Addresses held for a client between its DISCOVER and its REQUEST (or
//! while a conflict probe runs), indexed both ways: by address for
//! allocation, and by client, so that a retransmitted DISCOVER finds its
//! offer without a scan of every outstanding one. A storm of clients that
//! never send their REQUEST leaves up to a minute's worth of offers behind.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::ClientKey;

#[derive(Debug, Clone)]
pub(super) struct Offer {
    pub(super) client: ClientKey,
    pub(super) expires: u64,
}

#[derive(Debug, Default)]
pub(super) struct Offers {
    by_addr: HashMap<Ipv4Addr, Offer>,
    /// Each client's one held address.
    by_client: HashMap<ClientKey, Ipv4Addr>,
}

impl Offers {
    /// Holds `addr` for `client` until `expires`. A client holds one
    /// address: an earlier one it was offered goes back to the pool.
    pub(super) fn hold(&mut self, addr: Ipv4Addr, client: &ClientKey, expires: u64) {
        if let Some(old) = self.by_client.insert(client.clone(), addr) {
            if old != addr && self.by_addr.get(&old).is_some_and(|o| o.client == *client) {
                self.by_addr.remove(&old);
            }
        }
        let offer = Offer {
            client: client.clone(),
            expires,
        };
        if let Some(prev) = self.by_addr.insert(addr, offer) {
            // An expired hold of someone else's on the same address.
            if prev.client != *client && self.by_client.get(&prev.client) == Some(&addr) {
                self.by_client.remove(&prev.client);
            }
        }
    }

    pub(super) fn get(&self, addr: &Ipv4Addr) -> Option<&Offer> {
        self.by_addr.get(addr)
    }

    /// Releases the hold on `addr`, whoever has it.
    pub(super) fn remove(&mut self, addr: &Ipv4Addr) {
        if let Some(o) = self.by_addr.remove(addr) {
            if self.by_client.get(&o.client) == Some(addr) {
                self.by_client.remove(&o.client);
            }
        }
    }

    /// The address held for `client`, if the hold has not expired.
    pub(super) fn held_for(&self, client: &ClientKey, now: u64) -> Option<Ipv4Addr> {
        let addr = *self.by_client.get(client)?;
        self.by_addr
            .get(&addr)
            .is_some_and(|o| o.client == *client && o.expires > now)
            .then_some(addr)
    }

    /// Forgets every hold that has expired by `now`.
    pub(super) fn expire(&mut self, now: u64) {
        self.by_addr.retain(|_, o| o.expires > now);
        let by_addr = &self.by_addr;
        self.by_client
            .retain(|c, a| by_addr.get(a).is_some_and(|o| o.client == *c));
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> (usize, usize) {
        (self.by_addr.len(), self.by_client.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::HwAddr;

    fn client(n: u8) -> ClientKey {
        ClientKey::Hw(HwAddr {
            htype: 1,
            addr: vec![2, 0, 0, 0, 0, n],
        })
    }

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    #[test]
    fn a_hold_is_found_by_client_until_it_expires() {
        let mut o = Offers::default();
        o.hold(ip(1), &client(1), 100);
        assert_eq!(o.held_for(&client(1), 99), Some(ip(1)));
        assert_eq!(o.held_for(&client(1), 100), None);
        assert_eq!(o.held_for(&client(2), 50), None);
        o.expire(100);
        assert_eq!(o.len(), (0, 0));
    }

    #[test]
    fn a_client_holds_one_address() {
        let mut o = Offers::default();
        o.hold(ip(1), &client(1), 100);
        o.hold(ip(2), &client(1), 100);
        assert!(o.get(&ip(1)).is_none());
        assert_eq!(o.held_for(&client(1), 0), Some(ip(2)));
        assert_eq!(o.len(), (1, 1));
    }

    #[test]
    fn an_address_taken_over_leaves_no_stale_index() {
        let mut o = Offers::default();
        o.hold(ip(1), &client(1), 10);
        // Expired for client 1, now held for client 2.
        o.hold(ip(1), &client(2), 100);
        assert_eq!(o.held_for(&client(1), 50), None);
        assert_eq!(o.held_for(&client(2), 50), Some(ip(1)));
        assert_eq!(o.len(), (1, 1));
        o.remove(&ip(1));
        assert_eq!(o.len(), (0, 0));
    }

    #[test]
    fn removing_or_expiring_keeps_the_two_indexes_equal() {
        let mut o = Offers::default();
        for n in 0..50u8 {
            o.hold(ip(n), &client(n % 20), u64::from(n));
        }
        o.remove(&ip(45));
        o.expire(30);
        let (a, c) = o.len();
        assert_eq!(a, c);
        for n in 0..20u8 {
            if let Some(addr) = o.held_for(&client(n), 0) {
                assert_eq!(o.get(&addr).unwrap().client, client(n));
            }
        }
    }
}
