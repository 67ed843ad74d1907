//! HTTP headers with case-insensitive names (API Gateway passes them as the client sent them).

use std::collections::BTreeMap;

/// Request headers, names lowercased.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(BTreeMap<String, String>);

impl Headers {
    /// The value of `name`, whatever its case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// Adds a header; a repeated name keeps the first value, as signature schemes expect.
    pub fn insert(&mut self, name: &str, value: impl Into<String>) {
        self.0
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| value.into());
    }

    /// All headers, names lowercased, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: AsRef<str>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut headers = Headers::default();
        for (k, v) in iter {
            headers.insert(k.as_ref(), v);
        }
        headers
    }
}
