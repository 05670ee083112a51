//! Who else is here and what they watch: the peer table every tab keeps (so a new leader knows
//! the union at once), its expiry, and the snapshot requests overheard while not leading (so a
//! new leader answers them). Apart from leadership because followers keep it too.

use crate::election::TabId;
use crate::wire::Watch;
use std::collections::BTreeMap;

use super::{HubOutput, Tab, TabMsg};

/// The most other tabs a hub keeps in its table (and answers, as leader). A frame from a new tab
/// when the table is full is still read, but the tab is not added: a flood of made-up ids cannot
/// grow memory or the union, and tabs already known keep their place (a tab left out announces
/// itself again when it sees the union miss its trucks).
pub const MAX_PEERS: usize = 256;

#[derive(Debug, Clone)]
struct Peer {
    watch: Watch,
    last_seen_ms: u64,
    /// Its page was hidden when it last spoke.
    hidden: bool,
}

/// The other tabs' watches, and their snapshot requests heard while not leading.
#[derive(Debug, Clone, Default)]
pub(super) struct Peers {
    table: BTreeMap<TabId, Peer>,
    /// Snapshot requests heard while not leading (tab -> watch, when): a new leader answers them.
    overheard: BTreeMap<TabId, (Watch, u64)>,
}

impl Peers {
    /// Forgets everyone (on joining or rejoining).
    pub(super) fn clear(&mut self) {
        self.table.clear();
        self.overheard.clear();
    }

    /// Whether a tab other than `except` with an id below `me` was heard since `since_ms`: then
    /// `me` is not the successor (see `core::election`, "Taking over on the server's clock").
    pub(super) fn any_lower_since(&self, me: TabId, except: TabId, since_ms: u64) -> bool {
        self.table
            .range(..me)
            .any(|(tab, peer)| *tab != except && peer.last_seen_ms >= since_ms)
    }

    /// How many tabs this tab knows.
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether some known tab shows its page: then relayed events go out at once.
    pub(super) fn any_shown(&self) -> bool {
        self.table.values().any(|p| !p.hidden)
    }

    /// When the longest-silent peer was last heard.
    pub(super) fn oldest_seen_ms(&self) -> Option<u64> {
        self.table.values().map(|p| p.last_seen_ms).min()
    }

    /// Notes a frame from `from` (not a goodbye): when it was heard, whether its page is
    /// hidden, and the watch it announces. Returns whether the union may have changed.
    fn note(&mut self, now_ms: u64, from: TabId, hidden: bool, msg: &TabMsg) -> bool {
        let announced = match msg {
            TabMsg::Hello { watch, .. }
            | TabMsg::Watch { watch, .. }
            | TabMsg::SnapshotRequest { watch }
            | TabMsg::Resend { watch, .. } => Some(watch),
            _ => None,
        };
        let full = self.table.len() >= MAX_PEERS;
        match (announced, self.table.get_mut(&from)) {
            (Some(watch), Some(peer)) => {
                peer.last_seen_ms = now_ms;
                peer.hidden = hidden;
                if peer.watch != *watch {
                    peer.watch = watch.clone();
                    return true;
                }
                false
            }
            (Some(_), None) if full => false,
            (Some(watch), None) => {
                self.table.insert(
                    from,
                    Peer {
                        watch: watch.clone(),
                        last_seen_ms: now_ms,
                        hidden,
                    },
                );
                true
            }
            (None, Some(peer)) => {
                peer.last_seen_ms = now_ms;
                peer.hidden = hidden;
                false
            }
            (None, None) => false,
        }
    }

    /// Whether `tab` is in the table (a leader answers only tabs it knows).
    pub(super) fn knows(&self, tab: TabId) -> bool {
        self.table.contains_key(&tab)
    }

    /// `tab` said goodbye.
    fn remove(&mut self, tab: TabId) {
        self.table.remove(&tab);
        self.overheard.remove(&tab);
    }

    /// A follower heard `tab` ask for a snapshot of `watch`.
    pub(super) fn overhear(&mut self, tab: TabId, watch: Watch, now_ms: u64) {
        if self.knows(tab) {
            self.overheard.insert(tab, (watch, now_ms));
        }
    }

    /// The leader answered `tab`: nothing to inherit for it.
    pub(super) fn answered(&mut self, tab: TabId) {
        self.overheard.remove(&tab);
    }

    /// The requests heard since `since_ms`, for a new leader to answer; forgets them all.
    pub(super) fn take_overheard(&mut self, since_ms: u64) -> BTreeMap<TabId, Watch> {
        // Inserted, not collected: `collect` into a map sorts a Vec first (code of its own).
        let mut heard = BTreeMap::new();
        for (tab, (watch, at)) in std::mem::take(&mut self.overheard) {
            if at >= since_ms {
                heard.insert(tab, watch);
            }
        }
        heard
    }

    /// The union of `own` and every known watch.
    pub(super) fn union(&self, own: &Watch) -> Watch {
        self.table
            .values()
            .fold(own.clone(), |acc, p| acc.union(&p.watch))
    }
}

impl Tab {
    /// Notes a frame from `from` in the peer table; a goodbye removes it (a `PeerGone`).
    /// Returns whether the union may have changed.
    pub(super) fn note_peer(
        &mut self,
        now_ms: u64,
        from: TabId,
        hidden: bool,
        msg: &TabMsg,
    ) -> bool {
        if matches!(msg, TabMsg::Goodbye) {
            self.outputs.push_back(HubOutput::PeerGone(from));
            self.peers.remove(from);
            return true;
        }
        self.peers.note(now_ms, from, hidden, msg)
    }

    /// The tabs this hub's stream serves when it leads: every peer, and itself when it is a tab
    /// (a worker is not one).
    pub(super) fn sharing(&self) -> usize {
        self.peers.len()
            + usize::from(self.config.election != crate::election::ElectionMode::Worker)
    }

    /// The union of this tab's watch and every peer's, within this tab's scope: a peer's watch
    /// (or a forged one) cannot make the stream name a truck the operator may not see.
    pub(super) fn union(&self) -> Watch {
        self.peers.union(&self.watch).within(&self.config.scope)
    }

    /// Drops the peers silent for `peer_expiry_ms` (each a `PeerGone`); returns whether any
    /// went (the union may have changed).
    pub(super) fn expire_peers(&mut self, now_ms: u64) -> bool {
        let expiry = self.config.peer_expiry_ms;
        let expired: Vec<TabId> = self
            .peers
            .table
            .iter()
            .filter(|(_, p)| now_ms >= p.last_seen_ms + expiry)
            .map(|(tab, _)| *tab)
            .collect();
        for tab in &expired {
            self.peers.table.remove(tab);
            self.outputs.push_back(HubOutput::PeerGone(*tab));
        }
        !expired.is_empty()
    }
}
