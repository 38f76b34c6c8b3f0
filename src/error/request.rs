//! Errors about a use case's request: text with the request's fields kept apart from it, so
//! that each caller names them its own way. The library calls a field by its name in the
//! request (`` `min_replicas` ``); the command line by its flag (`--min-replicas`, which
//! `cli::flags` maps), so no library message has to know the command line.

use super::{ExitCode, ModuleError};
use std::borrow::Cow;
use std::fmt;

/// A field of a use case's request, by its name there (`min_replicas`, `trace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Field(pub &'static str);

/// A piece of a [`RequestError`]: text, or a field the caller names.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Text, shown as it is.
    Text(String),
    /// A field of the request.
    Field(Field),
}

impl From<Field> for Part {
    fn from(f: Field) -> Self {
        Part::Field(f)
    }
}

impl From<String> for Part {
    fn from(text: String) -> Self {
        Part::Text(text)
    }
}

impl From<&str> for Part {
    fn from(text: &str) -> Self {
        Part::Text(text.to_string())
    }
}

/// A request whose fields do not make sense, alone or together (bad input, exit code 2), or a
/// failure whose remedy is one of its fields (another exit code: 3 for an outcome it asked to
/// fail on, 4 for a cluster's refusal).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestError {
    parts: Vec<Part>,
    exit_code: ExitCode,
}

impl RequestError {
    /// The error made of `parts` (see the `request_error!` macro).
    pub fn new(parts: Vec<Part>) -> Self {
        RequestError {
            parts,
            exit_code: ExitCode::Input,
        }
    }

    /// The same with another exit code: 3 for an infeasible outcome the request asked to fail
    /// on, 4 for a cluster's refusal whose remedy is a field of the request.
    pub fn with_exit_code(mut self, exit_code: ExitCode) -> Self {
        self.exit_code = exit_code;
        self
    }

    /// `self` and then `part`.
    pub fn then(mut self, part: impl Into<Part>) -> Self {
        self.parts.push(part.into());
        self
    }

    /// `self` and then `other`'s parts.
    pub fn append(mut self, other: RequestError) -> Self {
        self.parts.extend(other.parts);
        self
    }

    /// `self` after `text` (a file name and a colon, say).
    pub fn after(mut self, text: impl Into<String>) -> Self {
        self.parts.insert(0, Part::Text(text.into()));
        self
    }

    /// The fields it names, in order.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(*f),
            Part::Text(_) => None,
        })
    }

    /// The message, each field named by `name`.
    pub fn render(&self, name: &dyn Fn(Field) -> Cow<'static, str>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => out.push_str(&name(*f)),
            }
        }
        out
    }
}

/// Fields as the library names them: `` `min_replicas` ``.
impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&|field| format!("`{}`", field.0).into()))
    }
}

impl std::error::Error for RequestError {}

impl ModuleError for RequestError {
    fn exit_code(&self) -> ExitCode {
        self.exit_code
    }

    fn request_error(&self) -> Option<RequestError> {
        Some(self.clone())
    }
}

/// A [`RequestError`] from its parts in order: [`Field`]s, `String`s and `&str`s.
macro_rules! request_error {
    ($($part:expr),+ $(,)?) => {
        $crate::error::RequestError::new(vec![$($crate::error::Part::from($part)),+])
    };
}
pub(crate) use request_error;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_names_the_fields() {
        let e = request_error!(
            Field("min_replicas"),
            format!(" {} is above ", 3),
            Field("max_replicas"),
            " 2"
        )
        .after("x.yaml: ");
        assert_eq!(
            e.to_string(),
            "x.yaml: `min_replicas` 3 is above `max_replicas` 2"
        );
        let flag = |f: Field| Cow::Owned(format!("--{}", f.0.replace('_', "-")));
        assert_eq!(
            e.render(&flag),
            "x.yaml: --min-replicas 3 is above --max-replicas 2"
        );
        assert_eq!(
            e.fields().collect::<Vec<_>>(),
            [Field("min_replicas"), Field("max_replicas")]
        );
    }
}
