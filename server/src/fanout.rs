//! Fan-out of published events to the open streams; the hub calls it under its lock, so every
//! stream sees events in id order and joins at an exact id.
//!
//! A stream's capacity is the server's `--queue` on top of the largest append (see
//! `crate::Config::stream_capacity`), so one append, however large (a bulk import through
//! ingest), is never on its own a reason to cut a stream that keeps up.
//!
//! Streams that follow every truck (nearly all of them) share one broadcast channel: publishing
//! is one send whatever the number of streams, each stream holds only a cursor into the shared
//! ring, and leaving is dropping that cursor. A stream that falls more than the capacity behind
//! is found at publish time from the id it last took, marked lagged and its connection closed
//! (a stalled client stops hyper from polling the body, so nothing short of that frees it).
//! Streams that follow a few trucks keep a queue of their own, filled with their trucks' events.
//! Both are kept by stream id, so a stream leaves in O(1).
//!
//! The fan-out also carries what every stream needs at the same moment, so that no stream keeps
//! a timer or a token of its own for it: the server's keep-alive tick, and its shutdown, which
//! closes every stream's channel once the events already in it are read.

use crate::log::Logged;
use convoy_core::wire::Watch;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Why a stream has nothing more to read right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued yet.
    Empty,
    /// The stream lagged or the server is closing it: it ends.
    Closed,
}

/// What a stream reads from the fan-out.
#[derive(Debug, Clone)]
pub enum Delivery {
    Event(Logged),
    /// The server's keep-alive tick, the same moment for every stream.
    KeepAlive,
}

/// A stream's live events.
#[derive(Debug)]
pub enum Live {
    /// Every event, from the shared channel.
    All {
        rx: broadcast::Receiver<(u64, Delivery)>,
        /// The sequence number of the event last taken, read by the publisher to find streams
        /// that lag. Counted in events, not ids: ids jump at a shared log's new epoch.
        taken: Arc<AtomicU64>,
        /// The sequence number of the event last sent, so that asking for more when there is
        /// none needs no lock: an empty channel's `try_recv` takes the lock its sender holds
        /// while it wakes every stream.
        sent: Arc<AtomicU64>,
        lagged: Arc<AtomicBool>,
    },
    /// A few trucks' events, in a queue of the stream's own.
    Queue(mpsc::Receiver<Delivery>),
}

impl Live {
    /// The next event or keep-alive; `None` once the stream lagged (its `lagged` flag says
    /// so) or the fan-out closed at shutdown.
    pub async fn recv(&mut self) -> Option<Delivery> {
        match self {
            Live::All {
                rx, taken, lagged, ..
            } => {
                if lagged.load(Ordering::Acquire) {
                    return None;
                }
                match rx.recv().await {
                    Ok((seq, delivery)) => {
                        taken.store(seq, Ordering::Release);
                        Some(delivery)
                    }
                    Err(broadcast::error::RecvError::Closed) => None,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        lagged.store(true, Ordering::Release);
                        None
                    }
                }
            }
            Live::Queue(rx) => rx.recv().await,
        }
    }

    /// The next event if one is queued, passing over keep-alives: a stream that has events to
    /// write is alive.
    pub fn try_recv(&mut self) -> Result<Logged, TryRecvError> {
        loop {
            if let Delivery::Event(event) = self.try_recv_delivery()? {
                return Ok(event);
            }
        }
    }

    fn try_recv_delivery(&mut self) -> Result<Delivery, TryRecvError> {
        match self {
            Live::All {
                rx,
                taken,
                sent,
                lagged,
            } => {
                if lagged.load(Ordering::Acquire) {
                    return Err(TryRecvError::Closed);
                }
                // Only this stream stores `taken`; `sent` is stored after the send, so when it
                // is ahead the channel holds the event.
                if sent.load(Ordering::Acquire) <= taken.load(Ordering::Relaxed) {
                    return Err(TryRecvError::Empty);
                }
                match rx.try_recv() {
                    Ok((seq, delivery)) => {
                        taken.store(seq, Ordering::Release);
                        Ok(delivery)
                    }
                    Err(broadcast::error::TryRecvError::Empty) => Err(TryRecvError::Empty),
                    Err(broadcast::error::TryRecvError::Closed) => Err(TryRecvError::Closed),
                    Err(_) => {
                        lagged.store(true, Ordering::Release);
                        Err(TryRecvError::Closed)
                    }
                }
            }
            Live::Queue(rx) => rx.try_recv().map_err(|e| match e {
                mpsc::error::TryRecvError::Empty => TryRecvError::Empty,
                mpsc::error::TryRecvError::Disconnected => TryRecvError::Closed,
            }),
        }
    }
}

struct Follower {
    taken: Arc<AtomicU64>,
    lagged: Arc<AtomicBool>,
    on_lag: Option<CancellationToken>,
}

struct Filtered {
    watch: Watch,
    tx: mpsc::Sender<Delivery>,
    lagged: Arc<AtomicBool>,
    on_lag: Option<CancellationToken>,
}

/// The open streams.
pub struct Fanout {
    all: broadcast::Sender<(u64, Delivery)>,
    /// Events published so far.
    seq: u64,
    /// `seq`, for the streams, once the event is in the channel.
    sent: Arc<AtomicU64>,
    followers: HashMap<u64, Follower>,
    filtered: HashMap<u64, Filtered>,
    capacity: usize,
    /// Closed at shutdown: streams that subscribe after it end at once.
    closed: bool,
}

fn signal(lagged: &AtomicBool, on_lag: &Option<CancellationToken>) {
    lagged.store(true, Ordering::Release);
    if let Some(token) = on_lag {
        token.cancel();
    }
}

impl Fanout {
    /// Streams may fall `capacity` events behind (their own events, for a filtered stream).
    pub fn new(capacity: usize) -> Fanout {
        let capacity = capacity.max(1);
        Fanout {
            // One more slot than a stream may lag: a stream that is exactly at its limit still
            // finds everything it has not read.
            all: broadcast::channel(capacity + 1).0,
            seq: 0,
            sent: Arc::new(AtomicU64::new(0)),
            followers: HashMap::new(),
            filtered: HashMap::new(),
            capacity,
            closed: false,
        }
    }

    /// Adds stream `id`; it receives every event published after this call. Returns its live
    /// events and its lagged flag.
    pub fn subscribe(
        &mut self,
        id: u64,
        watch: Watch,
        on_lag: Option<CancellationToken>,
    ) -> (Live, Arc<AtomicBool>) {
        let lagged = Arc::new(AtomicBool::new(false));
        if self.closed {
            // A channel whose sender is gone: the stream reads its end at once.
            let rx = broadcast::channel(1).1;
            let live = Live::All {
                rx,
                taken: Arc::new(AtomicU64::new(0)),
                sent: Arc::new(AtomicU64::new(1)),
                lagged: lagged.clone(),
            };
            return (live, lagged);
        }
        let live = match watch {
            Watch::All => {
                let taken = Arc::new(AtomicU64::new(self.seq));
                self.followers.insert(
                    id,
                    Follower {
                        taken: taken.clone(),
                        lagged: lagged.clone(),
                        on_lag,
                    },
                );
                Live::All {
                    rx: self.all.subscribe(),
                    taken,
                    sent: self.sent.clone(),
                    lagged: lagged.clone(),
                }
            }
            watch => {
                let (tx, rx) = mpsc::channel(self.capacity);
                self.filtered.insert(
                    id,
                    Filtered {
                        watch,
                        tx,
                        lagged: lagged.clone(),
                        on_lag,
                    },
                );
                Live::Queue(rx)
            }
        };
        (live, lagged)
    }

    /// Sends `event` to every stream that follows its truck; streams that fall more than the
    /// capacity behind are signalled and dropped.
    pub fn publish(&mut self, event: &Logged) {
        if !self.followers.is_empty() {
            self.seq += 1;
            let _ = self.all.send((self.seq, Delivery::Event(event.clone())));
            self.sent.store(self.seq, Ordering::Release);
            let capacity = self.capacity as u64;
            let seq = self.seq;
            self.followers.retain(|_, f| {
                let behind = seq.saturating_sub(f.taken.load(Ordering::Acquire));
                if behind > capacity {
                    signal(&f.lagged, &f.on_lag);
                    return false;
                }
                true
            });
        }
        if !self.filtered.is_empty() {
            self.filtered.retain(|_, f| {
                if !f.watch.includes(&event.truck) {
                    return true;
                }
                match f.tx.try_send(Delivery::Event(event.clone())) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        signal(&f.lagged, &f.on_lag);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            });
        }
    }

    /// Sends every stream a keep-alive. A filtered stream whose queue is full already has
    /// something to write, and goes without.
    pub fn keep_alive(&mut self) {
        if !self.followers.is_empty() {
            self.seq += 1;
            let _ = self.all.send((self.seq, Delivery::KeepAlive));
            self.sent.store(self.seq, Ordering::Release);
        }
        for f in self.filtered.values() {
            let _ = f.tx.try_send(Delivery::KeepAlive);
        }
    }

    /// Ends every stream once it has read what was sent to it, and every stream that subscribes
    /// from now on at once (the server is shutting down).
    pub fn close(&mut self) {
        self.closed = true;
        self.all = broadcast::channel(1).0;
        self.followers.clear();
        self.filtered.clear();
    }

    /// Drops stream `id`.
    pub fn remove(&mut self, id: u64) {
        self.followers.remove(&id);
        self.filtered.remove(&id);
    }

    /// How many streams are open.
    pub fn len(&self) -> usize {
        self.followers.len() + self.filtered.len()
    }

    /// Whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
