//! The secondary's outbox: UPDATEs for a secondary zone that the primary
//! could not take when they arrived, kept in order until it can.
//!
//! This module owns the queue's records as they sit in a journal (one
//! entry per queued update, one per delivered one) and the rebuilding of
//! the queue from those entries. The shell (`tandem-server`'s
//! `secondary::forward`) owns the file and the delivery.

use std::collections::VecDeque;

/// Journal entry kinds of an outbox.
pub const KIND_QUEUED: u16 = 1;
pub const KIND_DELIVERED: u16 = 2;

/// One update waiting for the primary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    /// Position in the zone's queue, from 1, never reused.
    pub seq: u64,
    /// When it was queued (seconds since the epoch).
    pub queued_at: u64,
    /// Who sent it, for the logs.
    pub client: String,
    /// The request as the client sent it, its TSIG included.
    pub message: Vec<u8>,
}

/// An outbox entry that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbox entry: {0}")]
pub struct OutboxError(pub &'static str);

impl Queued {
    pub fn encode(&self) -> Vec<u8> {
        let client = self.client.as_bytes();
        let client = &client[..client.len().min(255)];
        let mut out = Vec::with_capacity(17 + client.len() + self.message.len());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.queued_at.to_be_bytes());
        out.push(client.len() as u8);
        out.extend_from_slice(client);
        out.extend_from_slice(&self.message);
        out
    }

    pub fn decode(b: &[u8]) -> Result<Queued, OutboxError> {
        if b.len() < 17 {
            return Err(OutboxError("too short"));
        }
        let seq = u64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
        let queued_at = u64::from_be_bytes(b[8..16].try_into().expect("8 bytes"));
        let n = b[16] as usize;
        let client = b.get(17..17 + n).ok_or(OutboxError("client cut short"))?;
        let client = std::str::from_utf8(client)
            .map_err(|_| OutboxError("client is not text"))?
            .to_string();
        Ok(Queued {
            seq,
            queued_at,
            client,
            message: b[17 + n..].to_vec(),
        })
    }
}

pub fn encode_delivered(seq: u64) -> Vec<u8> {
    seq.to_be_bytes().to_vec()
}

pub fn decode_delivered(b: &[u8]) -> Result<u64, OutboxError> {
    b.try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| OutboxError("delivered entry is not 8 bytes"))
}

/// The queue rebuilt from a journal's entries (kind, payload), oldest
/// first: every queued update not marked delivered.
pub fn replay<'a>(
    entries: impl IntoIterator<Item = (u16, &'a [u8])>,
) -> Result<VecDeque<Queued>, OutboxError> {
    let mut queue: VecDeque<Queued> = VecDeque::new();
    for (kind, payload) in entries {
        match kind {
            KIND_QUEUED => {
                let q = Queued::decode(payload)?;
                if queue.back().is_some_and(|b| b.seq >= q.seq) {
                    return Err(OutboxError("sequence numbers go backwards"));
                }
                queue.push_back(q);
            }
            KIND_DELIVERED => {
                let seq = decode_delivered(payload)?;
                // Delivery is in order, so it is the head, if still there.
                queue.retain(|q| q.seq != seq);
            }
            _ => return Err(OutboxError("unknown entry kind")),
        }
    }
    Ok(queue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(seq: u64) -> Queued {
        Queued {
            seq,
            queued_at: 1_700_000_000 + seq,
            client: "192.0.2.7".into(),
            message: vec![seq as u8; 20],
        }
    }

    #[test]
    fn replay_keeps_what_was_not_delivered_in_order() {
        let (a, b, c) = (q(1).encode(), q(2).encode(), q(3).encode());
        let d1 = encode_delivered(1);
        let entries = vec![
            (KIND_QUEUED, &a[..]),
            (KIND_QUEUED, &b[..]),
            (KIND_DELIVERED, &d1[..]),
            (KIND_QUEUED, &c[..]),
        ];
        let queue = replay(entries).unwrap();
        assert_eq!(queue.iter().map(|q| q.seq).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn damaged_entries_are_errors_not_panics() {
        assert!(Queued::decode(&[0; 5]).is_err());
        let mut e = q(1).encode();
        e[16] = 200;
        assert!(Queued::decode(&e[..30]).is_err());
        assert!(decode_delivered(&[1, 2]).is_err());
        let b = q(2).encode();
        let a = q(1).encode();
        assert!(replay(vec![(KIND_QUEUED, &b[..]), (KIND_QUEUED, &a[..])]).is_err());
        assert!(replay(vec![(9, &a[..])]).is_err());
    }

    proptest! {
        #[test]
        fn queued_round_trips(seq: u64, at: u64, client in "[ -~]{0,60}", message in proptest::collection::vec(any::<u8>(), 0..600)) {
            let e = Queued { seq, queued_at: at, client, message };
            prop_assert_eq!(Queued::decode(&e.encode()).unwrap(), e);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Queued::decode(&bytes);
            let _ = decode_delivered(&bytes);
        }
    }
}
