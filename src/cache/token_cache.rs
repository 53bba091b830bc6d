//! Remembers which admin a bearer token speaks for, so a script's request costs
//! no database round trip for authentication. An entry is trusted only under the
//! cache generation it was read in: every write to users or tokens (a revoke, a
//! demotion, a deletion) moves the generation on in Redis, so a change made
//! through any instance ends the trust at once. A change made behind the
//! service's back (raw SQL in Adminer) reaches every instance through the
//! database's notifications (`cache::changes`), which clear this cache; [`MAX_AGE`]
//! bounds the trust should a notification be lost. Without Redis nothing is
//! trusted and every request asks PostgreSQL.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use bytes::Bytes;

use crate::db::tokens::TokenOwner;

/// How long a check is trusted even when nothing moved the generation.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// More distinct live tokens than this and the cache starts over.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

struct Entry {
    generation: Bytes,
    checked_at: Instant,
    owner: TokenOwner,
}

impl TokenCache {
    /// The owner of the token with this hash, if it was looked up under
    /// `generation`.
    pub fn get(&self, token_hash: &[u8; 32], generation: &Bytes) -> Option<TokenOwner> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(token_hash)
            .filter(|entry| entry.generation == *generation && entry.checked_at.elapsed() < MAX_AGE)
            .map(|entry| entry.owner.clone())
    }

    /// Whether a token with this hash was found valid here (under any
    /// generation, until [`Self::forget`] or a clear).
    pub fn knows(&self, token_hash: &[u8; 32]) -> bool {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains_key(token_hash)
    }

    /// A token found invalid on its re-check: no longer known.
    pub fn forget(&self, token_hash: &[u8; 32]) {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(token_hash);
    }

    pub fn put(&self, token_hash: [u8; 32], generation: Bytes, owner: TokenOwner) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&token_hash) {
            entries.clear();
        }
        entries.insert(
            token_hash,
            Entry {
                generation,
                checked_at: Instant::now(),
                owner,
            },
        );
    }

    /// Forgets every check: something changed that the generation may not show
    /// (Redis unreachable when it was bumped).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    /// Notes a recorded use, so it is not recorded again within the minute.
    pub fn touched(&self, token_hash: &[u8; 32], at: time::OffsetDateTime) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = entries.get_mut(token_hash) {
            entry.owner.last_used_at = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(user_id: i64) -> TokenOwner {
        TokenOwner {
            token_id: 1,
            token_label: "sync".into(),
            user_id,
            name: "A".into(),
            email: "a@example.com".into(),
            last_used_at: None,
            expires_at: None,
            scopes: crate::domain::PermissionSet::ALL,
            permissions: crate::domain::PermissionSet::ALL,
        }
    }

    #[test]
    fn an_entry_is_trusted_only_in_its_generation() {
        let cache = TokenCache::default();
        let hash = [7u8; 32];
        cache.put(hash, Bytes::from_static(b"5"), owner(3));
        assert_eq!(
            cache
                .get(&hash, &Bytes::from_static(b"5"))
                .map(|o| o.user_id),
            Some(3)
        );
        assert!(cache.get(&hash, &Bytes::from_static(b"6")).is_none());
        assert!(cache.get(&[8u8; 32], &Bytes::from_static(b"5")).is_none());
    }

    #[test]
    fn a_token_stays_known_across_generations_until_forgotten() {
        let cache = TokenCache::default();
        let hash = [7u8; 32];
        assert!(!cache.knows(&hash), "a guess is never known");
        cache.put(hash, Bytes::from_static(b"5"), owner(3));
        assert!(cache.get(&hash, &Bytes::from_static(b"6")).is_none());
        assert!(
            cache.knows(&hash),
            "known, though not trusted, after a write"
        );
        cache.forget(&hash);
        assert!(!cache.knows(&hash));
        cache.put(hash, Bytes::from_static(b"6"), owner(3));
        cache.clear();
        assert!(
            !cache.knows(&hash),
            "a change behind the service's back clears it"
        );
    }
}
