//! Cutting the TCP byte stream into messages.
//!
//! TCP delivers bytes in whatever pieces it likes; the failover protocol
//! frames each message with its own 2-byte length. The [`Framer`] buffers
//! what it is given and hands out whole messages. It does what ISC's reader
//! (`dhcp_failover_link_signal`) does: the length is judged as soon as its
//! two bytes are in, before the rest of the message is awaited, so a peer
//! announcing 60 000 bytes is refused at once rather than waited for.
//!
//! Any error is final: the stream is out of step or the peer is broken, and
//! ISC closes the connection in every such case. The framer keeps returning
//! the same error and ignores further input.

use super::{check_length, DecodeError, DecodeMode, Message};

/// A pure, incremental reader of one connection's messages.
///
/// ```
/// use tandem_failover::wire::{contact, DecodeMode, Framer};
///
/// let bytes = contact(1_700_000_000, 7).encode().unwrap();
/// let mut framer = Framer::new(DecodeMode::IscAllowList);
/// framer.push(&bytes[..5]);
/// assert_eq!(framer.next_message(), Ok(None)); // needs more bytes
/// framer.push(&bytes[5..]);
/// assert_eq!(framer.next_message().unwrap().unwrap().xid, 7);
/// ```
#[derive(Debug, Clone)]
pub struct Framer {
    mode: DecodeMode,
    buf: Vec<u8>,
    /// Bytes of `buf` before this are consumed; dropped lazily so that a
    /// burst of small messages costs one copy, not one per message.
    start: usize,
    failed: Option<DecodeError>,
}

impl Framer {
    pub fn new(mode: DecodeMode) -> Framer {
        Framer {
            mode,
            buf: Vec::new(),
            start: 0,
            failed: None,
        }
    }

    /// Adds bytes read from the connection. Call [`Framer::next_message`]
    /// until it returns `Ok(None)` after each push: the framer holds at most
    /// one message plus what was pushed since.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, `Ok(None)` if more bytes are needed, or the
    /// error that must close the connection.
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        let Some(frame) = self.next_frame()? else {
            return Ok(None);
        };
        let end = self.start + frame;
        let result = Message::decode(&self.buf[self.start..end], self.mode);
        self.start = end;
        match result {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Length of the next whole frame at `start`, if it is all here.
    fn next_frame(&mut self) -> Result<Option<usize>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let pending = &self.buf[self.start..];
        if pending.len() < 2 {
            return Ok(None);
        }
        let length = match check_length(pending) {
            Ok(l) => usize::from(l),
            Err(e) => {
                self.failed = Some(e.clone());
                return Err(e);
            }
        };
        Ok((pending.len() >= length).then_some(length))
    }

    /// Bytes received but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// True once an error has been returned; the connection must close.
    pub fn has_failed(&self) -> bool {
        self.failed.is_some()
    }
}
