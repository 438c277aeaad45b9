//! The little HTTP/1.1 the management API speaks, without I/O: one `GET` per connection, the
//! request head parsed strictly, the response written whole with `Connection: close`.

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Status,
    Logs { lines: usize },
}

/// Why a request is answered with an error status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) reason: &'static str,
}

const fn refuse(status: u16, reason: &'static str) -> Refusal {
    Refusal { status, reason }
}

/// Lines `/logs` answers when `n` is not given.
pub(crate) const DEFAULT_LOGS_LINES: usize = 100;
/// Header lines accepted in one request.
const MAX_HEADERS: usize = 64;

/// Where the head ends (the index just past the blank line), if it has.
pub(crate) fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses a request head (up to and including its blank line). `max_lines` bounds `/logs?n=`.
pub(crate) fn parse_request(head: &[u8], max_lines: usize) -> Result<Route, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| refuse(400, "the request is not text"))?;
    let mut lines = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse(400, "malformed request line"));
    };
    if !is_token(method) {
        return Err(refuse(400, "malformed method"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(refuse(400, "only HTTP/1.0 and HTTP/1.1"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(refuse(400, "malformed target"));
    }
    let mut headers = 0;
    for line in lines.take_while(|line| !line.is_empty()) {
        headers += 1;
        if headers > MAX_HEADERS {
            return Err(refuse(400, "too many header lines"));
        }
        let Some((name, value)) = line.split_once(':') else { return Err(refuse(400, "malformed header line")) };
        if !is_token(name) {
            return Err(refuse(400, "malformed header name"));
        }
        let value = value.trim();
        let has_body = (name.eq_ignore_ascii_case("content-length") && value != "0")
            || name.eq_ignore_ascii_case("transfer-encoding");
        if has_body {
            return Err(refuse(400, "a request has no body here"));
        }
    }
    if method != "GET" {
        return Err(refuse(405, "only GET: the management API is read-only"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/status" => Ok(Route::Status),
        "/logs" => {
            let mut lines = DEFAULT_LOGS_LINES.min(max_lines);
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                if let Some(n) = pair.strip_prefix("n=") {
                    lines = n
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=max_lines).contains(n))
                        .ok_or(refuse(400, "n must be a number of lines within the log ring"))?;
                }
            }
            Ok(Route::Logs { lines })
        }
        _ => Err(refuse(404, "no such resource: GET /status or /logs?n=K")),
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A whole response.
pub(crate) fn response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        reason_phrase(status),
        body.len()
    );
    if status == 405 {
        head.push_str("Allow: GET\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A refusal as a response (its reason as the plain-text body).
pub(crate) fn refusal_response(refusal: &Refusal) -> Vec<u8> {
    response(refusal.status, "text/plain; charset=utf-8", format!("{}\n", refusal.reason).as_bytes())
}

/// A response parsed: its status and body (exactly `Content-Length` bytes, or to the end when
/// there is none). The client's side.
pub(crate) fn parse_response(bytes: &[u8]) -> Result<(u16, &[u8]), &'static str> {
    let end = head_end(bytes).ok_or("no complete response head")?;
    let head = std::str::from_utf8(&bytes[..end]).map_err(|_| "the response head is not text")?;
    let mut lines = head.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(status)) = (parts.next(), parts.next()) else { return Err("malformed status line") };
    if !version.starts_with("HTTP/1.") {
        return Err("not an HTTP/1 response");
    }
    let status: u16 = status.parse().map_err(|_| "malformed status code")?;
    let mut length = None;
    for line in lines.take_while(|line| !line.is_empty()) {
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = Some(value.trim().parse::<usize>().map_err(|_| "malformed Content-Length")?);
        }
    }
    let body = &bytes[end..];
    match length {
        Some(n) if body.len() < n => Err("the response was cut short"),
        Some(n) => Ok((status, &body[..n])),
        None => Ok((status, body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Route, u16> {
        parse_request(text.as_bytes(), 512).map_err(|r| r.status)
    }

    #[test]
    fn the_two_routes() {
        assert_eq!(parse("GET /status HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(Route::Status));
        assert_eq!(parse("GET /logs HTTP/1.1\r\n\r\n"), Ok(Route::Logs { lines: 100 }));
        assert_eq!(parse("GET /logs?n=7 HTTP/1.0\n\n"), Ok(Route::Logs { lines: 7 }));
        assert_eq!(parse_request(b"GET /logs HTTP/1.1\r\n\r\n", 10), Ok(Route::Logs { lines: 10 }));
    }

    #[test]
    fn everything_else_is_refused() {
        assert_eq!(parse("GET / HTTP/1.1\r\n\r\n"), Err(404));
        assert_eq!(parse("POST /status HTTP/1.1\r\n\r\n"), Err(405));
        assert_eq!(parse("DELETE /logs HTTP/1.1\r\n\r\n"), Err(405));
        assert_eq!(parse("GET /status HTTP/2\r\n\r\n"), Err(400));
        assert_eq!(parse("GET  /status HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(parse("GET status HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(parse("\u{1}\u{2} / HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(parse("GET /status HTTP/1.1\r\nno colon\r\n\r\n"), Err(400));
        assert_eq!(parse("GET /status HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), Err(400));
        assert_eq!(parse("GET /logs?n=0 HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(parse("GET /logs?n=513 HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(parse("GET /logs?n=x HTTP/1.1\r\n\r\n"), Err(400));
        assert!(parse_request(&[0xff, 0xfe, b'\n', b'\n'], 1).is_err());
        let many = format!("GET /status HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(65));
        assert_eq!(parse(&many), Err(400));
    }

    #[test]
    fn responses_read_back() {
        let bytes = response(200, "application/json", b"{}");
        assert_eq!(parse_response(&bytes), Ok((200, &b"{}"[..])));
        let refused = refusal_response(&refuse(405, "only GET"));
        let text = String::from_utf8_lossy(&refused);
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n") && text.contains("Allow: GET"), "{text}");
        assert_eq!(parse_response(&bytes[..bytes.len() - 1]), Err("the response was cut short"));
        assert_eq!(head_end(b"a\r\n\r\nb"), Some(5));
        assert_eq!(head_end(b"a\r\nb"), None);
    }
}
