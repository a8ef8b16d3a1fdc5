//! The Redis store's subscriber task: one dedicated pub/sub connection per store, shared by all
//! of its subscriptions through the in-process [`Hub`].
//!
//! A Redis connection in subscribed mode can run nothing but (P)SUBSCRIBE, UNSUBSCRIBE and
//! PING, so it is separate from the multiplexed connection every other command uses. The task
//! owns it: it SUBSCRIBEs when a channel gets its first local subscriber, UNSUBSCRIBEs when the
//! last one leaves, pings it so a silently dead connection is noticed, and when it breaks,
//! reconnects with backoff, resubscribes every live channel and then tells their subscribers
//! [`GapReason::Reconnected`](crate::GapReason::Reconnected) (whatever was published in between
//! is lost: Redis pub/sub does not store messages).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{timeout, Instant};

use super::redis_error;
use crate::error::{ErrorKind, Result, StoreError};
use crate::pubsub::Hub;

pub(super) enum Command {
    /// Make sure the server delivers `channel` to this process; answer once it does.
    Subscribe {
        channel: String,
        ack: oneshot::Sender<Result<()>>,
    },
    /// A subscription to `channel` was dropped; unsubscribe if it was the last one.
    Release(String),
}

pub(super) struct Settings {
    pub(super) client: redis::Client,
    pub(super) channel_prefix: String,
    pub(super) connect_timeout: Duration,
    pub(super) operation_timeout: Duration,
    pub(super) ping_interval: Duration,
}

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

struct Connection {
    sink: PubSubSink,
    stream: PubSubStream,
}

pub(super) async fn run(
    settings: Settings,
    hub: Arc<Hub>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connection: Option<Connection> = None;
    // Channels the current connection is subscribed to.
    let mut subscribed: HashSet<String> = HashSet::new();
    // A connection with subscriptions broke and has not been replaced yet.
    let mut lost = false;
    let mut backoff = MIN_BACKOFF;
    let mut retry_at: Option<Instant> = None;
    let mut ping = tokio::time::interval_at(
        Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            command = commands.recv() => match command {
                None => return,
                Some(Command::Subscribe { channel, ack }) => {
                    if connection.is_none() {
                        match connect(&settings, &hub).await {
                            Ok((new, channels)) => {
                                if lost {
                                    hub.reconnected(&channels);
                                    lost = false;
                                }
                                subscribed = channels.into_iter().collect();
                                connection = Some(new);
                                backoff = MIN_BACKOFF;
                                retry_at = None;
                            }
                            Err(error) => {
                                let _ = ack.send(Err(error));
                                continue;
                            }
                        }
                    }
                    let result = match connection.as_mut() {
                        Some(_) if subscribed.contains(&channel) => Ok(()),
                        Some(conn) => {
                            let name = format!("{}{channel}", settings.channel_prefix);
                            match timeout(settings.operation_timeout, conn.sink.subscribe(name)).await {
                                Ok(Ok(())) => {
                                    subscribed.insert(channel);
                                    Ok(())
                                }
                                Ok(Err(error)) => Err(redis_error("subscribe", error)),
                                Err(_) => Err(no_answer("subscribe", settings.operation_timeout)),
                            }
                        }
                        None => Err(no_answer("subscribe", settings.operation_timeout)),
                    };
                    if let Err(error) = &result {
                        if error.is_unavailable() {
                            connection = None;
                            lost = !subscribed.is_empty();
                            subscribed.clear();
                            retry_at = Some(Instant::now());
                        }
                    }
                    let _ = ack.send(result);
                }
                Some(Command::Release(channel)) => {
                    if hub.prune(&channel) && subscribed.remove(&channel) {
                        if let Some(conn) = connection.as_mut() {
                            let name = format!("{}{channel}", settings.channel_prefix);
                            // A failed UNSUBSCRIBE only means a few unwanted messages, dropped
                            // by the hub; a broken connection shows up on the stream.
                            let _ = timeout(settings.operation_timeout, conn.sink.unsubscribe(name)).await;
                        }
                    }
                }
            },
            message = next_message(&mut connection) => match message {
                Some(message) => {
                    if let Some(channel) = message.get_channel_name().strip_prefix(&settings.channel_prefix) {
                        hub.dispatch(channel, bytes::Bytes::copy_from_slice(message.get_payload_bytes()));
                    }
                }
                None => {
                    tracing::warn!("redis pub/sub connection lost; reconnecting");
                    connection = None;
                    lost = !subscribed.is_empty();
                    subscribed.clear();
                    retry_at = Some(Instant::now());
                }
            },
            _ = ping.tick(), if connection.is_some() => {
                let alive = match connection.as_mut() {
                    Some(conn) => matches!(
                        // In subscribed mode PING answers ["pong", ""], not +PONG: any reply
                        // in time proves the connection alive.
                        timeout(settings.operation_timeout, conn.sink.ping::<redis::Value>()).await,
                        Ok(Ok(_))
                    ),
                    None => true,
                };
                if !alive {
                    tracing::warn!("redis pub/sub connection does not answer PING; reconnecting");
                    connection = None;
                    lost = !subscribed.is_empty();
                    subscribed.clear();
                    retry_at = Some(Instant::now());
                }
            },
            _ = sleep_until(retry_at), if connection.is_none() && retry_at.is_some() => {
                if hub.live_channels().is_empty() {
                    // Nobody listens: reconnect when someone subscribes again.
                    retry_at = None;
                    lost = false;
                    continue;
                }
                match connect(&settings, &hub).await {
                    Ok((new, channels)) => {
                        tracing::info!(channels = channels.len(), "redis pub/sub reconnected");
                        if lost {
                            hub.reconnected(&channels);
                            lost = false;
                        }
                        subscribed = channels.into_iter().collect();
                        connection = Some(new);
                        backoff = MIN_BACKOFF;
                        retry_at = None;
                    }
                    Err(error) => {
                        tracing::debug!(%error, "redis pub/sub reconnect failed");
                        retry_at = Some(Instant::now() + backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    }
}

/// Opens a pub/sub connection and subscribes every channel that has local subscribers.
async fn connect(settings: &Settings, hub: &Hub) -> Result<(Connection, Vec<String>)> {
    let pubsub = match timeout(settings.connect_timeout, settings.client.get_async_pubsub()).await {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(error)) => return Err(redis_error("subscribe", error)),
        Err(_) => {
            return Err(StoreError::new(
                ErrorKind::Unavailable,
                "subscribe",
                format!(
                    "redis: no pub/sub connection within {:?}",
                    settings.connect_timeout
                ),
            ))
        }
    };
    let (mut sink, stream) = pubsub.split();
    let channels = hub.live_channels();
    if !channels.is_empty() {
        let names: Vec<String> = channels
            .iter()
            .map(|c| format!("{}{c}", settings.channel_prefix))
            .collect();
        match timeout(settings.operation_timeout, sink.subscribe(names)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(redis_error("subscribe", error)),
            Err(_) => return Err(no_answer("subscribe", settings.operation_timeout)),
        }
    }
    Ok((Connection { sink, stream }, channels))
}

async fn next_message(connection: &mut Option<Connection>) -> Option<redis::Msg> {
    match connection {
        Some(conn) => conn.stream.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn no_answer(op: &'static str, after: Duration) -> StoreError {
    StoreError::new(
        ErrorKind::Unavailable,
        op,
        format!("redis: no answer within {after:?}"),
    )
}
