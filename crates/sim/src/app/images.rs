//! The sample app's static images: deterministic SVGs generated at start, each with a strong
//! ETag, served with `Cache-Control: public, max-age=…` so the edge cache has something to
//! keep once it exists.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How long caches may keep an image: a day, as a site would for versioned assets.
pub const IMAGE_MAX_AGE_SECS: u32 = 86_400;

/// One generated image.
#[derive(Debug, Clone)]
pub struct Image {
    /// The SVG text.
    pub body: Bytes,
    /// Strong validator, quoted (`"…"`), derived from the bytes.
    pub etag: String,
}

/// Every image by path under `/images/`: `logo.svg` (~1 KB), `hero.svg` (~200 KB, several
/// round trips of slow start on a long link) and `products/{1..=count}.svg` (~8 KB each).
pub fn generate(products: u64) -> BTreeMap<String, Image> {
    let mut images = BTreeMap::new();
    images.insert("logo.svg".to_owned(), image(svg("Regionless shop", 4, 0)));
    images.insert("hero.svg".to_owned(), image(svg("Welcome", 2_400, 1)));
    for id in 1..=products {
        let name = format!("products/{id}.svg");
        images.insert(name, image(svg(&format!("Product {id}"), 90, id)));
    }
    images
}

fn image(text: String) -> Image {
    let etag = format!("\"{:016x}\"", fnv1a(text.as_bytes()));
    Image {
        body: Bytes::from(text),
        etag,
    }
}

/// An SVG with a caption and `shapes` circles placed by a tiny LCG seeded with `seed`, so the
/// same image always has the same bytes (and ETag).
fn svg(caption: &str, shapes: u32, seed: u64) -> String {
    let mut out = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"360\" viewBox=\"0 0 640 360\">\n",
    );
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = |modulo: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % modulo
    };
    for _ in 0..shapes {
        let (x, y, r) = (next(640), next(360), 4 + next(40));
        let colour = next(0x100_0000);
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"{r}\" fill=\"#{colour:06x}\" fill-opacity=\"0.6\"/>"
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"320\" y=\"190\" font-size=\"40\" text-anchor=\"middle\">{caption}</text>\n</svg>"
    );
    out
}

/// FNV-1a, 64 bit: a stable content hash for ETags (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// True when an `If-None-Match` value matches `etag` (RFC 9110 §13.1.2: weak comparison, so
/// `W/"x"` matches `"x"`; `*` matches any current representation).
pub fn none_match(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_deterministic_and_sized_as_documented() {
        let a = generate(3);
        let b = generate(3);
        assert_eq!(a.len(), 5);
        for (name, img) in &a {
            assert_eq!(img.body, b[name].body);
            assert_eq!(img.etag, b[name].etag);
            assert!(img.etag.starts_with('"') && img.etag.ends_with('"'));
        }
        assert!(
            a["hero.svg"].body.len() > 150_000,
            "{}",
            a["hero.svg"].body.len()
        );
        assert!(a["logo.svg"].body.len() < 2_000);
        assert_ne!(a["products/1.svg"].etag, a["products/2.svg"].etag);
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("W/\"abc\"", "\"abc\""));
        assert!(none_match("\"x\", \"abc\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
        assert!(!none_match("", "\"abc\""));
    }
}
