//! The set of zones this server is authoritative for, as one immutable
//! snapshot. A new snapshot replaces the old one whole (an update or a
//! reload builds it), so a query always sees one consistent version of
//! every zone and never waits for a writer.

use std::collections::HashMap;
use std::sync::Arc;

use tandem_dns_wire::Name;
use tandem_zone::Zone;

use crate::acl::Acl;

/// Who may do what with one zone.
#[derive(Clone, Debug)]
pub struct ZonePolicy {
    pub allow_query: Acl,
    pub allow_transfer: Acl,
    /// Address match list for updates (BIND's `allow-update`).
    pub allow_update: Acl,
    /// Fine-grained rules for signed updates (BIND's `update-policy`);
    /// when present it replaces `allow_update`.
    pub update_policy: Option<tandem_zone::UpdatePolicy>,
    /// Present for a zone this server is a secondary for: its data comes
    /// from the primary, and updates are forwarded there.
    pub secondary: Option<SecondaryPolicy>,
}

/// Who may poke and update a secondary zone.
#[derive(Clone, Debug)]
pub struct SecondaryPolicy {
    /// Who may send NOTIFY (by default the primaries' addresses).
    pub allow_notify: Acl,
    /// Whose UPDATEs are passed on to the primary (BIND's
    /// `allow-update-forwarding`); everyone else is REFUSED.
    pub allow_update_forwarding: Acl,
}

impl Default for ZonePolicy {
    fn default() -> Self {
        ZonePolicy {
            allow_query: Acl::any(),
            allow_transfer: Acl::none(),
            allow_update: Acl::none(),
            update_policy: None,
            secondary: None,
        }
    }
}

/// One served zone: its current version and its policy.
#[derive(Clone, Debug)]
pub struct ZoneEntry {
    pub zone: Arc<Zone>,
    pub policy: Arc<ZonePolicy>,
}

/// Every zone, by origin.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    zones: HashMap<Name, ZoneEntry>,
    /// Label count of the deepest origin, to skip hopeless suffixes.
    max_labels: usize,
}

impl Catalog {
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// Adds or replaces a zone.
    pub fn insert(&mut self, entry: ZoneEntry) {
        let origin = entry.zone.origin().clone();
        self.max_labels = self.max_labels.max(origin.label_count());
        self.zones.insert(origin, entry);
    }

    /// A copy of this catalog with one zone's version replaced.
    pub fn with_zone(&self, zone: Arc<Zone>) -> Catalog {
        let mut next = self.clone();
        if let Some(entry) = next.zones.get_mut(zone.origin()) {
            entry.zone = zone;
        }
        next
    }

    /// The zone whose origin is exactly `origin`.
    pub fn get(&self, origin: &Name) -> Option<&ZoneEntry> {
        self.zones.get(origin)
    }

    /// The zone whose origin is exactly `origin`, to change in a working
    /// copy of the catalog (`Arc::make_mut` on its zone copies it only if
    /// a published snapshot still shares it).
    pub fn get_mut(&mut self, origin: &Name) -> Option<&mut ZoneEntry> {
        self.zones.get_mut(origin)
    }

    /// The zone with the longest origin at or above `name`.
    pub fn find(&self, name: &Name) -> Option<&ZoneEntry> {
        let skip = name.label_count().saturating_sub(self.max_labels);
        name.ancestors()
            .skip(skip)
            .find_map(|suffix| self.zones.get(&suffix))
    }

    pub fn zones(&self) -> impl Iterator<Item = &ZoneEntry> {
        self.zones.values()
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}
