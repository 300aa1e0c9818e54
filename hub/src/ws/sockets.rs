//! Which browser sockets each account has open on this hub, so that a change to an account's project list (an
//! invitation, a removal, a project renamed, created or deleted) reaches its open tabs at once as `PROJECTS_CHANGED`.
//! Only this hub's sockets are known: a change made through another hub reaches a page when it next checks (the
//! browser protocol says so).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::ws::Message;
use orrery_db::AccountId;
use orrery_local_hub::protocol::Frame;
use tokio::sync::mpsc;

use crate::browser::kind;

/// Each account's open sockets: their numbers and outgoing queues.
type ByAccount = HashMap<AccountId, Vec<(u64, mpsc::Sender<Message>)>>;

/// The open sockets of every signed-in account on this hub.
#[derive(Debug, Default)]
pub(crate) struct Sockets {
    by_account: Mutex<ByAccount>,
    next: AtomicU64,
}

impl Sockets {
    fn lock(&self) -> MutexGuard<'_, ByAccount> {
        self.by_account
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a socket of `account` whose outgoing queue is `out`; returns its number for [`Sockets::remove`].
    pub(crate) fn add(&self, account: AccountId, out: mpsc::Sender<Message>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(account).or_default().push((id, out));
        id
    }

    pub(crate) fn remove(&self, account: AccountId, id: u64) {
        let mut sockets = self.lock();
        if let Some(open) = sockets.get_mut(&account) {
            open.retain(|(socket, _)| *socket != id);
            if open.is_empty() {
                sockets.remove(&account);
            }
        }
    }

    /// Tells every socket of these accounts that their project lists changed. Never waits: a socket whose queue is
    /// full misses the notice and its page catches up at its next periodic check.
    pub(crate) fn projects_changed(&self, accounts: impl IntoIterator<Item = AccountId>) {
        let frame = Frame::new(0, kind::PROJECTS_CHANGED, Vec::new()).encode();
        let message = Bytes::copy_from_slice(&frame[4..]);
        let sockets = self.lock();
        for account in accounts {
            for (_, out) in sockets.get(&account).into_iter().flatten() {
                let _ = out.try_send(Message::Binary(message.clone()));
            }
        }
    }
}
