//! In-process fan-out of pub/sub messages, shared by both backends.
//!
//! The embedded store publishes straight into the `Hub`; the Redis store's subscriber task
//! feeds it from its dedicated Redis connection. Either way a subscriber holds a
//! [`Subscription`] over a per-channel `tokio::sync::broadcast`, so a slow subscriber never
//! blocks the publisher: it falls behind, and learns that it did through
//! [`Notification::Gap`].

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;

/// What a [`Subscription`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A message published on the channel.
    Message(Bytes),
    /// Messages may have been missed just before this point. A subscriber that must not miss
    /// any (purge, change notifications) should resynchronise: flush what a missed message
    /// could have invalidated, or re-read the log it follows.
    Gap(GapReason),
}

/// Why a [`Notification::Gap`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapReason {
    /// This subscriber fell behind by `missed` messages and they were dropped for it.
    Lagged {
        /// How many messages this subscriber will never see.
        missed: u64,
    },
    /// The connection to the backend was lost and has been re-established; whatever was
    /// published while it was down was not delivered.
    Reconnected,
}

#[derive(Debug, Clone)]
pub(crate) enum HubEvent {
    Message(Bytes),
    Reconnected,
}

/// Per-channel broadcast senders. A channel exists while it has subscribers; publishing to a
/// channel nobody listens to is a no-op (as in Redis).
#[derive(Debug)]
pub(crate) struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<HubEvent>>>,
    capacity: usize,
}

impl Hub {
    pub(crate) fn new(capacity: usize) -> Self {
        Hub {
            channels: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<HubEvent>>> {
        // The map stays consistent even if a holder panicked (every change is one insert or
        // remove), so a poisoned lock is still safe to use.
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn subscribe(&self, channel: &str) -> broadcast::Receiver<HubEvent> {
        let mut channels = self.lock();
        match channels.get(channel) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(self.capacity);
                channels.insert(channel.to_owned(), sender);
                receiver
            }
        }
    }

    /// Delivers to every current subscriber of `channel`; returns how many there were.
    pub(crate) fn dispatch(&self, channel: &str, message: Bytes) -> usize {
        let mut channels = self.lock();
        let Some(sender) = channels.get(channel) else {
            return 0;
        };
        match sender.send(HubEvent::Message(message)) {
            Ok(receivers) => receivers,
            Err(_) => {
                // Every subscriber is gone: forget the channel so the map does not grow with
                // every channel ever used.
                channels.remove(channel);
                0
            }
        }
    }

    pub(crate) fn reconnected(&self, channels: &[String]) {
        let map = self.lock();
        for channel in channels {
            if let Some(sender) = map.get(channel) {
                let _ = sender.send(HubEvent::Reconnected);
            }
        }
    }

    /// Forgets `channel` if nobody listens any more; true when it has no subscriber (whether
    /// it was still in the map or already forgotten by `dispatch`).
    pub(crate) fn prune(&self, channel: &str) -> bool {
        let mut channels = self.lock();
        match channels.get(channel) {
            Some(sender) if sender.receiver_count() > 0 => false,
            Some(_) => {
                channels.remove(channel);
                true
            }
            None => true,
        }
    }

    /// Channels that have at least one subscriber.
    pub(crate) fn live_channels(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, sender)| sender.receiver_count() > 0)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Drops every sender: every subscription then ends (yields `None`).
    pub(crate) fn close(&self) {
        self.lock().clear();
    }
}

/// A subscription to one channel, from [`Store::subscribe`](crate::Store::subscribe).
///
/// Delivery is at most once and best effort, in publish order per publisher: messages are not
/// stored, a subscriber only sees what is published while it is subscribed, and a gap is always
/// reported as [`Notification::Gap`] rather than passed over silently. Dropping the
/// subscription unsubscribes.
pub struct Subscription {
    channel: String,
    // Declared before `_release` so it is dropped first: when the release hook runs, this
    // subscriber no longer counts as a receiver of the channel.
    receiver: broadcast::Receiver<HubEvent>,
    _release: ReleaseOnDrop,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// Runs a hook when the subscription is dropped: the Redis store uses it to tell its
/// subscriber task that a channel may have lost its last local subscriber (so it can
/// UNSUBSCRIBE).
struct ReleaseOnDrop(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

impl Subscription {
    pub(crate) fn new(
        channel: String,
        receiver: broadcast::Receiver<HubEvent>,
        on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
    ) -> Self {
        Subscription {
            channel,
            receiver,
            _release: ReleaseOnDrop(on_drop),
        }
    }

    /// The channel this subscription listens to.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Waits for the next notification. `None` once the store is closed or dropped.
    pub async fn recv(&mut self) -> Option<Notification> {
        match self.receiver.recv().await {
            Ok(HubEvent::Message(message)) => Some(Notification::Message(message)),
            Ok(HubEvent::Reconnected) => Some(Notification::Gap(GapReason::Reconnected)),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                Some(Notification::Gap(GapReason::Lagged { missed }))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The subscription as a `Stream` of notifications, ending when the store closes.
    pub fn into_stream(self) -> BoxStream<'static, Notification> {
        stream::unfold(self, |mut subscription| async move {
            let next = subscription.recv().await?;
            Some((next, subscription))
        })
        .boxed()
    }
}
