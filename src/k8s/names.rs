//! Kubernetes names: DNS-1123 labels (lowercase alphanumerics and `-`, at most 63 characters,
//! starting and ending alphanumeric), checked for names users give and derived stably from a
//! model and a service class otherwise.

/// Longest DNS-1123 label.
pub const MAX_LEN: usize = 63;

/// Why a name, label value or metric name is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// An empty Kubernetes name.
    #[error("a Kubernetes name cannot be empty")]
    Empty,
    /// A Kubernetes name over [`MAX_LEN`] characters.
    #[error("`{name}` is {len} characters; a Kubernetes name has at most {MAX_LEN}")]
    TooLong {
        /// The name.
        name: String,
        /// Its length.
        len: usize,
    },
    /// A character a Kubernetes name cannot have.
    #[error(
        "`{name}` contains `{character}`; a Kubernetes name has lowercase letters, digits and `-`"
    )]
    Character {
        /// The name.
        name: String,
        /// The first character it cannot have.
        character: char,
    },
    /// A Kubernetes name that starts or ends with `-`.
    #[error("`{name}` must start and end with a letter or digit")]
    Ends {
        /// The name.
        name: String,
    },
    /// Not a label value.
    #[error(
        "`{value}` is not a valid label value (1 to 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit)"
    )]
    LabelValue {
        /// The value.
        value: String,
    },
    /// Not a Prometheus metric name.
    #[error("`{name}` is not a Prometheus metric name")]
    Metric {
        /// The name.
        name: String,
    },
}

/// Why `name` is not a DNS-1123 label, if it is not.
pub fn check(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_LEN {
        return Err(NameError::TooLong {
            name: name.to_string(),
            len: name.len(),
        });
    }
    if let Some(character) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameError::Character {
            name: name.to_string(),
            character,
        });
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(NameError::Ends {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Why `value` cannot be a label value (at most 63 characters: alphanumerics, `-`, `_`, `.`,
/// starting and ending alphanumeric), if it cannot.
pub fn check_label_value(value: &str) -> Result<(), NameError> {
    let ok = value.len() <= MAX_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && value
            .chars()
            .next()
            .is_none_or(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .last()
            .is_none_or(|c| c.is_ascii_alphanumeric());
    if ok && !value.is_empty() {
        Ok(())
    } else {
        Err(NameError::LabelValue {
            value: value.to_string(),
        })
    }
}

/// Why `name` is not a Prometheus metric name, if it is not.
pub fn check_metric(name: &str) -> Result<(), NameError> {
    let mut chars = name.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(NameError::Metric {
            name: name.to_string(),
        })
    }
}

/// `base` + `suffix`, cut (with a hash of the whole) to at most `max` characters.
pub fn with_suffix(base: &str, suffix: &str, max: usize) -> String {
    let whole = format!("{base}{suffix}");
    if whole.len() <= max {
        return whole;
    }
    let hash = format!("{:08x}", fnv1a(&whole));
    let keep = max.saturating_sub(suffix.len() + 9);
    format!(
        "{}-{hash}{suffix}",
        base[..keep.min(base.len())].trim_end_matches('-')
    )
}

/// FNV-1a, 32 bits: a short stable hash for names that had to be shortened.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// `text` as a DNS-1123 label: lowercased, every run of other characters one `-`, trimmed;
/// when longer than 63 characters, cut and given an 8-digit hash of the whole, so distinct
/// inputs stay distinct. Empty input gives `variant`.
pub fn sanitize(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        return "variant".into();
    }
    if out.len() <= MAX_LEN {
        return out;
    }
    let hash = format!("{:08x}", fnv1a(text));
    let head = out[..MAX_LEN - 9].trim_end_matches('-');
    format!("{head}-{hash}")
}

/// The name of a variant serving `model` in `class`: the model's last path segment and the
/// class (`meta-llama/Llama-3.1-8B`, `Premium` → `llama-3-1-8b-premium`).
pub fn variant(model: &str, class: &str) -> String {
    let tail = model.rsplit('/').next().unwrap_or(model);
    sanitize(&format!("{tail}-{class}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_derived_from_model_and_class() {
        assert_eq!(
            variant("meta-llama/Llama-3.1-8B", "Premium"),
            "llama-3-1-8b-premium"
        );
        assert_eq!(
            variant("Qwen/Qwen2.5-14B-Instruct", "free tier"),
            "qwen2-5-14b-instruct-free-tier"
        );
        assert_eq!(sanitize("--"), "variant");
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        assert!(check("ok-name-1").is_ok());
        let upper = check("Upper").unwrap_err();
        assert_eq!(
            upper,
            NameError::Character {
                name: "Upper".into(),
                character: 'U'
            }
        );
        assert!(upper.to_string().contains("contains `U`"));
        assert!(
            check("-lead")
                .unwrap_err()
                .to_string()
                .contains("start and end")
        );
        assert!(matches!(
            check(&"a".repeat(64)),
            Err(NameError::TooLong { len: 64, .. })
        ));
        assert!(
            check(&"a".repeat(64))
                .unwrap_err()
                .to_string()
                .contains("64 characters")
        );
        assert_eq!(check(""), Err(NameError::Empty));
    }

    #[test]
    fn label_values_metrics_and_suffixes() {
        assert!(check_label_value("H100").is_ok());
        assert!(check_label_value("NVIDIA H100").is_err());
        assert!(check_metric("wva_desired_replicas").is_ok());
        assert!(check_metric("a\"b").is_err());
        let long = with_suffix(&"a".repeat(60), "-scaler", 54);
        assert!(long.len() <= 54 && long.ends_with("-scaler"), "{long}");
        assert_eq!(with_suffix("short", "-scaler", 54), "short-scaler");
    }

    proptest! {
        /// Whatever the input, the result is a valid name, and the same input gives the same name.
        #[test]
        fn sanitized_names_are_valid_and_stable(text in ".{0,120}") {
            let a = sanitize(&text);
            prop_assert!(check(&a).is_ok(), "{a}");
            prop_assert_eq!(a, sanitize(&text));
        }

        /// Long names that differ anywhere stay distinct.
        #[test]
        fn long_names_keep_their_differences(tail_a in "[a-z]{5}", tail_b in "[a-z]{5}") {
            prop_assume!(tail_a != tail_b);
            let base = "x".repeat(80);
            prop_assert_ne!(sanitize(&format!("{base}{tail_a}")), sanitize(&format!("{base}{tail_b}")));
        }
    }
}
