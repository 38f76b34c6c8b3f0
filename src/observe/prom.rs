//! A client of the Prometheus HTTP API (`/api/v1/query_range`): blocking, TLS by rustls, a
//! bearer token when the server wants one, and errors that say what went wrong in the terms a
//! user can act on (which server, which query, which status).

use std::collections::BTreeMap;
use std::time::Duration;

/// What can go wrong talking to Prometheus.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// No connection (refused, unknown host, TLS failure, timeout).
    #[error("cannot reach Prometheus at {url}: {cause}")]
    Unreachable {
        /// The server.
        url: String,
        /// Why.
        cause: String,
    },
    /// 401 or 403.
    #[error("{}", refused(url, *status))]
    Auth {
        /// The server.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The server answered with an error (bad query, overloaded, too many points).
    #[error("Prometheus at {url} refused `{query}`: {message}")]
    Query {
        /// The server.
        url: String,
        /// The query.
        query: String,
        /// Its error (`errorType: error`), or the HTTP status.
        message: String,
    },
    /// The answer is not the API's JSON.
    #[error(
        "Prometheus at {url} answered `{query}` with something that is not its API's JSON: {cause}"
    )]
    Garbled {
        /// The server.
        url: String,
        /// The query.
        query: String,
        /// Why it could not be read.
        cause: String,
    },
}

impl PromError {
    /// Whether the server refused the query itself (`bad_data`: a selector or expression it
    /// cannot parse), not the request.
    pub fn is_bad_query(&self) -> bool {
        matches!(self, PromError::Query { message, .. } if message.starts_with("bad_data"))
    }
}

/// One time series of a range query: its labels and its `(unix seconds, value)` samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Labels, `__name__` included when the query keeps it.
    pub labels: BTreeMap<String, String>,
    /// Samples, in time order.
    pub values: Vec<(f64, f64)>,
}

/// A range: `[start, end]` in unix seconds, one point every `step_s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// First evaluation time, unix s.
    pub start_s: f64,
    /// Last evaluation time, unix s.
    pub end_s: f64,
    /// Resolution, s.
    pub step_s: f64,
}

/// Most bytes one answer may have (a day of 60 s points for a few hundred series is a few MB).
const MAX_ANSWER_BYTES: u64 = 512 << 20;

/// A Prometheus server.
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `url` (`http://host:9090`, or a path prefix behind a proxy),
    /// sending `token` as a bearer token when given; every request gives up after `timeout`.
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> Client {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("wva/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            base: url.trim_end_matches('/').to_string(),
            token,
            agent: config.into(),
        }
    }

    /// The server's address, as given.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `query` evaluated over `range`: one series per label set.
    pub fn query_range(&self, query: &str, range: Range) -> Result<Vec<Series>, PromError> {
        let url = format!("{}/api/v1/query_range", self.base);
        let mut request = self.agent.post(&url).header("Accept", "application/json");
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let form = [
            ("query", query.to_string()),
            ("start", format_time(range.start_s)),
            ("end", format_time(range.end_s)),
            ("step", format!("{}", range.step_s)),
        ];
        let mut response = request
            .send_form(form.iter().map(|(k, v)| (*k, v.as_str())))
            .map_err(|e| PromError::Unreachable {
                url: self.base.clone(),
                cause: e.to_string(),
            })?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(PromError::Auth {
                url: self.base.clone(),
                status,
            });
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| PromError::Unreachable {
                url: self.base.clone(),
                cause: format!("reading the answer: {e}"),
            })?;
        parse_answer(&body, status).map_err(|e| match e {
            Answer::Refused(message) => PromError::Query {
                url: self.base.clone(),
                query: query.to_string(),
                message,
            },
            Answer::Garbled(cause) => PromError::Garbled {
                url: self.base.clone(),
                query: query.to_string(),
                cause,
            },
        })
    }
}

/// The seconds of a duration written as Prometheus writes them, `30m`, `24h`, `7d`, `1h30m`,
/// `500ms` (units ms, s, m, h, d, w; the parts added up), when above 0 and at most `max_s`;
/// `None` for anything else.
pub fn duration_s(text: &str, max_s: f64) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            _ => return None,
        };
        total += number * unit;
        rest = &rest[unit_len..];
    }
    (total > 0.0 && total <= max_s).then_some(total)
}

/// Unix seconds as the API takes them (millisecond precision).
fn format_time(t_s: f64) -> String {
    format!("{t_s:.3}")
}

/// Why an answer gave no series.
#[derive(Debug, PartialEq)]
enum Answer {
    /// The server's own error.
    Refused(String),
    /// Not the API's JSON.
    Garbled(String),
}

#[derive(serde::Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSeries>,
}

#[derive(serde::Deserialize)]
struct RawSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// The series of a `query_range` answer (`status` is the HTTP status).
fn parse_answer(body: &str, status: u16) -> Result<Vec<Series>, Answer> {
    let envelope: Envelope = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(_) if status >= 400 => {
            let text: String = body.chars().take(200).collect();
            return Err(Answer::Refused(format!("HTTP {status}: {}", text.trim())));
        }
        Err(e) => return Err(Answer::Garbled(e.to_string())),
    };
    if envelope.status != "success" {
        return Err(Answer::Refused(format!(
            "{}: {}",
            envelope.error_type.as_deref().unwrap_or("error"),
            envelope.error.as_deref().unwrap_or("(no message)")
        )));
    }
    let data = envelope
        .data
        .ok_or_else(|| Answer::Garbled("no `data`".into()))?;
    if data.result_type != "matrix" {
        return Err(Answer::Garbled(format!(
            "a range query gave a `{}`, not a `matrix`",
            data.result_type
        )));
    }
    data.result
        .into_iter()
        .map(|raw| {
            let values = raw
                .values
                .into_iter()
                .map(|(t, v)| match v.as_str() {
                    "NaN" => Ok((t, f64::NAN)),
                    "+Inf" => Ok((t, f64::INFINITY)),
                    "-Inf" => Ok((t, f64::NEG_INFINITY)),
                    text => text
                        .parse::<f64>()
                        .map(|x| (t, x))
                        .map_err(|_| Answer::Garbled(format!("sample value `{text}`"))),
                })
                .collect::<Result<_, _>>()?;
            Ok(Series {
                labels: raw.metric,
                values,
            })
        })
        .collect()
}

/// The message of [`PromError::Auth`], which names the request's `bearer_token_file`.
fn refused(url: &str, status: u16) -> crate::error::RequestError {
    crate::error::request_error!(
        format!("Prometheus at {url} refused the request (HTTP {status}): give a token with "),
        crate::error::Field("bearer_token_file"),
        ", or check its rights"
    )
}

impl crate::error::ModuleError for PromError {
    /// A query the server refused as malformed is bad input; anything else is the server's.
    fn exit_code(&self) -> crate::error::ExitCode {
        if self.is_bad_query() {
            crate::error::ExitCode::Input
        } else {
            crate::error::ExitCode::Cluster
        }
    }

    fn request_error(&self) -> Option<crate::error::RequestError> {
        match self {
            PromError::Auth { url, status } => Some(refused(url, *status)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_matrix() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"vllm:num_requests_running","pod":"a"},"values":[[1700000000,"3"],[1700000060.5,"NaN"]]}]}}"#;
        let s = parse_answer(body, 200).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels["pod"], "a");
        assert_eq!(s[0].values[0], (1.7e9, 3.0));
        assert!(s[0].values[1].1.is_nan());
    }

    #[test]
    fn names_the_servers_error() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
        assert_eq!(
            parse_answer(body, 400),
            Err(Answer::Refused("bad_data: parse error at char 3".into()))
        );
        assert!(matches!(
            parse_answer("<html>proxy error</html>", 502),
            Err(Answer::Refused(m)) if m.contains("HTTP 502")
        ));
        assert!(matches!(
            parse_answer("<html>", 200),
            Err(Answer::Garbled(_))
        ));
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(matches!(parse_answer(vector, 200), Err(Answer::Garbled(_))));
    }

    /// A one-shot HTTP server answering `status` with `body`.
    fn answer_once(status: &'static str, body: &'static str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        url
    }

    #[test]
    fn refusals_are_told_apart() {
        let range = Range {
            start_s: 0.0,
            end_s: 60.0,
            step_s: 60.0,
        };
        let url = answer_once("401 Unauthorized", "Unauthorized");
        let e = Client::new(&url, Some("t".into()), Duration::from_secs(5))
            .query_range("up", range)
            .unwrap_err();
        assert!(matches!(e, PromError::Auth { status: 401, .. }), "{e}");
        assert!(
            e.to_string()
                .contains("give a token with `bearer_token_file`")
        );
        let url = answer_once(
            "400 Bad Request",
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error"}"#,
        );
        let e = Client::new(&url, None, Duration::from_secs(5))
            .query_range("up{", range)
            .unwrap_err();
        assert!(e.is_bad_query(), "{e}");
        assert!(
            e.to_string()
                .contains("refused `up{`: bad_data: 1:5: parse error")
        );
    }

    #[test]
    fn an_unreachable_server_is_named() {
        // Port 9 (discard) on loopback: nothing listens there in a test sandbox.
        let c = Client::new("http://127.0.0.1:9", None, Duration::from_secs(2));
        let r = Range {
            start_s: 0.0,
            end_s: 60.0,
            step_s: 60.0,
        };
        let e = c.query_range("up", r).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot reach Prometheus at http://127.0.0.1:9")
        );
    }
}
