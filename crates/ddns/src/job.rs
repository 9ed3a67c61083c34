//! One address from what DNS holds to what it should hold.
//!
//! A [`Job`] is made from what tandem last confirmed in DNS for an address
//! ([`Published`]) and what the lease now wants there (a [`Binding`], or
//! nothing). It first withdraws the old records if they differ, then
//! publishes the new ones, one [`Step`] at a time: the shell asks
//! [`Job::next`] for the message, sends it to the zone's servers and feeds
//! each answer's RCODE to [`Job::answer`]. When no server takes a step
//! (timeouts, SERVFAIL, REFUSED, NOTAUTH) the shell stops and keeps
//! [`Job::state`]: exactly what is known to be in DNS, so the next attempt
//! starts where this one ended.
//!
//! RCODEs, per RFC 4703 §5:
//! - NOERROR: the step is done.
//! - YXDOMAIN on [`Step::Claim`]: the name is in use; try [`Step::TakeOver`].
//! - NXRRSET on [`Step::TakeOver`]: the name is not ours (another client's
//!   guard, or none: the user's record). A conflict: no A, no PTR, nothing
//!   retried until the lease is renewed.
//! - NXRRSET on [`Step::Release`]: our guard is gone, the records are not
//!   ours to delete any more.
//! - YXRRSET on [`Step::ReleaseGuard`]: addresses remain; the guard stays.
//! - SERVFAIL, NOTAUTH, REFUSED, NOTIMP: this server cannot take it; try
//!   the next server, else later.
//! - FORMERR and anything else: the step failed for good (logged); it is
//!   tried again only when the lease is renewed.

use serde::{Deserialize, Serialize};
use tandem_dns_wire::{Name, Rcode};

use crate::plan::Binding;
use crate::update::{self, Step, Update};

/// The state of one part (forward or reverse) of a published binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// Not in DNS: not yet, withdrawn, or not ours to keep.
    Absent,
    /// Put there by tandem, and confirmed.
    Present,
    /// The name is held by another client or by the zone file.
    Conflict,
    /// Refused for good (FORMERR, no zone statement, ...).
    Failed,
}

/// What tandem knows it has in DNS for one address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub binding: Binding,
    pub forward: Part,
    pub reverse: Part,
    /// Not known but presumed: the records another server may have put
    /// there for a lease that has now ended here (a failover partner's
    /// lease, a lease imported from dhcpd). Withdrawing it is guarded by
    /// the DHCID; its PTR is removed only if the guarded A record was
    /// there.
    #[serde(default)]
    pub presumed: bool,
}

impl Published {
    /// A binding with nothing in DNS yet.
    pub fn fresh(binding: Binding) -> Published {
        Published {
            binding,
            forward: Part::Absent,
            reverse: Part::Absent,
            presumed: false,
        }
    }

    /// The records another server may hold for `binding` (see
    /// [`Published::presumed`]).
    pub fn presumed(binding: Binding) -> Published {
        Published {
            forward: if binding.forward {
                Part::Present
            } else {
                Part::Absent
            },
            reverse: Part::Present,
            binding,
            presumed: true,
        }
    }

    /// True if any record of it is in DNS.
    pub fn holds_records(&self) -> bool {
        self.forward == Part::Present || self.reverse == Part::Present
    }
}

/// A line for the operator's log, in dhcpd's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub warn: bool,
    pub text: String,
}

/// What the shell does after an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The step is settled; ask [`Job::next`] again.
    Next,
    /// This server cannot take the step now: try the next server; if none
    /// is left, stop and try again later.
    TryAnother(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Undo {
    Address,
    Guard,
}

/// The walk for one address. See the module documentation.
#[derive(Clone, Debug)]
pub struct Job {
    conflict_detection: bool,
    old: Option<Published>,
    new: Option<Published>,
    undo_forward: Option<Undo>,
    undo_reverse: bool,
    do_forward: bool,
    /// YXDOMAIN came back on the claim.
    taking_over: bool,
    do_reverse: bool,
    current: Option<Step>,
    log: Vec<LogLine>,
}

impl Job {
    /// The job from `have` to `want`, or `None` if there is nothing to do.
    ///
    /// `renewed`: the lease was committed again (a renewal): parts left in
    /// conflict or failed are tried again. `resend`: with it (dhcpd's
    /// `update-optimization false`), a renewal also resends records that
    /// are already in place.
    pub fn new(
        have: Option<&Published>,
        want: Option<&Binding>,
        renewed: bool,
        resend: bool,
        conflict_detection: bool,
    ) -> Option<Job> {
        let same = matches!((have, want), (Some(h), Some(w)) if h.binding.same_records(w));
        let (old, new) = if same {
            let mut n = have.cloned().expect("same implies have");
            // The TTL and anything else that changed without changing the
            // records.
            n.binding = want.cloned().expect("same implies want");
            (None, Some(n))
        } else {
            (
                have.filter(|h| h.holds_records()).cloned(),
                want.cloned().map(Published::fresh),
            )
        };
        let redo = |p: Part| match p {
            Part::Absent => true,
            Part::Conflict | Part::Failed => renewed,
            Part::Present => renewed && resend,
        };
        let (undo_forward, undo_reverse) = match &old {
            Some(o) => {
                let fwd =
                    (o.binding.forward && o.forward == Part::Present).then_some(Undo::Address);
                // A presumed PTR goes only with the guarded A record (see
                // `answer`), unless there is no A record to go by.
                let rev_ok = !o.presumed || fwd.is_none();
                (
                    fwd,
                    o.binding.reverse.is_some() && o.reverse == Part::Present && rev_ok,
                )
            }
            None => (None, false),
        };
        let (do_forward, do_reverse) = match &new {
            Some(n) => {
                let fwd = n.binding.forward && redo(n.forward);
                // A PTR only beside a name we hold (or the client's own).
                let rev = n.binding.reverse.is_some()
                    && redo(n.reverse)
                    && (!n.binding.forward || fwd || n.forward == Part::Present);
                (fwd, rev)
            }
            None => (false, false),
        };
        if undo_forward.is_none() && !undo_reverse && !do_forward && !do_reverse {
            return None;
        }
        Some(Job {
            conflict_detection,
            old,
            new,
            undo_forward,
            undo_reverse,
            do_forward,
            taking_over: false,
            do_reverse,
            current: None,
            log: Vec::new(),
        })
    }

    /// The next step and the name whose zone it goes to (the forward name
    /// or the reverse name), or `None` when the job is done.
    pub fn next_step(&mut self) -> Option<(Step, Name)> {
        let step = self.pick()?;
        let b = self.binding_of(step)?;
        let owner = if step.is_forward() {
            b.fqdn.clone()
        } else {
            b.reverse.clone()?
        };
        self.current = Some(step);
        Some((step, owner))
    }

    fn binding_of(&self, step: Step) -> Option<&Binding> {
        match step {
            Step::Release | Step::ReleaseGuard | Step::ReleaseUnguarded | Step::ClearPtr => {
                self.old.as_ref().map(|p| &p.binding)
            }
            _ => self.new.as_ref().map(|p| &p.binding),
        }
    }

    /// The message of `step` (as [`Job::next_step`] gave it) for the zone
    /// `zone`.
    pub fn message(&self, step: Step, zone: &Name) -> Option<Update> {
        update::build(step, self.binding_of(step)?, zone)
    }

    fn pick(&self) -> Option<Step> {
        if let Some(u) = self.undo_forward {
            return Some(match (u, self.conflict_detection) {
                (Undo::Address, true) => Step::Release,
                (Undo::Address, false) => Step::ReleaseUnguarded,
                (Undo::Guard, _) => Step::ReleaseGuard,
            });
        }
        if self.undo_reverse {
            return Some(Step::ClearPtr);
        }
        if self.do_forward {
            return Some(match (self.conflict_detection, self.taking_over) {
                (false, _) => Step::Overwrite,
                (true, false) => Step::Claim,
                (true, true) => Step::TakeOver,
            });
        }
        if self.do_reverse {
            let n = self.new.as_ref()?;
            if n.binding.forward && n.forward != Part::Present {
                // No PTR for a name we do not hold.
                return None;
            }
            return Some(Step::SetPtr);
        }
        None
    }

    /// Feeds the answer to the step [`Job::next_step`] gave last.
    pub fn answer(&mut self, rcode: Rcode) -> Answer {
        let Some(step) = self.current else {
            return Answer::Next;
        };
        if let Some(why) = transient(rcode) {
            return Answer::TryAnother(why);
        }
        self.current = None;
        let noerror = rcode == Rcode::NOERROR;
        match step {
            Step::Claim if rcode == Rcode::YXDOMAIN => self.taking_over = true,
            Step::Claim | Step::TakeOver | Step::Overwrite if noerror => {
                let text = self
                    .with_new(|b| format!("Added new forward map from {} to {}", b.fqdn, b.addr));
                self.info(text);
                self.set_new(|p| p.forward = Part::Present);
                self.do_forward = false;
            }
            Step::TakeOver if matches!(rcode, Rcode::NXRRSET | Rcode::NXDOMAIN) => {
                self.conflict("Has an address record but no DHCID, not mine.");
            }
            Step::TakeOver if matches!(rcode, Rcode::YXRRSET | Rcode::YXDOMAIN) => {
                self.conflict("DHCID mismatch, belongs to another client.");
            }
            Step::Release | Step::ReleaseUnguarded if noerror => {
                let text =
                    self.with_old(|b| format!("Removed forward map from {} to {}", b.fqdn, b.addr));
                self.info(text);
                self.set_old(|p| p.forward = Part::Absent);
                self.undo_forward = (step == Step::Release).then_some(Undo::Guard);
                if let Some(o) = &self.old {
                    if o.presumed {
                        // The guarded name was there: so is its PTR.
                        self.undo_reverse = o.binding.reverse.is_some();
                    }
                }
            }
            Step::Release if matches!(rcode, Rcode::NXRRSET | Rcode::NXDOMAIN) => {
                // Our guard is gone: whatever is there now is not ours.
                self.set_old(|p| {
                    p.forward = Part::Absent;
                    if p.presumed {
                        p.reverse = Part::Absent;
                    }
                });
                self.undo_forward = None;
            }
            Step::ReleaseGuard if noerror || matches!(rcode, Rcode::YXRRSET | Rcode::NXRRSET) => {
                self.undo_forward = None;
            }
            Step::SetPtr if noerror => {
                let text = self.with_new(|b| {
                    format!(
                        "Added reverse map from {} to {}",
                        b.reverse.as_ref().map(Name::to_string).unwrap_or_default(),
                        b.fqdn
                    )
                });
                self.info(text);
                self.set_new(|p| p.reverse = Part::Present);
                self.do_reverse = false;
            }
            Step::ClearPtr if noerror => {
                let text = self.with_old(|b| {
                    format!(
                        "Removed reverse map on {}",
                        b.reverse.as_ref().map(Name::to_string).unwrap_or_default()
                    )
                });
                self.info(text);
                self.set_old(|p| p.reverse = Part::Absent);
                self.undo_reverse = false;
            }
            _ => self.fail(step, &rcode.to_string()),
        }
        Answer::Next
    }

    /// The step cannot be sent at all (no zone statement covers its name
    /// any more): publishing gives up on that part, withdrawing forgets it.
    pub fn skip(&mut self, why: &str) {
        if let Some(step) = self.current.take() {
            self.fail(step, why);
        }
    }

    fn fail(&mut self, step: Step, why: &str) {
        match step {
            Step::Claim | Step::TakeOver | Step::Overwrite => {
                let text = self.with_new(|b| {
                    format!(
                        "Unable to add forward map from {} to {}: {why}",
                        b.fqdn, b.addr
                    )
                });
                self.warn(text);
                self.set_new(|p| p.forward = Part::Failed);
                self.do_forward = false;
            }
            Step::SetPtr => {
                let text = self.with_new(|b| {
                    format!(
                        "Unable to add reverse map from {} to {}: {why}",
                        b.reverse.as_ref().map(Name::to_string).unwrap_or_default(),
                        b.fqdn
                    )
                });
                self.warn(text);
                self.set_new(|p| p.reverse = Part::Failed);
                self.do_reverse = false;
            }
            Step::Release | Step::ReleaseUnguarded | Step::ReleaseGuard => {
                let text = self.with_old(|b| {
                    format!("Can't remove forward map {} to {}: {why}", b.fqdn, b.addr)
                });
                self.warn(text);
                self.set_old(|p| p.forward = Part::Absent);
                self.undo_forward = None;
            }
            Step::ClearPtr => {
                let text = self.with_old(|b| {
                    format!(
                        "Can't remove reverse map on {}: {why}",
                        b.reverse.as_ref().map(Name::to_string).unwrap_or_default()
                    )
                });
                self.warn(text);
                self.set_old(|p| p.reverse = Part::Absent);
                self.undo_reverse = false;
            }
        }
    }

    fn conflict(&mut self, why: &str) {
        let text =
            self.with_new(|b| format!("Forward map from {} to {} FAILED: {why}", b.fqdn, b.addr));
        self.warn(text);
        self.set_new(|p| p.forward = Part::Conflict);
        self.do_forward = false;
        self.do_reverse = false;
    }

    fn with_new(&self, f: impl FnOnce(&Binding) -> String) -> String {
        self.new.as_ref().map(|p| f(&p.binding)).unwrap_or_default()
    }

    fn with_old(&self, f: impl FnOnce(&Binding) -> String) -> String {
        self.old.as_ref().map(|p| f(&p.binding)).unwrap_or_default()
    }

    fn set_new(&mut self, f: impl FnOnce(&mut Published)) {
        if let Some(p) = self.new.as_mut() {
            f(p);
        }
    }

    fn set_old(&mut self, f: impl FnOnce(&mut Published)) {
        if let Some(p) = self.old.as_mut() {
            f(p);
        }
    }

    fn info(&mut self, text: String) {
        self.log.push(LogLine { warn: false, text });
    }

    fn warn(&mut self, text: String) {
        self.log.push(LogLine { warn: true, text });
    }

    /// The log lines made since the last call.
    pub fn take_log(&mut self) -> Vec<LogLine> {
        std::mem::take(&mut self.log)
    }

    /// True once every step is settled.
    pub fn is_done(&self) -> bool {
        self.current.is_none() && self.pick().is_none()
    }

    /// What is known to be in DNS for this address now: the old binding
    /// while any of it remains, else the new one (`None` if neither).
    pub fn state(&self) -> Option<Published> {
        match &self.old {
            Some(o) if o.holds_records() => Some(o.clone()),
            _ => self.new.clone(),
        }
    }
}

/// RCODEs that mean "not this server, not now".
fn transient(rcode: Rcode) -> Option<String> {
    let why = match rcode {
        Rcode::SERVFAIL => "SERVFAIL",
        Rcode::NOTAUTH => {
            "NOTAUTH (the server is not authoritative for the zone, or refused the key)"
        }
        Rcode::REFUSED => "REFUSED (check the zone's allow-update for this key)",
        Rcode::NOTIMP => "NOTIMP",
        _ => return None,
    };
    Some(why.to_string())
}
