//! [`JournalKey`]: the desk secret that keys the journal's chain (docs/journal.md, "Keyed chain").
//!
//! Without a key the chain is plain BLAKE3, which anyone who can write the files can recompute
//! after an edit. With a key every block's chain value is BLAKE3 in keyed mode, a MAC: an edit
//! can only be re-chained by someone holding the key. Segments record that they are keyed and
//! the key's [`KeyId`] (a one-way derivation, never the key), so a reader without the key, or
//! with another one, refuses in one line instead of reporting tampering.

use crate::error::JournalError;

/// Environment variable the desk secret is read from ([`JournalKey::from_env`]).
pub const KEY_ENV: &str = "RFQCORE_JOURNAL_KEY";

/// Shortest passphrase accepted (a passphrase is not stretched: it must carry its own entropy).
pub const MIN_PASSPHRASE: usize = 16;

/// `derive_key` context of a passphrase.
const PASSPHRASE_CONTEXT: &str = "rfqcore 2026-12 journal key from passphrase v1";
/// `derive_key` context of the key id.
const ID_CONTEXT: &str = "rfqcore 2026-12 journal key id v1";

/// Identifies a key without revealing it: the first 8 bytes of
/// `BLAKE3-derive_key("rfqcore 2026-12 journal key id v1", key)`, stored in every keyed
/// segment header.
pub type KeyId = [u8; 8];

/// Hex of a key id (16 digits), as messages and reports show it.
#[must_use]
pub fn key_id_hex(id: &KeyId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 32-byte journal key and its id. `Debug` shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct JournalKey {
    key: [u8; 32],
    id: KeyId,
}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JournalKey(id {})", key_id_hex(&self.id))
    }
}

impl JournalKey {
    /// A key from its 32 bytes.
    #[must_use]
    pub fn from_bytes(key: [u8; 32]) -> JournalKey {
        let d = blake3::derive_key(ID_CONTEXT, &key);
        let mut id = [0_u8; 8];
        id.copy_from_slice(&d[..8]);
        JournalKey { key, id }
    }

    /// A key from the secret's text: exactly 64 hex digits are the 32 key bytes; anything else
    /// is a passphrase (at least [`MIN_PASSPHRASE`] bytes, surrounding whitespace ignored) run
    /// through `BLAKE3-derive_key("rfqcore 2026-12 journal key from passphrase v1", ·)`.
    ///
    /// # Errors
    /// [`JournalError::BadKey`] for an empty or too short passphrase.
    pub fn from_secret(secret: &str) -> Result<JournalKey, JournalError> {
        let s = secret.trim();
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut key = [0_u8; 32];
            for (i, k) in key.iter_mut().enumerate() {
                *k = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("checked hex");
            }
            return Ok(JournalKey::from_bytes(key));
        }
        if s.len() < MIN_PASSPHRASE {
            return Err(JournalError::BadKey(format!(
                "{KEY_ENV} holds {} bytes: set it to 64 hex digits (32 random bytes, e.g. `openssl rand -hex 32`) or a passphrase of at least {MIN_PASSPHRASE} characters",
                s.len()
            )));
        }
        Ok(JournalKey::from_bytes(blake3::derive_key(PASSPHRASE_CONTEXT, s.as_bytes())))
    }

    /// The key in [`KEY_ENV`]; `None` when it is unset or empty (the journal is then unkeyed).
    ///
    /// # Errors
    /// [`JournalError::BadKey`]: not valid UTF-8, or refused by [`JournalKey::from_secret`].
    pub fn from_env() -> Result<Option<JournalKey>, JournalError> {
        match std::env::var(KEY_ENV) {
            Ok(s) if s.trim().is_empty() => Ok(None),
            Ok(s) => JournalKey::from_secret(&s).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(JournalError::BadKey(format!("{KEY_ENV} is not valid UTF-8: set it to 64 hex digits or a passphrase")))
            }
        }
    }

    /// The key id recorded in keyed segments.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The chain hasher of a keyed segment: BLAKE3 keyed with this key.
    #[must_use]
    pub(crate) fn hasher(&self) -> blake3::Hasher {
        blake3::Hasher::new_keyed(&self.key)
    }
}

/// The chain hasher of a segment: keyed when `key` is given, plain BLAKE3 otherwise.
#[must_use]
pub(crate) fn chain_hasher(key: Option<&JournalKey>) -> blake3::Hasher {
    key.map_or_else(blake3::Hasher::new, JournalKey::hasher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_passphrase() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let k = JournalKey::from_secret(hex).unwrap();
        assert_eq!(k.key[0], 0x00);
        assert_eq!(k.key[31], 0xff);
        assert_eq!(k, JournalKey::from_secret(&format!("  {hex}\n")).unwrap());
        let p = JournalKey::from_secret("correct horse battery staple").unwrap();
        assert_ne!(p.id(), k.id());
        assert_eq!(p, JournalKey::from_secret("correct horse battery staple").unwrap());
        assert!(matches!(JournalKey::from_secret("short"), Err(JournalError::BadKey(_))));
        assert!(!format!("{k:?}").to_lowercase().contains(&hex[..24].to_lowercase()), "Debug must not print the key");
    }
}
