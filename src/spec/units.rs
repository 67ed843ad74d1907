//! Human units from the spec (`14d`, `1000/s`, `256KiB`, `10.0.0.0/8`), parsed once into types.
//!
//! Every type here deserializes from its string form, so a typo is reported by the YAML loader at
//! the exact position of the value, and serializes back to the same form for the summary.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of time, held in whole milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    millis: u64,
}

/// Units a [`Duration`] may be written in, with their length in milliseconds.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

impl Duration {
    /// A duration of `secs` whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            millis: secs * 1_000,
        }
    }

    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// The duration in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// The duration in seconds, when it is a whole number of them.
    pub const fn whole_secs(self) -> Option<u64> {
        if self.millis.is_multiple_of(1_000) {
            Some(self.millis / 1_000)
        } else {
            None
        }
    }

    /// The duration in seconds, rounded up (AWS settings take whole seconds).
    pub const fn secs_ceil(self) -> u64 {
        self.millis.div_ceil(1_000)
    }

    /// The duration in seconds as a float, for rates and Little's law.
    pub fn as_secs_f64(self) -> f64 {
        self.millis as f64 / 1_000.0
    }

    /// The duration in days, when it is a whole number of them.
    pub const fn whole_days(self) -> Option<u64> {
        if self.millis.is_multiple_of(86_400_000) {
            Some(self.millis / 86_400_000)
        } else {
            None
        }
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (number, unit) = split_number(s.trim());
        let allowed = "a whole number and a unit: ms, s, m, h or d (e.g. 50ms, 30s, 5m, 14d)";
        let n: u64 = number
            .parse()
            .map_err(|_| format!("`{s}` is not a duration; write {allowed}"))?;
        let (_, scale) = DURATION_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or_else(|| format!("`{s}` has no known duration unit; write {allowed}"))?;
        n.checked_mul(*scale)
            .map(Duration::from_millis)
            .ok_or_else(|| format!("`{s}` is too long a duration"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The largest unit that divides evenly keeps the spec's own spelling (14d stays 14d).
        let (name, scale) = DURATION_UNITS
            .iter()
            .rev()
            .find(|(_, scale)| self.millis.is_multiple_of(*scale) && self.millis != 0)
            .unwrap_or(&("s", 1_000));
        write!(f, "{}{}", self.millis / scale, name)
    }
}

/// A rate: `count` events per `per` (`1000/s`, `600/m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Events in one period.
    pub count: u64,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// Events per second.
    pub fn per_second(self) -> f64 {
        self.count as f64 / self.per.as_secs_f64()
    }

    /// Events in `window`, when that is a whole number.
    pub fn in_window(self, window: Duration) -> Option<u64> {
        let scaled = u128::from(self.count) * u128::from(window.as_millis());
        let per = u128::from(self.per.as_millis());
        (scaled % per == 0).then(|| u64::try_from(scaled / per).unwrap_or(u64::MAX))
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let allowed = "a whole count per unit: N/s, N/m or N/h (e.g. 1000/s)";
        let (count, unit) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a rate; write {allowed}"))?;
        let count: u64 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a rate; write {allowed}"))?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3_600),
            _ => return Err(format!("`{s}` has no known rate unit; write {allowed}")),
        };
        if count == 0 {
            return Err(format!(
                "`{s}` is a zero rate; write {allowed} with N at least 1"
            ));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_millis() {
            1_000 => "s",
            60_000 => "m",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// A size in bytes (`256KiB`, `1MiB`, `400KB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size {
    bytes: u64,
}

/// Units a [`Size`] may be written in. Binary and decimal units both exist because AWS uses
/// both: Lambda memory is in MiB (it says "MB"), DynamoDB's item limit is 400 KB (= 400 KiB).
const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("KiB", 1_024),
    ("MB", 1_000_000),
    ("MiB", 1_048_576),
    ("GB", 1_000_000_000),
    ("GiB", 1_073_741_824),
];

impl Size {
    /// A size of `bytes` bytes.
    pub const fn from_bytes(bytes: u64) -> Self {
        Self { bytes }
    }

    /// A size of `mib` mebibytes.
    pub const fn from_mib(mib: u64) -> Self {
        Self {
            bytes: mib * 1_048_576,
        }
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.bytes
    }

    /// The size in MiB, when it is a whole number of them.
    pub const fn whole_mib(self) -> Option<u64> {
        if self.bytes.is_multiple_of(1_048_576) {
            Some(self.bytes / 1_048_576)
        } else {
            None
        }
    }
}

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let allowed = "a whole number and a unit: B, KB, KiB, MB, MiB, GB or GiB (e.g. 256KiB)";
        let (number, unit) = split_number(s.trim());
        let n: u64 = number
            .parse()
            .map_err(|_| format!("`{s}` is not a size; write {allowed}"))?;
        let (_, scale) = SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or_else(|| format!("`{s}` has no known size unit; write {allowed}"))?;
        n.checked_mul(*scale)
            .map(Size::from_bytes)
            .ok_or_else(|| format!("`{s}` is too large"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, scale) = [("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1_024)]
            .into_iter()
            .find(|(_, scale)| self.bytes.is_multiple_of(*scale) && self.bytes != 0)
            .unwrap_or(("B", 1));
        write!(f, "{}{}", self.bytes / scale, name)
    }
}

/// An IPv4 or IPv6 network in CIDR notation, with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_eq(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_eq(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

fn mask_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    a[..full] == b[..full] && (rest == 0 || (a[full] ^ b[full]) & (0xff_u8 << (8 - rest)) == 0)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let allowed = "an IPv4 or IPv6 network such as 203.0.113.0/24 or 2001:db8::/32";
        let (addr, prefix) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a CIDR; write {allowed}"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` has no valid IP address; write {allowed}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (1..=max).contains(p))
            .ok_or_else(|| {
                format!("`{s}` has a prefix length outside 1..={max} (AWS WAF refuses /0)")
            })?;
        if host_bits_set(addr, prefix) {
            return Err(format!(
                "`{s}` has host bits set; write the network address with /{prefix}"
            ));
        }
        Ok(Cidr { addr, prefix })
    }
}

fn host_bits_set(addr: IpAddr, prefix: u8) -> bool {
    let bytes: Vec<u8> = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    bytes.iter().enumerate().any(|(i, byte)| {
        let bit_start = i as u32 * 8;
        let keep = u32::from(prefix).saturating_sub(bit_start).min(8);
        let host_mask = if keep == 8 { 0 } else { 0xff_u8 >> keep };
        byte & host_mask != 0
    })
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Splits `14d` into `("14", "d")`.
fn split_number(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (&s[..end], s[end..].trim())
}

/// Implements serde and schemars for a unit type through its string form.
macro_rules! string_unit {
    ($ty:ty, $name:literal, $pattern:literal, $description:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": $description,
                })
            }
        }
    };
}

string_unit!(
    Duration,
    "Duration",
    "^[0-9]+(ms|s|m|h|d)$",
    "A whole number and a unit: ms, s, m, h or d (50ms, 30s, 5m, 14d)."
);
string_unit!(
    Rate,
    "Rate",
    "^[0-9]+/(s|m|h)$",
    "A whole count per second, minute or hour (1000/s, 600/m)."
);
string_unit!(
    Size,
    "Size",
    "^[0-9]+(B|KB|KiB|MB|MiB|GB|GiB)$",
    "A whole number and a unit: B, KB, KiB, MB, MiB, GB or GiB (256KiB)."
);
string_unit!(
    Cidr,
    "Cidr",
    "^[0-9a-fA-F:.]+/[0-9]{1,3}$",
    "An IPv4 or IPv6 network in CIDR notation with no host bits set (203.0.113.0/24)."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_in_their_own_units() {
        for (text, millis) in [
            ("50ms", 50),
            ("30s", 30_000),
            ("5m", 300_000),
            ("14d", 1_209_600_000),
        ] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.as_millis(), millis);
            assert_eq!(d.to_string(), text);
        }
        assert_eq!(Duration::from_secs(90).to_string(), "90s");
    }

    #[test]
    fn bad_durations_say_what_is_allowed() {
        for bad in [
            "",
            "14",
            "14 days",
            "-1s",
            "1.5s",
            "d",
            "99999999999999999999d",
        ] {
            let err = bad.parse::<Duration>().unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
        assert!(
            "5w".parse::<Duration>()
                .unwrap_err()
                .contains("ms, s, m, h or d")
        );
    }

    #[test]
    fn rates_scale_to_windows_exactly() {
        let r: Rate = "10/s".parse().unwrap();
        assert_eq!(r.in_window(Duration::from_secs(60)), Some(600));
        assert_eq!(r.in_window(Duration::from_secs(300)), Some(3_000));
        let odd: Rate = "7/m".parse().unwrap();
        assert_eq!(odd.in_window(Duration::from_secs(120)), Some(14));
        assert_eq!(odd.in_window(Duration::from_millis(500)), None);
        assert_eq!(r.per_second(), 10.0);
        assert_eq!(r.to_string(), "10/s");
    }

    #[test]
    fn bad_rates_are_refused() {
        for bad in ["1000", "1000/d", "0/s", "x/s", "10 per s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_know_binary_and_decimal_units() {
        assert_eq!("256KiB".parse::<Size>().unwrap().bytes(), 262_144);
        assert_eq!("400KB".parse::<Size>().unwrap().bytes(), 400_000);
        assert_eq!("1GiB".parse::<Size>().unwrap().whole_mib(), Some(1024));
        assert_eq!(Size::from_bytes(262_144).to_string(), "256KiB");
        assert!("12kb".parse::<Size>().is_err());
    }

    #[test]
    fn cidrs_refuse_host_bits_and_slash_zero() {
        let c: Cidr = "203.0.113.0/24".parse().unwrap();
        assert!(c.contains("203.0.113.77".parse().unwrap()));
        assert!(!c.contains("203.0.114.1".parse().unwrap()));
        assert!(
            "203.0.113.5/24"
                .parse::<Cidr>()
                .unwrap_err()
                .contains("host bits")
        );
        assert!("0.0.0.0/0".parse::<Cidr>().is_err());
        assert!("2001:db8::/32".parse::<Cidr>().is_ok());
        assert!("2001:db8::1/32".parse::<Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.1/32".parse::<Cidr>().is_ok());
        assert!("10.1.0.0/15".parse::<Cidr>().is_err());
    }
}
