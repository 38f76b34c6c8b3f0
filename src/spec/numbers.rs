//! Numbers that are checked while they are parsed, so that a bad value is reported with the
//! exact line and column of the value (`rate_rps: -1` → "must be > 0, got -1 at line 12").

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;

macro_rules! checked_float {
    ($(#[$doc:meta])* $name:ident, $ok:expr, $expecting:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
        pub struct $name(pub f64);

        impl $name {
            /// The value.
            pub fn get(self) -> f64 {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        let ok: fn(f64) -> bool = $ok;
                        if v.is_finite() && ok(v) {
                            Ok($name(v))
                        } else {
                            Err(E::custom(format!("must be {}, got {}", $expecting, show(v))))
                        }
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        self.visit_f64(v as f64)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        self.visit_f64(v as f64)
                    }
                }
                deserializer.deserialize_f64(V)
            }
        }
    };
}

macro_rules! checked_int {
    ($(#[$doc:meta])* $name:ident, $min:expr, $expecting:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl $name {
            /// The value.
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        if ($min..=MAX_INT).contains(&v) {
                            Ok($name(v))
                        } else {
                            Err(E::custom(format!("must be {}, got {v}", $expecting)))
                        }
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        match u64::try_from(v) {
                            Ok(v) => self.visit_u64(v),
                            Err(_) => Err(E::custom(format!("must be {}, got {v}", $expecting))),
                        }
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        if v.is_finite() && v.fract() == 0.0 && v >= 0.0 && v <= MAX_INT as f64 {
                            self.visit_u64(v as u64)
                        } else {
                            Err(E::custom(format!("must be {}, got {}", $expecting, show(v))))
                        }
                    }
                }
                deserializer.deserialize_any(V)
            }
        }
    };
}

/// Integers above this are refused everywhere (no field has a meaning that large).
pub(super) const MAX_INT: u64 = 1 << 40;

fn show(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 {
            "infinity".to_string()
        } else {
            "-infinity".to_string()
        }
    } else {
        v.to_string()
    }
}

checked_float!(
    /// A finite number `> 0`.
    PositiveF64,
    |v| v > 0.0,
    "a positive number"
);
checked_float!(
    /// A finite number `>= 0`.
    NonNegativeF64,
    |v| v >= 0.0,
    "a number >= 0"
);
checked_float!(
    /// A finite number `>= 1`.
    AtLeastOneF64,
    |v| v >= 1.0,
    "a number >= 1"
);
checked_int!(
    /// An integer `>= 1`.
    PositiveInt,
    1,
    "a whole number >= 1"
);
checked_int!(
    /// An integer `>= 0`.
    NonNegativeInt,
    0,
    "a whole number >= 0"
);

/// A non-empty name without leading or trailing blanks or control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(pub String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name (text)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
                if v.trim().is_empty() {
                    Err(E::custom("must not be empty"))
                } else if v.trim() != v {
                    Err(E::custom(format!(
                        "must not start or end with blanks: {v:?}"
                    )))
                } else if v.chars().any(char::is_control) {
                    Err(E::custom(format!(
                        "must not contain control characters: {v:?}"
                    )))
                } else {
                    Ok(Name(v.to_string()))
                }
            }
            // YAML reads `A100`-like names as strings, but `4090` as a number: accept it.
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Name, E> {
                Ok(Name(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Name, E> {
                Ok(Name(v.to_string()))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Parses a finite number (surrounding spaces allowed); the message quotes the text.
pub fn parse_finite(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{} is not a number", crate::limits::quote(text)))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!(
            "{} is not a finite number",
            crate::limits::quote(text)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
        serde_yaml::from_str::<T>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn floats_are_checked() {
        assert_eq!(parse::<PositiveF64>("2.5").unwrap().get(), 2.5);
        assert_eq!(parse::<PositiveF64>("3").unwrap().get(), 3.0);
        for bad in ["0", "-1", ".nan", ".inf", "-.inf"] {
            let err = parse::<PositiveF64>(bad).unwrap_err();
            assert!(err.contains("must be a positive number"), "{bad}: {err}");
        }
        assert!(
            parse::<PositiveF64>("abc")
                .unwrap_err()
                .contains("expected a positive number")
        );
        assert_eq!(parse::<NonNegativeF64>("0").unwrap().get(), 0.0);
        assert!(parse::<AtLeastOneF64>("0.5").is_err());
    }

    #[test]
    fn integers_are_checked() {
        assert_eq!(parse::<PositiveInt>("48").unwrap().get(), 48);
        assert_eq!(parse::<PositiveInt>("48.0").unwrap().get(), 48);
        for bad in ["0", "-3", "2.5", ".nan", "1e300"] {
            assert!(parse::<PositiveInt>(bad).is_err(), "{bad}");
        }
        assert_eq!(parse::<NonNegativeInt>("0").unwrap().get(), 0);
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(parse::<Name>("H100").unwrap().0, "H100");
        assert_eq!(parse::<Name>("4090").unwrap().0, "4090");
        assert!(parse::<Name>("''").is_err());
        assert!(parse::<Name>("' x'").is_err());
        assert!(parse::<Name>("[a]").is_err());
    }
}
