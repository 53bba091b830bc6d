//! argon2id hashing with OWASP's parameters, off the async runtime and with a cap
//! on how many hashes run at once, so a burst of logins cannot starve requests or
//! exhaust memory (each hash takes 19 MiB).

use std::sync::{Arc, LazyLock};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::domain::Password;

/// A hash of a password nobody has, verified for unknown emails so that a failed
/// login takes as long whether or not the account exists.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_blocking("not a real password: used to equalise login timing")
        .expect("hashing a constant cannot fail")
});

/// Runs argon2 on the blocking pool, at most `limit` at a time.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores.max(2))
    }
}

impl PasswordHasher {
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit)),
        }
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) to store.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let password = password.clone();
        tokio::task::spawn_blocking(move || hash_blocking(password.expose())).await?
    }

    /// Checks `candidate` against a stored hash; with no stored hash (unknown user,
    /// or a user without a password) it still does the work and answers false.
    pub async fn verify(&self, candidate: String, stored: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let matched = tokio::task::spawn_blocking(move || {
            let known = stored.is_some();
            let phc = stored.unwrap_or_else(|| DUMMY_HASH.clone());
            let ok = PasswordHash::new(&phc).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(candidate.as_bytes(), &hash)
                    .is_ok()
            });
            known && ok
        })
        .await?;
        Ok(matched)
    }
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    use argon2::PasswordHasher as _;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let hasher = PasswordHasher::new(2);
        let password = Password::parse("correct horse battery").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            hasher
                .verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse battery".into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn no_stored_hash_never_verifies() {
        let hasher = PasswordHasher::new(1);
        let phrase = "not a real password: used to equalise login timing";
        assert!(!hasher.verify(phrase.into(), None).await.unwrap());
    }
}
