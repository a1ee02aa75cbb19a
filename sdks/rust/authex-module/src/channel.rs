//! The event channel (`spec/crypto.md` §3): AD binding, per-direction counters from 1 that never
//! wrap, and the receive window (strictly increasing counters, gaps counted).

use crate::suites::Suite;
use crate::{CryptoError, Secret, PROTOCOL_VERSION};

/// 2^64 - 1: never used as a counter (the largest usable is 2^64 - 2).
pub const MAX_COUNTER: u64 = u64::MAX;

/// `u8 version || u32 conn_id || u8 direction || u64 counter` (14 bytes).
pub fn event_ad(conn_id: u32, direction: u8, counter: u64) -> [u8; 14] {
    let mut ad = [0u8; 14];
    ad[0] = PROTOCOL_VERSION;
    ad[1..5].copy_from_slice(&conn_id.to_be_bytes());
    ad[5] = direction;
    ad[6..14].copy_from_slice(&counter.to_be_bytes());
    ad
}

/// Seal an event, request or response; refuses counter 0 and 2^64 - 1.
pub fn seal_event(
    suite: Suite,
    key: &[u8],
    conn_id: u32,
    direction: u8,
    counter: u64,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if counter == 0 || counter == MAX_COUNTER {
        return Err(CryptoError::new(format!("counter {counter} out of range: connection {conn_id} must be re-keyed")));
    }
    suite.seal(key, direction, counter, &event_ad(conn_id, direction, counter), plaintext)
}

pub fn open_event(
    suite: Suite,
    key: &[u8],
    conn_id: u32,
    direction: u8,
    counter: u64,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    suite.open(key, direction, counter, &event_ad(conn_id, direction, counter), sealed)
}

/// Why a receiver refused a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The counter is not greater than the last accepted one.
    Replay { counter: u64, last: u64 },
    /// The tag did not verify.
    Forged,
}

/// Freshness for one receiving direction (`spec/crypto.md` §3.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiveWindow {
    pub last: u64,
    pub gaps: u64,
    pub rejected: u64,
}

impl ReceiveWindow {
    /// Step 1: refuse a stale counter (counted). Call [`accept`](Self::accept) after the tag
    /// verified.
    pub fn check(&mut self, counter: u64) -> Result<(), OpenError> {
        if counter <= self.last {
            self.rejected += 1;
            return Err(OpenError::Replay { counter, last: self.last });
        }
        Ok(())
    }

    /// Step 3: move the window (gaps += counter - last - 1).
    pub fn accept(&mut self, counter: u64) {
        self.gaps = self.gaps.wrapping_add(counter - self.last - 1);
        self.last = counter;
    }
}

/// One end's view of one connection: key, suite, send counter and receive window.
pub struct ChannelEnd {
    pub conn_id: u32,
    pub suite: Suite,
    key: Secret,
    /// Last counter used for direction 0 (0 before the first message).
    pub sent: u64,
    pub receive: ReceiveWindow,
}

impl std::fmt::Debug for ChannelEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelEnd({}, {}, sent {})", self.conn_id, self.suite.name(), self.sent)
    }
}

impl ChannelEnd {
    pub fn new(conn_id: u32, suite: Suite, key: Secret) -> Self {
        ChannelEnd { conn_id, suite, key, sent: 0, receive: ReceiveWindow::default() }
    }

    /// Seal the next direction-0 message: (counter, sealed).
    pub fn seal_next(&mut self, direction: u8, plaintext: &[u8]) -> Result<(u64, Vec<u8>), CryptoError> {
        if self.sent >= MAX_COUNTER - 1 {
            return Err(CryptoError::new("counter exhausted: the connection must be re-keyed"));
        }
        let counter = self.sent + 1;
        let sealed = seal_event(self.suite, self.key.reveal(), self.conn_id, direction, counter, plaintext)?;
        self.sent = counter;
        Ok((counter, sealed))
    }

    /// Seal with an explicit counter (a response uses its request's counter).
    /// The connection key (for sealing the module's state; never logged).
    pub(crate) fn key(&self) -> &Secret {
        &self.key
    }

    pub fn seal_with(&self, direction: u8, counter: u64, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal_event(self.suite, self.key.reveal(), self.conn_id, direction, counter, plaintext)
    }

    /// Check freshness, verify, then advance the window.
    pub fn open(&mut self, direction: u8, counter: u64, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        self.receive.check(counter)?;
        match open_event(self.suite, self.key.reveal(), self.conn_id, direction, counter, sealed) {
            Ok(plain) => {
                self.receive.accept(counter);
                Ok(plain)
            }
            Err(_) => {
                self.receive.rejected += 1;
                Err(OpenError::Forged)
            }
        }
    }
}
