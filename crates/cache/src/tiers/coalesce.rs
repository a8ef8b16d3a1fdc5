//! Request coalescing within a node: the first miss for a key leads (goes to the origin), later
//! misses wait for it. A waiter wakes when the leader's guard is dropped: the response was
//! stored, turned out not storable, or the fetch failed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The in-flight fetches of one node.
#[derive(Debug, Default)]
pub struct Coalescer {
    inflight: Mutex<HashMap<String, watch::Receiver<()>>>,
}

/// Whose turn it is.
pub enum Turn {
    /// Fetch from the origin; drop the guard when waiters may look again.
    Lead(LeadGuard),
    /// Another request is fetching: wait for it.
    Wait(Waiter),
}

/// Held by the leader; dropping it wakes the waiters.
pub struct LeadGuard {
    coalescer: Arc<Coalescer>,
    key: String,
    _done: watch::Sender<()>,
}

impl Drop for LeadGuard {
    fn drop(&mut self) {
        if let Ok(mut map) = self.coalescer.inflight.lock() {
            map.remove(&self.key);
        }
    }
}

/// A waiter's handle.
pub struct Waiter(watch::Receiver<()>);

impl Waiter {
    /// Resolves when the leader is done (whatever the outcome).
    pub async fn done(mut self) {
        // The sender is never used to send: `changed` returns Err when the leader drops it.
        while self.0.changed().await.is_ok() {}
    }
}

impl Coalescer {
    /// Leads the fetch of `key`, or waits for the request already leading it.
    pub fn turn(self: &Arc<Self>, key: &str) -> Turn {
        let Ok(mut map) = self.inflight.lock() else {
            // A poisoned map only means a panic elsewhere; never block requests on it.
            let (tx, _rx) = watch::channel(());
            return Turn::Lead(LeadGuard {
                coalescer: self.clone(),
                key: String::new(),
                _done: tx,
            });
        };
        if let Some(rx) = map.get(key) {
            if rx.has_changed().is_ok() {
                return Turn::Wait(Waiter(rx.clone()));
            }
        }
        let (tx, rx) = watch::channel(());
        map.insert(key.to_string(), rx);
        Turn::Lead(LeadGuard {
            coalescer: self.clone(),
            key: key.to_string(),
            _done: tx,
        })
    }

    /// Fetches in flight now.
    pub fn inflight(&self) -> usize {
        self.inflight.lock().map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn second_caller_waits_until_the_leader_is_done() {
        let c = Arc::new(Coalescer::default());
        let Turn::Lead(guard) = c.turn("k") else {
            panic!("first caller must lead")
        };
        let Turn::Wait(waiter) = c.turn("k") else {
            panic!("second caller must wait")
        };
        let Turn::Lead(_other) = c.turn("other") else {
            panic!("another key has its own leader")
        };
        let wait = tokio::spawn(waiter.done());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!wait.is_finished());
        drop(guard);
        tokio::time::timeout(Duration::from_secs(1), wait)
            .await
            .expect("waiter woke")
            .expect("no panic");
        assert!(matches!(c.turn("k"), Turn::Lead(_)));
    }
}
