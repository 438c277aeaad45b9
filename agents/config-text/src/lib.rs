//! Configuration files in TOML (the loop's configuration, RiskSentinel's limits, a node's
//! configuration, the image manifest): parsed with a one-line error that says where, so each
//! file's own error can name the file and the line.
#![forbid(unsafe_code)]

/// Why a TOML text did not parse into the expected shape: the place (when the parser knows it)
/// and the parser's message on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", self.line_prefix())]
pub struct TomlError {
    /// 1-based line and column (in characters), when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl TomlError {
    /// `"line N: "`, or nothing when the place is unknown.
    pub fn line_prefix(&self) -> String {
        self.line.map(|line| format!("line {line}: ")).unwrap_or_default()
    }
}

/// Parses `text` as a `T`.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, TomlError> {
    toml::from_str(text).map_err(|err| {
        let place = err.span().map(|span| line_column(text, span.start));
        TomlError {
            line: place.map(|(line, _)| line),
            column: place.map(|(_, column)| column),
            message: err.message().trim().replace('\n', " "),
        }
    })
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only parsed
    struct Shape {
        a: u32,
    }

    #[test]
    fn errors_name_the_line_and_column_on_one_line() {
        let err = parse_toml::<Shape>("a = 1\nb = 2\n").unwrap_err();
        assert_eq!((err.line, err.column), (Some(2), Some(1)));
        assert!(err.to_string().starts_with("line 2: unknown field `b`"), "{err}");
        assert!(!err.to_string().contains('\n'));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }
}
