//! Who may change what (RFC 2136 §3.3): the [`Authorize`] trait and the
//! policies tandem offers, modelled on BIND's `allow-update` ([`KeyList`])
//! and `update-policy` ([`UpdatePolicy`]).

use tandem_dns_wire::{Name, Rtype};

/// Decides whether the holder of `key` (the TSIG key name that signed the
/// request, `None` if it was unsigned) may change the `rtype` RRset at
/// `name`. Deleting every RRset of a name asks once per type it would
/// delete, or with [`Rtype::ANY`] if the name holds nothing.
pub trait Authorize {
    fn allows(&self, key: Option<&Name>, name: &Name, rtype: Rtype) -> bool;
}

/// Anyone may update anything (tests, or a zone only reachable from a
/// trusted socket).
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl Authorize for AllowAll {
    fn allows(&self, _key: Option<&Name>, _name: &Name, _rtype: Rtype) -> bool {
        true
    }
}

/// Any request signed with one of these keys may update anything; unsigned
/// requests may not (BIND's `allow-update { key a; key b; };`).
#[derive(Clone, Debug, Default)]
pub struct KeyList(pub Vec<Name>);

impl Authorize for KeyList {
    fn allows(&self, key: Option<&Name>, _name: &Name, _rtype: Rtype) -> bool {
        key.is_some_and(|k| self.0.contains(k))
    }
}

/// How a [`PolicyRule`] matches the owner name of an update RR (BIND's
/// `update-policy` rule types of the same names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKind {
    /// Any name in the zone (`zonesub`). The rule's `name`, if given,
    /// further limits it to that name and below.
    ZoneSub,
    /// The rule's `name` or any name below it (`subdomain`).
    Subdomain,
    /// Exactly the rule's `name` (`name`).
    Name,
    /// Names the rule's wildcard `name` `*.suffix` covers: any name
    /// strictly below `suffix`, at any depth (`wildcard`, as BIND's
    /// `dns_name_matcheswildcard`). A `name` that is not a wildcard
    /// matches only itself.
    Wildcard,
    /// The owner name equals the name of the signing key (`self`).
    SelfName,
}

/// One `grant`/`deny` line of an [`UpdatePolicy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRule {
    /// `true` for grant, `false` for deny.
    pub grant: bool,
    /// The key this rule is about. A wildcard `*.suffix` stands for every
    /// key name below `suffix`, and `*.` for every key. Unsigned requests
    /// never match a rule.
    pub key: Name,
    pub kind: MatchKind,
    /// The name the `kind` refers to. Required by [`MatchKind::Subdomain`],
    /// [`MatchKind::Name`] and [`MatchKind::Wildcard`] (a rule of those
    /// kinds without one never matches); ignored by
    /// [`MatchKind::SelfName`].
    pub name: Option<Name>,
    /// The types the rule covers. Empty means every type except RRSIG, NS,
    /// SOA, NSEC and NSEC3, as in BIND, so a rule written without types
    /// cannot touch delegations, the apex or DNSSEC data. `ANY` in the list
    /// covers every type except NSEC and NSEC3 (also as BIND).
    pub types: Vec<Rtype>,
}

impl PolicyRule {
    /// True if this rule speaks about a change of `rtype` at `name` by
    /// `key` (whether it grants or denies it is `self.grant`).
    pub fn matches(&self, key: Option<&Name>, name: &Name, rtype: Rtype) -> bool {
        let Some(key) = key else {
            return false;
        };
        key_matches(&self.key, key) && self.name_matches(key, name) && self.type_matches(rtype)
    }

    fn name_matches(&self, key: &Name, name: &Name) -> bool {
        match (self.kind, &self.name) {
            (MatchKind::ZoneSub, None) => true,
            (MatchKind::ZoneSub | MatchKind::Subdomain, Some(n)) => name.is_subdomain_of(n),
            (MatchKind::Name, Some(n)) => name == n,
            (MatchKind::Wildcard, Some(n)) => wildcard_covers(n, name),
            (MatchKind::SelfName, _) => name == key,
            (MatchKind::Subdomain | MatchKind::Name | MatchKind::Wildcard, None) => false,
        }
    }

    fn type_matches(&self, rtype: Rtype) -> bool {
        if self.types.is_empty() {
            return !matches!(
                rtype,
                Rtype::RRSIG | Rtype::NS | Rtype::SOA | Rtype::NSEC | Rtype::NSEC3
            );
        }
        self.types.iter().any(|t| {
            *t == rtype || (*t == Rtype::ANY && !matches!(rtype, Rtype::NSEC | Rtype::NSEC3))
        })
    }
}

/// `*.suffix` covers every name strictly below `suffix`; any other pattern
/// covers only itself.
fn wildcard_covers(pattern: &Name, name: &Name) -> bool {
    if !pattern.is_wildcard() {
        return name == pattern;
    }
    match pattern.parent() {
        Some(suffix) => name != &suffix && name.is_subdomain_of(&suffix),
        None => false,
    }
}

fn key_matches(pattern: &Name, key: &Name) -> bool {
    pattern == key || (pattern.is_wildcard() && wildcard_covers(pattern, key))
}

/// An ordered list of rules; the first rule that matches decides, and a
/// change no rule matches is denied (BIND's `update-policy`).
#[derive(Clone, Debug, Default)]
pub struct UpdatePolicy {
    pub rules: Vec<PolicyRule>,
}

impl Authorize for UpdatePolicy {
    fn allows(&self, key: Option<&Name>, name: &Name, rtype: Rtype) -> bool {
        self.rules
            .iter()
            .find(|r| r.matches(key, name, rtype))
            .is_some_and(|r| r.grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        s.parse().unwrap()
    }

    fn rule(
        grant: bool,
        key: &str,
        kind: MatchKind,
        name: Option<&str>,
        types: &[Rtype],
    ) -> PolicyRule {
        PolicyRule {
            grant,
            key: n(key),
            kind,
            name: name.map(n),
            types: types.to_vec(),
        }
    }

    #[test]
    fn first_match_wins_and_default_denies() {
        let p = UpdatePolicy {
            rules: vec![
                rule(false, "dhcp.", MatchKind::Name, Some("gw.home."), &[]),
                rule(
                    true,
                    "dhcp.",
                    MatchKind::Subdomain,
                    Some("home."),
                    &[Rtype::A, Rtype::DHCID],
                ),
            ],
        };
        let dhcp = n("dhcp.");
        assert!(p.allows(Some(&dhcp), &n("pc.home."), Rtype::A));
        assert!(!p.allows(Some(&dhcp), &n("gw.home."), Rtype::A));
        assert!(!p.allows(Some(&dhcp), &n("pc.home."), Rtype::TXT));
        assert!(!p.allows(Some(&n("other.")), &n("pc.home."), Rtype::A));
        assert!(!p.allows(None, &n("pc.home."), Rtype::A));
        assert!(!UpdatePolicy::default().allows(Some(&dhcp), &n("home."), Rtype::A));
    }

    #[test]
    fn match_kinds() {
        let k = n("Host.Home.");
        let check = |kind, name: Option<&str>, owner: &str| {
            rule(true, "host.home.", kind, name, &[]).matches(Some(&k), &n(owner), Rtype::A)
        };
        assert!(check(MatchKind::ZoneSub, None, "x.y.home."));
        assert!(check(MatchKind::ZoneSub, Some("y.home."), "x.y.home."));
        assert!(!check(MatchKind::ZoneSub, Some("y.home."), "x.home."));
        assert!(check(MatchKind::Subdomain, Some("home."), "home."));
        assert!(!check(MatchKind::Subdomain, None, "home."));
        assert!(check(MatchKind::Name, Some("a.home."), "A.home."));
        assert!(!check(MatchKind::Name, Some("a.home."), "b.a.home."));
        assert!(check(
            MatchKind::Wildcard,
            Some("*.dyn.home."),
            "a.b.dyn.home."
        ));
        assert!(!check(
            MatchKind::Wildcard,
            Some("*.dyn.home."),
            "dyn.home."
        ));
        assert!(check(MatchKind::SelfName, None, "host.home."));
        assert!(!check(MatchKind::SelfName, None, "other.home."));
    }

    #[test]
    fn types_and_key_wildcards() {
        let r = rule(true, "*.keys.", MatchKind::ZoneSub, None, &[]);
        let k = n("a.keys.");
        assert!(r.matches(Some(&k), &n("x.home."), Rtype::AAAA));
        for t in [
            Rtype::NS,
            Rtype::SOA,
            Rtype::RRSIG,
            Rtype::NSEC,
            Rtype::NSEC3,
        ] {
            assert!(!r.matches(Some(&k), &n("x.home."), t), "{t}");
        }
        assert!(!r.matches(Some(&n("keys.")), &n("x.home."), Rtype::A));
        let any = rule(true, "*.", MatchKind::ZoneSub, None, &[Rtype::ANY]);
        assert!(any.matches(Some(&k), &n("x.home."), Rtype::NS));
        assert!(!any.matches(Some(&k), &n("x.home."), Rtype::NSEC));
        assert!(KeyList(vec![k.clone()]).allows(Some(&n("A.KEYS.")), &n("x."), Rtype::SOA));
        assert!(!KeyList(vec![k]).allows(None, &n("x."), Rtype::A));
        assert!(AllowAll.allows(None, &n("x."), Rtype::A));
    }
}
