//! A strict parser of the Prometheus text exposition format (0.0.4), to assert exact
//! values in a service's `/metrics` instead of searching its text.
//!
//! ```
//! use authgate_testkit::prometheus::Scrape;
//! let scrape = Scrape::parse(
//!     "# TYPE logins_total counter\nlogins_total{outcome=\"ok\"} 3\nlogins_total{outcome=\"bad\"} 1\n",
//! ).unwrap();
//! assert_eq!(scrape.value("logins_total", &[("outcome", "ok")]), Some(3.0));
//! assert_eq!(scrape.sum("logins_total"), 4.0);
//! assert_eq!(scrape.kind("logins_total"), Some("counter"));
//! ```
//!
//! (No published parser fitted: the one on crates.io brings a second `itertools` major,
//! which the workspace's `cargo deny` refuses.)

use std::collections::{BTreeMap, HashMap};

/// One sample: a series and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The metric name, with any `_bucket`/`_sum`/`_count` suffix.
    pub name: String,
    /// The labels, sorted by name.
    pub labels: BTreeMap<String, String>,
    /// The value (`+Inf`, `-Inf` and `NaN` included).
    pub value: f64,
}

/// A parsed scrape.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    samples: Vec<Sample>,
    kinds: HashMap<String, String>,
}

impl Scrape {
    /// Parses a whole exposition; any line that is not a comment, blank, or a valid
    /// sample is an error naming its line number.
    pub fn parse(text: &str) -> Result<Scrape, String> {
        let mut scrape = Scrape::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            let fail = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                if words.next() == Some("TYPE") {
                    let (Some(name), Some(kind), None) = (words.next(), words.next(), words.next()) else {
                        return Err(fail("malformed TYPE line"));
                    };
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(fail("unknown metric type"));
                    }
                    scrape.kinds.insert(name.to_owned(), kind.to_owned());
                }
                continue;
            }
            scrape.samples.push(parse_sample(line).map_err(|why| fail(&why))?);
        }
        Ok(scrape)
    }

    /// Every sample, in document order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The value of the series with exactly these labels.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.samples.iter().find(|s| s.name == name && s.labels == wanted).map(|s| s.value)
    }

    /// The sum over every series of `name` (0 when there is none).
    pub fn sum(&self, name: &str) -> f64 {
        self.samples.iter().filter(|s| s.name == name).map(|s| s.value).sum()
    }

    /// The `# TYPE` of a metric family.
    pub fn kind(&self, family: &str) -> Option<&str> {
        self.kinds.get(family).map(String::as_str)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err("invalid metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            // Skip separators; `}` ends the set.
            while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    rest = &inner[i + 1..];
                    break;
                }
                None => return Err("unterminated label set".into()),
                _ => {}
            }
            let start = chars.peek().map(|(i, _)| *i).unwrap_or_default();
            let mut end = start;
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    end = i;
                    break;
                }
            }
            let label = inner[start..end].trim();
            if !valid_name(label) || label.contains(':') {
                return Err("invalid label name".into());
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value is not quoted".into());
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('"') => break,
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        _ => return Err("invalid escape in a label value".into()),
                    },
                    Some(c) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            }
            if labels.insert(label.to_owned(), value).is_some() {
                return Err("duplicate label".into());
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| "value is not a number")?,
    };
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().map_err(|_| "timestamp is not an integer")?;
    }
    if fields.next().is_some() {
        return Err("trailing text".into());
    }
    Ok(Sample { name: name.to_owned(), labels, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_labels_escapes_histograms_and_refuses_garbage() {
        let text = "# HELP a_seconds Time.\n# TYPE a_seconds histogram\n\
                    a_seconds_bucket{le=\"0.5\",method=\"jwt\"} 2\na_seconds_bucket{method=\"jwt\",le=\"+Inf\"} 3\n\
                    a_seconds_sum{method=\"jwt\"} 0.75\na_seconds_count{method=\"jwt\"} 3 1700000000000\n\
                    plain 1e3\nodd{v=\"a \\\"b\\\" \\\\ c\\nd\"} -Inf\n";
        let s = Scrape::parse(text).unwrap();
        assert_eq!(s.kind("a_seconds"), Some("histogram"));
        assert_eq!(s.value("a_seconds_bucket", &[("method", "jwt"), ("le", "+Inf")]), Some(3.0));
        assert_eq!(s.value("a_seconds_count", &[("method", "jwt")]), Some(3.0));
        assert_eq!(s.value("plain", &[]), Some(1000.0));
        assert_eq!(s.value("odd", &[("v", "a \"b\" \\ c\nd")]), Some(f64::NEG_INFINITY));
        assert_eq!(s.value("a_seconds_count", &[]), None, "labels must match exactly");
        assert_eq!(s.sum("a_seconds_bucket"), 5.0);
        for bad in
            ["x{a=\"1\"", "x{a=1} 2", "x 1 2 3", "1x 2", "x{a=\"1\",a=\"2\"} 1", "x abc", "# TYPE x nonsense"]
        {
            assert!(Scrape::parse(bad).is_err(), "{bad}");
        }
    }
}
