//! Record and collection identifiers.

use rand::RngExt;

/// The alphabet of generated record ids (`[a-z0-9]`).
pub const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Length of generated record ids.
pub const ID_LENGTH: usize = 15;

/// A fresh random record id: 15 characters of `[a-z0-9]`.
pub fn new_record_id() -> String {
    random_string(ID_LENGTH, ID_ALPHABET)
}

/// A random string of `len` characters drawn uniformly from `alphabet`.
pub fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// `crc32(IEEE)` of the text, as PocketBase derives collection and field ids from names.
pub fn crc32_of(text: &str) -> u32 {
    crc32fast::hash(text.as_bytes())
}

/// True for names made only of `[A-Za-z0-9_]` (Go's `^\w+$`), the rule for collection,
/// field and index names; such names are safe to quote as SQL identifiers.
pub fn is_word(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_have_the_documented_shape() {
        let id = new_record_id();
        assert_eq!(id.len(), 15);
        assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)));
        assert_ne!(new_record_id(), id);
    }

    #[test]
    fn crc_matches_pocketbase_collection_ids() {
        assert_eq!(crc32_of("baseposts"), 1125843985);
        assert_eq!(crc32_of("id"), 3208210256);
    }

    #[test]
    fn words() {
        assert!(is_word("posts_2"));
        assert!(!is_word("posts-2"));
        assert!(!is_word(""));
        assert!(!is_word("a\"b"));
    }
}
