//! Helpers shared by the unit tests of every module.

use http::{HeaderMap, HeaderName, HeaderValue};

/// A header map from `(name, value)` pairs, in order, repeats appended.
pub(crate) fn h(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}
