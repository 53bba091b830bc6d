//! Recovery codes: ten per enrolment, each usable once, shown once and stored
//! only as SHA-256 digests. They are random (50 bits each, from a Crockford-like
//! alphabet without look-alike letters), not chosen by anyone, so a fast digest
//! is enough; the second step's throttle limits guessing.

use sha2::{Digest, Sha256};

/// How many codes an enrolment gets.
pub const COUNT: usize = 10;
/// 32 symbols: digits and lowercase letters without i, l, o and u.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const LENGTH: usize = 10;

/// New codes as shown to the admin: `xxxxx-xxxxx`.
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let bytes = rand::random::<[u8; LENGTH]>();
            let symbols: String = bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect();
            format!("{}-{}", &symbols[..5], &symbols[5..])
        })
        .collect()
}

/// A code as typed, as it is compared: without spaces and hyphens, lowercase,
/// with the look-alikes read as the digits they resemble.
pub fn normalise(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        })
        .collect()
}

/// The stored digest of a (normalised) code.
pub fn digest(normalised: &str) -> Vec<u8> {
    Sha256::digest(normalised.as_bytes()).to_vec()
}

/// Whether a normalised input can be a recovery code at all (checked before
/// the database is asked).
pub fn looks_like_one(normalised: &str) -> bool {
    normalised.len() == LENGTH && normalised.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_that_read_back_as_themselves() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
        for code in &codes {
            assert_eq!(code.len(), 11);
            let typed = normalise(&code.to_uppercase().replace('-', " "));
            assert!(looks_like_one(&typed), "{code}");
            assert_eq!(digest(&typed), digest(&normalise(code)));
        }
    }

    #[test]
    fn look_alikes_read_as_digits() {
        assert_eq!(normalise(" AbO1L-iz9 "), "ab0111z9");
        assert!(!looks_like_one("123456"));
        assert!(!looks_like_one("abcde-fghj"));
    }
}
