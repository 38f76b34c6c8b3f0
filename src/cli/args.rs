//! Checked values for command-line flags (clap value parsers): a bad value is a usage error
//! (exit 2) that names the flag.

use crate::perf::PerfModelKind;

use crate::spec::numbers::parse_finite as number;

/// A finite number `> 0`.
pub fn positive(text: &str) -> Result<f64, String> {
    let v = number(text)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be > 0, got {v}"))
    }
}

/// A finite number `>= 0`.
pub fn non_negative(text: &str) -> Result<f64, String> {
    let v = number(text)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("must be >= 0, got {v}"))
    }
}

/// A finite number `>= 1`.
pub fn at_least_one(text: &str) -> Result<f64, String> {
    let v = number(text)?;
    if v >= 1.0 {
        Ok(v)
    } else {
        Err(format!("must be >= 1, got {v}"))
    }
}

/// A token count `> 0` and at most [`crate::spec::MAX_TOKENS`] (as in scenario files).
pub fn tokens(text: &str) -> Result<f64, String> {
    let v = positive(text)?;
    if v <= crate::spec::MAX_TOKENS {
        Ok(v)
    } else {
        Err(format!(
            "must be at most {:e}, got {v}",
            crate::spec::MAX_TOKENS
        ))
    }
}

/// An output token count: `>= 1` and at most [`crate::spec::MAX_TOKENS`].
pub fn output_tokens(text: &str) -> Result<f64, String> {
    let v = at_least_one(text)?;
    if v <= crate::spec::MAX_TOKENS {
        Ok(v)
    } else {
        Err(format!(
            "must be at most {:e}, got {v}",
            crate::spec::MAX_TOKENS
        ))
    }
}

/// A share from 0 to 0.9 (warm-ups).
pub fn warmup_share(text: &str) -> Result<f64, String> {
    let v = non_negative(text)?;
    if v <= 0.9 {
        Ok(v)
    } else {
        Err(format!("must be from 0 to 0.9, got {v}"))
    }
}

/// A time limit in seconds: `> 0` and at most [`crate::optimize::exact::MAX_TIME_LIMIT_S`].
pub fn time_limit(text: &str) -> Result<f64, String> {
    let v = positive(text)?;
    let max = crate::optimize::exact::MAX_TIME_LIMIT_S;
    if v <= max {
        Ok(v)
    } else {
        Err(format!("must be at most {max} s, got {v}"))
    }
}

/// A whole number `>= 1`.
pub fn positive_int(text: &str) -> Result<u32, String> {
    let v: u32 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    if v >= 1 {
        Ok(v)
    } else {
        Err("must be >= 1".into())
    }
}

/// A perf model name.
pub fn perf_model(text: &str) -> Result<PerfModelKind, String> {
    PerfModelKind::parse(text)
        .ok_or_else(|| format!("unknown perf model `{text}`; known: wva-v1, wva-v2, wva-v3"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert_eq!(positive("2.5"), Ok(2.5));
        assert!(positive("0").is_err());
        assert!(positive("nan").is_err());
        assert!(positive("inf").is_err());
        assert!(positive("x").is_err());
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(at_least_one("0.5").is_err());
        assert_eq!(positive_int("48"), Ok(48));
        assert!(positive_int("0").is_err());
        assert!(positive_int("-1").is_err());
        assert!(positive_int("2.5").is_err());
        assert_eq!(perf_model("wva-v3"), Ok(PerfModelKind::V3));
    }
}
