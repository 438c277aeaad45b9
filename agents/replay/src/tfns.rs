use std::path::Path;

use crate::error::ReplayError;

/// The TFNS label of a headline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentimentLabel {
    Bearish,
    Bullish,
    Neutral,
}

/// One headline of the Twitter Financial News Sentiment set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledHeadline {
    pub text: String,
    pub label: SentimentLabel,
}

/// Read a `text,label` CSV (RFC 4180 quoting: quoted fields may hold commas,
/// doubled quotes and newlines). Label 0 = bearish, 1 = bullish, 2 = neutral.
pub fn read_headlines(path: &Path) -> Result<Vec<LabelledHeadline>, ReplayError> {
    let content = std::fs::read_to_string(path).map_err(|error| ReplayError::Io { path: path.to_owned(), error })?;
    let records =
        split_csv(&content).map_err(|(line, detail)| ReplayError::Parse { path: path.to_owned(), line, detail })?;
    let mut records = records.into_iter();
    match records.next() {
        Some((_, header)) if header.len() == 2 && header[0].trim() == "text" && header[1].trim() == "label" => {}
        Some((line, header)) => {
            return Err(ReplayError::Parse {
                path: path.to_owned(),
                line,
                detail: format!("expected the header `text,label`, found `{}`", header.join(",")),
            });
        }
        None => return Err(ReplayError::Parse { path: path.to_owned(), line: 1, detail: "empty file".to_owned() }),
    }
    let mut out = Vec::with_capacity(records.len());
    for (line, fields) in records {
        let parse_error = |detail: String| ReplayError::Parse { path: path.to_owned(), line, detail };
        let [text, label] = <[String; 2]>::try_from(fields)
            .map_err(|f| parse_error(format!("expected 2 fields (text,label), found {}", f.len())))?;
        let label = match label.trim() {
            "0" => SentimentLabel::Bearish,
            "1" => SentimentLabel::Bullish,
            "2" => SentimentLabel::Neutral,
            other => return Err(parse_error(format!("label {other:?} is not 0, 1 or 2"))),
        };
        out.push(LabelledHeadline { text, label });
    }
    Ok(out)
}

type Record = (usize, Vec<String>);

/// Split CSV text into records of fields, each with the line it started on.
fn split_csv(content: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut line = 1;
    let mut record_line = 1;
    let mut chars = content.chars().peekable();
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => in_quotes = false,
            (false, '"') if field.is_empty() => in_quotes = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                records.push((record_line, std::mem::take(&mut fields)));
                line += 1;
                record_line = line;
            }
            (_, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if in_quotes {
        return Err((record_line, "unterminated quoted field".to_owned()));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((record_line, fields));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_fields() {
        let records = split_csv("text,label\n\"a, \"\"b\"\"\nc\",1\nplain,2").unwrap();
        assert_eq!(records[1], (2, vec!["a, \"b\"\nc".to_owned(), "1".to_owned()]));
        assert_eq!(records[2], (4, vec!["plain".to_owned(), "2".to_owned()]));
        assert_eq!(split_csv("x\n\"open").unwrap_err().0, 2);
    }
}
