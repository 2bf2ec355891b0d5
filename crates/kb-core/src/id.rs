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

/// An id of the same shape whose byte order follows `millis` (ms since the Unix epoch): 9
/// base-36 digits of the time, then 6 random characters. Rows written in time order then
/// append to the end of the primary-key index instead of landing on a random page of it;
/// request logs use these, which lets a busy server write a tenth of the pages per log.
pub fn time_ordered_id(millis: u64) -> String {
    const TIME_DIGITS: usize = 9;
    // The digits in byte order, unlike `ID_ALPHABET`, so comparing ids compares times.
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut time = [b'0'; TIME_DIGITS];
    let mut rest = millis;
    for digit in time.iter_mut().rev() {
        *digit = DIGITS[(rest % 36) as usize];
        rest /= 36;
    }
    let mut id: String = time.iter().map(|&b| b as char).collect();
    id.push_str(&random_string(ID_LENGTH - TIME_DIGITS, ID_ALPHABET));
    id
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

/// A random string matching a simple pattern, as text fields' `autogeneratePattern` uses:
/// literal characters, `\`-escapes, `\d`, `\w`, character classes with ranges (`[a-z0-9_]`),
/// each optionally followed by `{n}` or `{n,m}`. `None` for anything richer (groups,
/// alternation, open-ended repetition), which cannot be generated safely.
pub fn generate_from_pattern(pattern: &str) -> Option<String> {
    const DIGITS: &str = "0123456789";
    const WORD: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
    const MAX_OUTPUT: usize = 1000;
    let chars: Vec<char> = pattern.chars().collect();
    let mut rng = rand::rng();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let alphabet: Vec<char> = match chars[i] {
            '\\' => {
                let escaped = *chars.get(i + 1)?;
                i += 2;
                match escaped {
                    'd' => DIGITS.chars().collect(),
                    'w' => WORD.chars().collect(),
                    c if c.is_ascii_alphanumeric() => return None,
                    c => vec![c],
                }
            }
            '[' => {
                let close = i + 1 + chars[i + 1..].iter().position(|&c| c == ']')?;
                let class = &chars[i + 1..close];
                i = close + 1;
                let mut set = Vec::new();
                let mut j = 0;
                while j < class.len() {
                    if j + 2 < class.len() && class[j + 1] == '-' {
                        let (from, to) = (class[j], class[j + 2]);
                        if from > to {
                            return None;
                        }
                        set.extend(from..=to);
                        j += 3;
                    } else if class[j] == '^' || class[j] == '\\' {
                        return None;
                    } else {
                        set.push(class[j]);
                        j += 1;
                    }
                }
                set
            }
            '^' | '$' if i == 0 || i + 1 == chars.len() => {
                i += 1;
                continue;
            }
            '(' | ')' | '|' | '*' | '+' | '?' | '.' | '{' | '}' | ']' | '^' | '$' => return None,
            c => {
                i += 1;
                vec![c]
            }
        };
        if alphabet.is_empty() {
            return None;
        }
        let mut count = 1;
        if chars.get(i) == Some(&'{') {
            let close = i + chars[i..].iter().position(|&c| c == '}')?;
            let spec: String = chars[i + 1..close].iter().collect();
            i = close + 1;
            count = match spec.split_once(',') {
                None => spec.trim().parse().ok()?,
                Some((min, max)) => {
                    let (min, max): (usize, usize) =
                        (min.trim().parse().ok()?, max.trim().parse().ok()?);
                    if min > max {
                        return None;
                    }
                    rng.random_range(min..=max)
                }
            };
        }
        if out.len() + count > MAX_OUTPUT {
            return None;
        }
        for _ in 0..count {
            out.push(alphabet[rng.random_range(0..alphabet.len())]);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ordered_ids_sort_by_time_and_look_like_record_ids() {
        let earlier = time_ordered_id(1_767_225_600_000);
        let later = time_ordered_id(1_767_225_600_001);
        assert_eq!(&earlier[..9], "0mjuohs00");
        assert_eq!(&later[..9], "0mjuohs01");
        assert!(earlier < later);
        assert!(time_ordered_id(1_767_225_599_999) < earlier);
        for id in [&earlier, &later] {
            assert_eq!(id.len(), ID_LENGTH);
            assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)), "{id}");
        }
        assert_ne!(time_ordered_id(5)[9..], time_ordered_id(5)[9..]);
    }

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
    fn generates_from_simple_patterns() {
        let id = generate_from_pattern("[a-z0-9]{15}").unwrap();
        assert_eq!(id.len(), 15);
        assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)));
        let key = generate_from_pattern("[a-zA-Z0-9]{50}").unwrap();
        assert_eq!(key.len(), 50);
        let code = generate_from_pattern("INV-\\d{4}").unwrap();
        assert!(
            code.starts_with("INV-") && code[4..].bytes().all(|b| b.is_ascii_digit()),
            "{code}"
        );
        let ranged = generate_from_pattern("x[ab]{2,3}").unwrap();
        assert!((3..=4).contains(&ranged.len()));
        for unsupported in ["(a|b)", "a+", "[^a]{3}", "[z-a]", "a{9999}", "[a-z"] {
            assert_eq!(generate_from_pattern(unsupported), None, "{unsupported}");
        }
    }

    #[test]
    fn words() {
        assert!(is_word("posts_2"));
        assert!(!is_word("posts-2"));
        assert!(!is_word(""));
        assert!(!is_word("a\"b"));
    }
}
