//! Conditional forwarding: which upstream group serves a name. A name
//! goes to the group of the longest configured domain at or above it
//! (a VPN's `corp.example` to the VPN's server), everything else to the
//! default group.

use std::collections::HashMap;

use tandem_dns_wire::Name;

/// Domain → upstream group.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    zones: HashMap<Name, usize>,
    max_labels: usize,
    default: usize,
}

impl Routes {
    /// Everything to `default`.
    pub fn new(default: usize) -> Routes {
        Routes {
            zones: HashMap::new(),
            max_labels: 0,
            default,
        }
    }

    /// Sends `domain` and every name below it to `group`.
    pub fn add(&mut self, domain: Name, group: usize) {
        self.max_labels = self.max_labels.max(domain.label_count());
        self.zones.insert(domain.to_lowercase(), group);
    }

    /// The group for `name`.
    pub fn group_for(&self, name: &Name) -> usize {
        if self.zones.is_empty() {
            return self.default;
        }
        let skip = name.label_count().saturating_sub(self.max_labels);
        name.ancestors()
            .skip(skip)
            .find_map(|n| self.zones.get(&n).copied())
            .unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_domain_wins() {
        let mut r = Routes::new(0);
        r.add("corp.example.".parse().unwrap(), 1);
        r.add("lab.corp.example.".parse().unwrap(), 2);
        let g = |n: &str| r.group_for(&n.parse().unwrap());
        assert_eq!(g("www.example.com."), 0);
        assert_eq!(g("corp.example."), 1);
        assert_eq!(g("DB.Corp.Example."), 1);
        assert_eq!(g("x.lab.corp.example."), 2);
        assert_eq!(g("notcorp.example."), 0);
        assert_eq!(g("."), 0);
    }
}
