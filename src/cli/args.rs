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

/// A whole number from `min` to `max`: a number past `max` is "out of range", not "not a whole
/// number".
fn whole(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{} is not a whole number",
            crate::limits::quote(text)
        ));
    }
    match digits.parse::<u64>() {
        Ok(v) if v < min => Err(format!("must be >= {min}")),
        Ok(v) => crate::limits::at_most(v, max),
        Err(_) => Err(format!("out of range: {digits} (max {max})")),
    }
}

/// [`whole`] for a `u32` count.
fn whole_u32(text: &str, min: u64, max: u32) -> Result<u32, String> {
    whole(text, min, u64::from(max)).map(|v| v as u32)
}

/// A whole number from 1 to `u32::MAX`.
pub fn positive_int(text: &str) -> Result<u32, String> {
    whole_u32(text, 1, u32::MAX)
}

/// A replica count from 1 to [`crate::limits::MAX_REPLICAS`].
pub fn replicas(text: &str) -> Result<u32, String> {
    whole_u32(text, 1, crate::limits::MAX_REPLICAS)
}

/// A max batch (sequences per engine) from 1 to [`crate::limits::MAX_BATCH`].
pub fn batch(text: &str) -> Result<u32, String> {
    whole_u32(text, 1, crate::limits::MAX_BATCH)
}

/// A KV block size from 1 to [`crate::limits::MAX_BLOCK_SIZE`] tokens.
pub fn block_size(text: &str) -> Result<u32, String> {
    whole_u32(text, 1, crate::limits::MAX_BLOCK_SIZE)
}

/// A request count from 1 to [`crate::limits::MAX_REQUESTS`].
pub fn requests(text: &str) -> Result<u64, String> {
    whole(text, 1, crate::limits::MAX_REQUESTS)
}

/// A replication count from 1 to [`crate::limits::MAX_REPLICATIONS`].
pub fn replications(text: &str) -> Result<u32, String> {
    whole_u32(text, 1, crate::limits::MAX_REPLICATIONS)
}

/// A Kubernetes `int32` count from 1 ([`crate::limits::K8S_INT32_MAX`]).
pub fn k8s_count(text: &str) -> Result<u32, String> {
    whole_u32(text, 1, crate::limits::K8S_INT32_MAX)
}

/// A perf model's alpha, ms: `> 0` and at most [`crate::limits::MAX_PERF_COEFFICIENT`].
pub fn perf_alpha(text: &str) -> Result<f64, String> {
    crate::limits::at_most(positive(text)?, crate::limits::MAX_PERF_COEFFICIENT)
}

/// A perf model's other coefficients: `>= 0` and at most
/// [`crate::limits::MAX_PERF_COEFFICIENT`].
pub fn perf_coefficient(text: &str) -> Result<f64, String> {
    crate::limits::at_most(non_negative(text)?, crate::limits::MAX_PERF_COEFFICIENT)
}

/// A coefficient of variation from 0 to [`crate::limits::MAX_NOISE_CV`].
pub fn noise_cv(text: &str) -> Result<f64, String> {
    crate::limits::at_most(non_negative(text)?, crate::limits::MAX_NOISE_CV)
}

/// A time scale within [`crate::limits::TIME_SCALE_RANGE`].
pub fn time_scale(text: &str) -> Result<f64, String> {
    let v = positive(text)?;
    let (low, high) = crate::limits::TIME_SCALE_RANGE;
    if (low..=high).contains(&v) {
        Ok(v)
    } else {
        Err(format!("out of range: {v} (from {low:e} to {high:e})"))
    }
}

/// `--load-scale`: a factor on every workload's arrival rate, `> 0` and at most 1000.
pub fn load_scale(text: &str) -> Result<f64, String> {
    crate::limits::at_most(positive(text)?, 1000.0)
}

/// An arrival rate, requests/s, `> 0` and at most [`crate::limits::MAX_RATE_RPS`].
pub fn rate_rps(text: &str) -> Result<f64, String> {
    crate::limits::at_most(positive(text)?, crate::limits::MAX_RATE_RPS)
}

/// An arrival rate, requests/min, `> 0` and at most 60 x [`crate::limits::MAX_RATE_RPS`].
pub fn rate_rpm(text: &str) -> Result<f64, String> {
    crate::limits::at_most(positive(text)?, 60.0 * crate::limits::MAX_RATE_RPS)
}

/// [`rate_rps`], also 0.
pub fn rate_rps_or_zero(text: &str) -> Result<f64, String> {
    crate::limits::at_most(non_negative(text)?, crate::limits::MAX_RATE_RPS)
}

/// [`rate_rpm`], also 0.
pub fn rate_rpm_or_zero(text: &str) -> Result<f64, String> {
    crate::limits::at_most(non_negative(text)?, 60.0 * crate::limits::MAX_RATE_RPS)
}

/// A number of closed-loop clients from 1 to [`crate::limits::MAX_QUEUE`].
pub fn clients(text: &str) -> Result<u32, String> {
    whole_u32(text, 1, crate::limits::MAX_QUEUE)
}

/// A queue allowance from 0 to [`crate::limits::MAX_QUEUE`].
pub fn queue_or_zero(text: &str) -> Result<u32, String> {
    whole_u32(text, 0, crate::limits::MAX_QUEUE)
}

/// An absolute `http://` or `https://` URL.
pub fn http_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && !host.starts_with('/')
                && !text.contains(char::is_whitespace) =>
        {
            Ok(text.to_string())
        }
        _ => Err(format!(
            "{} is not an http:// or https:// URL",
            crate::limits::quote(text)
        )),
    }
}

/// Refuses a run that would draw more than [`crate::limits::MAX_REQUESTS`] requests (`expected`:
/// rate x duration), naming `flag`.
pub fn check_drawn(expected: f64, flag: &str) -> Result<(), crate::error::Error> {
    crate::limits::check_drawn(expected)
        .map_err(|e| crate::error::Error::Usage(format!("{flag}: {e}")))
}

/// A perf model name.
pub fn perf_model(text: &str) -> Result<PerfModelKind, String> {
    PerfModelKind::parse(text)
        .ok_or_else(|| format!("unknown perf model `{text}`; known: wva-v1, wva-v2, wva-v3"))
}

/// A plot file: `.png` (or no extension) for PNG, `.svg` for SVG; any other extension is
/// refused rather than given PNG bytes under a name that says otherwise.
pub fn plot_path(text: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(text);
    match path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
    {
        None => Ok(path),
        Some(e) if e == "png" || e == "svg" => Ok(path),
        Some(e) => Err(format!(
            "plots are written as PNG (.png) or SVG (.svg), not `.{e}`"
        )),
    }
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
        assert_eq!(
            replicas("4294967295"),
            Err("out of range: 4294967295 (max 10000)".into())
        );
        assert_eq!(
            positive_int("4294967296"),
            Err("out of range: 4294967296 (max 4294967295)".into())
        );
        assert!(
            requests(&"9".repeat(40))
                .unwrap_err()
                .starts_with("out of range")
        );
        assert!(positive_int(&"x".repeat(1000)).unwrap_err().len() < 100);
        assert!(noise_cv("1e200").is_err());
        assert!(time_scale("1e308").is_err());
        assert!(rate_rps("1e100").is_err());
        assert!(http_url("").is_err());
        assert!(http_url("http://").is_err());
        assert_eq!(http_url("https://p:9090"), Ok("https://p:9090".into()));
    }
}
