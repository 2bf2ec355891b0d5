//! Stored file names and thumbnail sizes, as PocketBase derives and parses them.
//!
//! An uploaded file is stored under a new name made from its original one: the base in
//! snake case (at most 100 characters, padded with random characters when shorter than 3),
//! `_`, 10 random characters, then the cleaned extension (up to two dot-parts, such as
//! `.tar.gz`, at most 20 characters; detected from the content when the name has none).
//! The random part makes names unguessable and unique inside a record.

use crate::id::{ID_ALPHABET, random_string};

/// Longest original name considered (its last bytes are kept).
const MAX_ORIGINAL_BYTES: usize = 300;
/// Longest snake-cased base kept.
const MAX_BASE_CHARS: usize = 100;
/// Bases shorter than this get random characters appended.
const MIN_BASE_CHARS: usize = 3;
/// Longest extension kept (without its leading dot).
const MAX_EXT_CHARS: usize = 20;
/// Length of each random part.
const RANDOM_CHARS: usize = 10;

/// The stored name of an uploaded file called `original`. `detected_ext` (without a dot)
/// is used when the name has no usable extension; pass what the content looks like.
pub fn normalize_file_name(original: &str, detected_ext: Option<&str>) -> String {
    normalize_with(original, detected_ext, || {
        random_string(RANDOM_CHARS, ID_ALPHABET)
    })
}

fn normalize_with(
    original: &str,
    detected_ext: Option<&str>,
    mut random: impl FnMut() -> String,
) -> String {
    let name = last_bytes(original, MAX_ORIGINAL_BYTES);
    let (rest, last) = split_ext(name);
    let last = clean_ext(last);
    let (base, ext) = if last.is_empty() {
        // A name ending in a dot (or an extension of only stripped characters) has no
        // extension; what is before it is the base.
        (rest, String::new())
    } else {
        let (base, second) = split_ext(rest);
        let second = clean_ext(second);
        (base, format!("{second}{last}"))
    };
    let mut ext = if ext.chars().count() > MAX_EXT_CHARS {
        let tail: String = {
            let chars: Vec<char> = ext.trim_start_matches('.').chars().collect();
            chars[chars.len().saturating_sub(MAX_EXT_CHARS)..]
                .iter()
                .collect()
        };
        format!(".{tail}")
    } else {
        ext
    };
    if ext.is_empty()
        && let Some(detected) = detected_ext
    {
        let detected = clean_ext(&format!(".{}", detected.trim_start_matches('.')));
        ext = detected;
    }
    let mut base: String = snake_case(base).chars().take(MAX_BASE_CHARS).collect();
    if base.chars().count() < MIN_BASE_CHARS {
        base.push_str(&random());
    }
    format!("{base}_{}{ext}", random())
}

/// The last `max` bytes of `text`, cut on a character boundary.
fn last_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// `("archive.tar", ".gz")`; the extension is empty when there is no dot.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) => (&name[..dot], &name[dot..]),
        None => (name, ""),
    }
}

/// The extension with every character outside `[A-Za-z0-9_.*\-+=#]` removed; empty when
/// nothing but the dot would remain.
fn clean_ext(ext: &str) -> String {
    let cleaned: String = ext
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_.*-+=#".contains(*c))
        .collect();
    if cleaned.trim_matches('.').is_empty() {
        String::new()
    } else {
        cleaned
    }
}

/// Words of ASCII letters and digits (anything else separates them), lower-cased and
/// joined with `_`; an upper-case letter that follows a non-upper-case one starts a word.
pub fn snake_case(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push('_');
        }
        let mut previous_upper = true;
        for c in word.chars() {
            let upper = c.is_ascii_uppercase();
            if upper && !previous_upper {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_upper = upper;
        }
    }
    out
}

/// How a thumbnail is cut from its original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThumbMode {
    /// `WxH`: scaled to cover, then the centre is cut out.
    Center,
    /// `WxHt`: scaled to cover, the top is kept.
    Top,
    /// `WxHb`: scaled to cover, the bottom is kept.
    Bottom,
    /// `WxHf`: scaled down to fit inside, nothing cut.
    Fit,
    /// `0xH` or `Wx0`: scaled to the one given side, keeping the aspect ratio.
    Scale,
}

/// A parsed thumbnail size (`^(\d+)x(\d+)(t|b|f)?$`, not both sides zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThumbSize {
    pub width: u32,
    pub height: u32,
    pub mode: ThumbMode,
}

impl ThumbSize {
    pub fn parse(text: &str) -> Option<ThumbSize> {
        let (width, rest) = text.split_once('x')?;
        let (height, suffix) = match rest.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((at, _)) => rest.split_at(at),
            None => (rest, ""),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(width) || !digits(height) {
            return None;
        }
        let width: u32 = width.parse().ok()?;
        let height: u32 = height.parse().ok()?;
        if width == 0 && height == 0 {
            return None;
        }
        let mode = match suffix {
            "" if width == 0 || height == 0 => ThumbMode::Scale,
            "" => ThumbMode::Center,
            // A cut needs both sides; PocketBase scales instead when one is zero.
            "t" | "b" | "f" if width == 0 || height == 0 => ThumbMode::Scale,
            "t" => ThumbMode::Top,
            "b" => ThumbMode::Bottom,
            "f" => ThumbMode::Fit,
            _ => return None,
        };
        Some(ThumbSize {
            width,
            height,
            mode,
        })
    }
}

/// Whether `name`'s extension is one thumbnails are made for (png, jpg, jpeg, gif, webp).
pub fn has_thumbable_ext(name: &str) -> bool {
    let ext = match name.rfind('.') {
        Some(dot) => name[dot + 1..].to_ascii_lowercase(),
        None => return false,
    };
    matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "gif" | "webp")
}

/// A stored file name is one path segment that cannot escape its directory.
pub fn is_safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 1024
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(original: &str, detected: Option<&str>) -> String {
        normalize_with(original, detected, || "r".repeat(RANDOM_CHARS))
    }

    #[test]
    fn names_as_pocketbase_stores_them() {
        // Observed on PocketBase 0.40.6 (random parts replaced by r's).
        let r = "rrrrrrrrrr";
        let cases = [
            ("My Image (1).PNG", format!("my_image_1_{r}.PNG")),
            ("b.png", format!("b{r}_{r}.png")),
            ("123.txt", format!("123_{r}.txt")),
            ("CamelCaseName.JPG", format!("camel_case_name_{r}.JPG")),
            ("My-File Name.tar.bz2", format!("my_file_name_{r}.tar.bz2")),
            ("Trailing_.txt", format!("trailing_{r}.txt")),
            ("a.b.c.d.txt", format!("a_b_c_{r}.d.txt")),
            ("ab.txt", format!("ab{r}_{r}.txt")),
            ("archive.tar.gz", format!("archive_{r}.tar.gz")),
            (
                "foo.verylongextensionnamethatisover20.txt",
                format!("foo_{r}.namethatisover20.txt"),
            ),
            (
                "hello world.ext-with-dash",
                format!("hello_world_{r}.ext-with-dash"),
            ),
            ("snake__double.txt", format!("snake_double_{r}.txt")),
            ("tab\tname.txt", format!("tab_name_{r}.txt")),
            ("weird!!name##.t#x+t", format!("weird_name_{r}.t#x+t")),
            ("x-y_z.zip", format!("x_y_z_{r}.zip")),
            ("Ünïcödé file.txt", format!("n_c_d_file_{r}.txt")),
            ("my.photo.jpg", format!("my{r}_{r}.photo.jpg")),
            ("v1.2.png", format!("v1{r}_{r}.2.png")),
            (
                "report.final.version.pdf",
                format!("report_final_{r}.version.pdf"),
            ),
            (".hidden", format!("{r}_{r}.hidden")),
            ("x..txt", format!("x{r}_{r}.txt")),
            ("name.TXT!", format!("name_{r}.TXT")),
            ("ok.é.txt", format!("ok{r}_{r}.txt")),
            ("A", format!("a{r}_{r}")),
            ("foo.tar.gz.bak", format!("foo_tar_{r}.gz.bak")),
        ];
        for (original, expected) in cases {
            assert_eq!(normalize(original, None), expected, "{original}");
        }
        let long = format!("{}.txt", "a".repeat(150));
        assert_eq!(
            normalize(&long, None),
            format!("{}_{r}.txt", "a".repeat(100))
        );
    }

    #[test]
    fn missing_extensions_come_from_the_content() {
        let r = "rrrrrrrrrr";
        assert_eq!(normalize("abc", Some("txt")), format!("abc_{r}.txt"));
        assert_eq!(normalize("noext", Some("png")), format!("noext_{r}.png"));
        assert_eq!(normalize("trail.", Some("txt")), format!("trail_{r}.txt"));
        assert_eq!(normalize("a b", None), format!("a_b_{r}"));
    }

    #[test]
    fn real_names_are_random() {
        let a = normalize_file_name("photo.png", None);
        let b = normalize_file_name("photo.png", None);
        assert_ne!(a, b);
        assert!(a.starts_with("photo_") && a.ends_with(".png") && a.len() == 20);
    }

    #[test]
    fn thumb_sizes() {
        let size = |w, h, mode| {
            Some(ThumbSize {
                width: w,
                height: h,
                mode,
            })
        };
        assert_eq!(
            ThumbSize::parse("100x100"),
            size(100, 100, ThumbMode::Center)
        );
        assert_eq!(ThumbSize::parse("50x30t"), size(50, 30, ThumbMode::Top));
        assert_eq!(ThumbSize::parse("50x30b"), size(50, 30, ThumbMode::Bottom));
        assert_eq!(ThumbSize::parse("50x30f"), size(50, 30, ThumbMode::Fit));
        assert_eq!(ThumbSize::parse("0x20"), size(0, 20, ThumbMode::Scale));
        assert_eq!(ThumbSize::parse("20x0"), size(20, 0, ThumbMode::Scale));
        for bad in [
            "0x0", "abc", "10x", "x10", "10x10z", "10x10tt", "-1x5", "1x2x3", "",
        ] {
            assert_eq!(ThumbSize::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn thumbable_and_safe_names() {
        assert!(has_thumbable_ext("a.PNG") && has_thumbable_ext("b.jpeg"));
        assert!(!has_thumbable_ext("a.svg") && !has_thumbable_ext("png"));
        assert!(is_safe_file_name("a_b.png"));
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", "a\nb"] {
            assert!(!is_safe_file_name(bad), "{bad:?}");
        }
    }
}
