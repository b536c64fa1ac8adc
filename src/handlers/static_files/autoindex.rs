//! Static file handler, directory branch: renders a directory listing when a
//! request maps to a directory without an index file and `autoindex` is on.
//!
//! In: the request's (decoded) URI path and the directory's entries, already
//! read and filtered by the caller (dotfiles included or not is its choice).
//! Out: the response body in nginx's `autoindex_format html` or `json`
//! layout. Entries are sorted in place: directories first, then by name in
//! byte order, as nginx does.
//!
//! File names are arbitrary bytes controlled by whoever can write to the
//! directory, so every name is escaped for its context (HTML text, URL,
//! JSON string) and invalid UTF-8 is shown as U+FFFD but linked exactly.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub is_dir: bool,
    pub size: u64,
    pub mtime_secs: i64,
}

/// Width of the name column in the HTML listing (nginx's
/// NGX_HTTP_AUTOINDEX_NAME_LEN); longer names are cut and end in "..>".
const NAME_COLUMN: usize = 50;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Last second representable as a four-digit-year HTTP-date.
use crate::http::validators::{http_date, MAX_HTTP_DATE_SECS};

struct Civil {
    year: i64,
    month: usize, // 1..=12
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

/// UTC calendar fields for Unix seconds, valid for the whole i64 range
/// (proleptic Gregorian, days-from-civil inverse by eras of 400 years).
fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // 1970-01-01 was a Thursday.

    let (year, month, day) = crate::http::date::civil_from_days(days);

    Civil {
        year,
        month: month as usize,
        day,
        hour: tod / 3600,
        minute: tod % 3600 / 60,
        second: tod % 60,
    }
}

/// nginx's listing date, "25-Nov-2026 21:22" (UTC).
fn listing_date(secs: i64) -> String {
    let c = civil(secs);
    format!(
        "{:02}-{}-{} {:02}:{:02}",
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.minute
    )
}

fn sort_entries(entries: &mut [DirEntry]) {
    entries.sort_unstable_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
}

fn push_html_escaped(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
}

/// Percent-encodes a single path segment for an href: everything except
/// RFC 3986 unreserved characters. Encoding ':' matters: a name like
/// "javascript:x" must stay a relative reference, not become a scheme.
fn push_href_encoded(out: &mut String, name: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in name {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// HTML listing in nginx's layout (CRLF line ends, fixed-width columns
/// inside `<pre>`, exact sizes, UTC times).
pub fn render_html(uri_path: &str, entries: &mut [DirEntry]) -> String {
    sort_entries(entries);

    let mut out = String::with_capacity(256 + entries.len() * 160);
    out.push_str("<html>\r\n<head><title>Index of ");
    push_html_escaped(&mut out, uri_path);
    out.push_str("</title></head>\r\n<body>\r\n<h1>Index of ");
    push_html_escaped(&mut out, uri_path);
    out.push_str("</h1><hr><pre><a href=\"../\">../</a>\r\n");

    for e in entries.iter() {
        out.push_str("<a href=\"");
        push_href_encoded(&mut out, &e.name);
        if e.is_dir {
            out.push('/');
        }
        out.push_str("\">");

        // Column width is measured in characters of the unescaped name, so
        // multi-byte names and entities do not break the alignment.
        let name = String::from_utf8_lossy(&e.name);
        let char_len = name.chars().count();
        let shown_len = if char_len > NAME_COLUMN {
            let cut: String = name.chars().take(NAME_COLUMN - 3).collect();
            push_html_escaped(&mut out, &cut);
            out.push_str("..&gt;");
            NAME_COLUMN
        } else {
            push_html_escaped(&mut out, &name);
            if e.is_dir && char_len < NAME_COLUMN {
                out.push('/');
                char_len + 1
            } else {
                char_len
            }
        };
        out.push_str("</a>");
        for _ in shown_len..NAME_COLUMN {
            out.push(' ');
        }
        out.push(' ');
        out.push_str(&listing_date(e.mtime_secs));
        out.push(' ');
        if e.is_dir {
            out.push_str(&format!("{:>19}", "-"));
        } else {
            out.push_str(&format!("{:>19}", e.size));
        }
        out.push_str("\r\n");
    }

    out.push_str("</pre><hr></body>\r\n</html>\r\n");
    out
}

/// Escapes a name as JSON string contents. Invalid UTF-8 becomes U+FFFD
/// because JSON strings cannot carry raw bytes.
fn push_json_escaped(out: &mut String, name: &[u8]) {
    for ch in String::from_utf8_lossy(name).chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
}

/// JSON listing in nginx's layout:
/// `[ { "name":"a", "type":"directory", "mtime":"<HTTP-date>" }, { ..., "size":123 } ]`,
/// one object per line; `size` only for files.
/// nginx's `autoindex_format xml`: `<directory>` and `<file>` elements in a `<list>`, the
/// mtime in ISO 8601 UTC, sizes for files only; names escaped as nginx's `ngx_escape_html`
/// does (`&`, `<`, `>`, `"`; an apostrophe needs no escape in element text).
pub fn render_xml(entries: &mut [DirEntry]) -> String {
    sort_entries(entries);
    let mut out = String::with_capacity(40 + entries.len() * 96);
    out.push_str("<?xml version=\"1.0\"?>\r\n<list>\r\n");
    for e in entries.iter() {
        let tag = if e.is_dir { "directory" } else { "file" };
        let c = civil(e.mtime_secs.clamp(0, MAX_HTTP_DATE_SECS));
        out.push_str(&format!(
            "<{tag} mtime=\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z\"",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        ));
        if !e.is_dir {
            out.push_str(&format!(" size=\"{}\"", e.size));
        }
        out.push('>');
        for ch in String::from_utf8_lossy(&e.name).chars() {
            match ch {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                c => out.push(c),
            }
        }
        out.push_str(&format!("</{tag}>\r\n"));
    }
    out.push_str("</list>\r\n");
    out
}

pub fn render_json(entries: &mut [DirEntry]) -> String {
    sort_entries(entries);

    let mut out = String::with_capacity(8 + entries.len() * 96);
    out.push('[');
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("\r\n{ \"name\":\"");
        push_json_escaped(&mut out, &e.name);
        out.push_str("\", \"type\":\"");
        out.push_str(if e.is_dir { "directory" } else { "file" });
        out.push_str("\", \"mtime\":\"");
        out.push_str(&http_date(e.mtime_secs));
        if e.is_dir {
            out.push_str("\" }");
        } else {
            out.push_str(&format!("\", \"size\":{} }}", e.size));
        }
    }
    out.push_str("\r\n]\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-25T21:22:00Z, a Wednesday.
    const T: i64 = 1_795_641_720;

    fn file(name: &[u8], size: u64) -> DirEntry {
        DirEntry {
            name: name.to_vec(),
            is_dir: false,
            size,
            mtime_secs: T,
        }
    }

    fn dir(name: &[u8]) -> DirEntry {
        DirEntry {
            name: name.to_vec(),
            is_dir: true,
            size: 4096,
            mtime_secs: T,
        }
    }

    #[test]
    fn dates() {
        assert_eq!(listing_date(T), "25-Nov-2026 21:22");
        assert_eq!(http_date(T), "Wed, 25 Nov 2026 21:22:00 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(-1), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(listing_date(-1), "31-Dec-1969 23:59");
        assert_eq!(listing_date(0), "01-Jan-1970 00:00");
    }

    #[test]
    fn civil_agrees_with_httpdate_crate() {
        let mut s: i64 = 0;
        while s < MAX_HTTP_DATE_SECS {
            let expected = httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.unsigned_abs()),
            );
            assert_eq!(http_date(s), expected, "{s}");
            s += 7_777_777 + s / 3;
        }
    }

    #[test]
    fn extreme_mtimes_do_not_panic() {
        for t in [i64::MIN, i64::MIN + 1, -86_401, i64::MAX] {
            let mut e = vec![file(b"a", 1)];
            e[0].mtime_secs = t;
            let _ = render_html("/", &mut e);
            let _ = render_json(&mut e);
        }
    }

    #[test]
    fn sorting_dirs_first_then_bytes() {
        let mut e = vec![
            file(b"b", 1),
            dir(b"z"),
            file(b"B", 1),
            dir(b"a"),
            file(b"a", 1),
            file(b"\xc3\xa9", 1),
        ];
        sort_entries(&mut e);
        let names: Vec<&[u8]> = e.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(names, vec![&b"a"[..], b"z", b"B", b"a", b"b", b"\xc3\xa9"]);
        assert!(e[0].is_dir && e[1].is_dir && !e[2].is_dir);
    }

    #[test]
    fn html_exact_layout() {
        let mut e = vec![file(b"hello.txt", 123), dir(b"sub")];
        let html = render_html("/x/", &mut e);
        let expected = concat!(
            "<html>\r\n<head><title>Index of /x/</title></head>\r\n<body>\r\n",
            "<h1>Index of /x/</h1><hr><pre><a href=\"../\">../</a>\r\n",
            "<a href=\"sub/\">sub/</a>",
            "                                              ",
            " 25-Nov-2026 21:22                   -\r\n",
            "<a href=\"hello.txt\">hello.txt</a>",
            "                                         ",
            " 25-Nov-2026 21:22                 123\r\n",
            "</pre><hr></body>\r\n</html>\r\n"
        );
        assert_eq!(html, expected);
    }

    #[test]
    fn html_columns_align() {
        let mut e = vec![
            file(b"a", 1),
            dir(b"dir"),
            file("\u{e9}t\u{e9}.txt".as_bytes(), 123_456_789),
            file(b"a&b<c>.txt", 5),
        ];
        let html = render_html("/", &mut e);
        for line in html
            .lines()
            .filter(|l| l.starts_with("<a href=\"") && !l.contains("../"))
        {
            let after = &line[line.find("</a>").unwrap() + 4..];
            assert_eq!(
                after.chars().count(),
                50 - visible_len(line) + 1 + 17 + 1 + 19
            );
        }
    }

    fn visible_len(line: &str) -> usize {
        let start = line.find("\">").unwrap() + 2;
        let end = line.find("</a>").unwrap();
        line[start..end]
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .chars()
            .count()
    }

    #[test]
    fn html_empty_directory() {
        let html = render_html("/empty/", &mut []);
        assert!(html.contains("<pre><a href=\"../\">../</a>\r\n</pre>"));
    }

    #[test]
    fn html_escapes_names_and_title() {
        let mut e = vec![file(b"<script>alert(1)</script>", 1), file(b"a\"b'c&d", 1)];
        let html = render_html("/<img src=x onerror=alert(1)>/", &mut e);
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("href=\"%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""));
        assert!(html.contains(">a&quot;b&#39;c&amp;d</a>"));
        assert!(html.contains("href=\"a%22b%27c%26d\""));
        assert!(html.contains("Index of /&lt;img src=x onerror=alert(1)&gt;/"));
    }

    #[test]
    fn html_hrefs_are_relative_and_encoded() {
        let mut e = vec![
            file(b"javascript:alert(1)", 1),
            file(b"a b?c#d%e", 1),
            file(b"\xff\xfe", 1),
            dir("\u{e9}".as_bytes()),
            file(b"//evil.example", 1),
        ];
        let html = render_html("/", &mut e);
        assert!(html.contains("href=\"javascript%3Aalert%281%29\""));
        assert!(html.contains("href=\"a%20b%3Fc%23d%25e\""));
        assert!(html.contains("href=\"%FF%FE\">\u{fffd}\u{fffd}</a>"));
        assert!(html.contains("href=\"%C3%A9/\">\u{e9}/</a>"));
        assert!(html.contains("href=\"%2F%2Fevil.example\""));
    }

    #[test]
    fn html_control_chars_do_not_break_attributes() {
        let mut e = vec![file(b"a\r\n\"><x", 1)];
        let html = render_html("/", &mut e);
        assert!(html.contains("href=\"a%0D%0A%22%3E%3Cx\""));
        assert!(!html.contains("\"><x"));
    }

    #[test]
    fn html_long_names_truncated() {
        let long = "x".repeat(60);
        let mut e = vec![file(long.as_bytes(), 7), dir(long.as_bytes())];
        let html = render_html("/", &mut e);
        let cut = format!(">{}..&gt;</a> 25-Nov-2026", "x".repeat(47));
        assert_eq!(html.matches(&cut).count(), 2);
        // The href still carries the full name.
        assert!(html.contains(&format!("href=\"{long}\"")));
        assert!(html.contains(&format!("href=\"{long}/\"")));

        // Exactly 50 chars: no truncation, no padding, and a directory
        // loses its slash in the label (no room), like nginx.
        let fifty = "y".repeat(50);
        let mut e = vec![dir(fifty.as_bytes())];
        let html = render_html("/", &mut e);
        assert!(html.contains(&format!(">{fifty}</a> 25-Nov")));

        // 49-char directory: slash fits exactly.
        let fortynine = "z".repeat(49);
        let mut e = vec![dir(fortynine.as_bytes())];
        let html = render_html("/", &mut e);
        assert!(html.contains(&format!(">{fortynine}/</a> 25-Nov")));
    }

    #[test]
    fn html_truncation_is_char_based() {
        let long = "\u{e9}".repeat(60);
        let mut e = vec![file(long.as_bytes(), 1)];
        let html = render_html("/", &mut e);
        assert!(html.contains(&format!(">{}..&gt;</a>", "\u{e9}".repeat(47))));
    }

    #[test]
    fn html_sizes() {
        let mut e = vec![file(b"big", u64::MAX), file(b"zero", 0)];
        let html = render_html("/", &mut e);
        assert!(html.contains(" 18446744073709551615\r\n"));
        assert!(html.contains(&format!(" {:>19}\r\n", 0)));
    }

    #[test]
    fn json_exact_layout() {
        let mut e = vec![file(b"hello.txt", 123), dir(b"sub")];
        let json = render_json(&mut e);
        let expected = concat!(
            "[\r\n",
            "{ \"name\":\"sub\", \"type\":\"directory\", \"mtime\":\"Wed, 25 Nov 2026 21:22:00 GMT\" },\r\n",
            "{ \"name\":\"hello.txt\", \"type\":\"file\", \"mtime\":\"Wed, 25 Nov 2026 21:22:00 GMT\", \"size\":123 }\r\n",
            "]\r\n"
        );
        assert_eq!(json, expected);
    }

    #[test]
    fn xml_layout_and_escaping() {
        let mut e = vec![file(b"a'<b>\"&", 42), dir(b"sub")];
        let xml = render_xml(&mut e);
        assert_eq!(
            xml,
            concat!(
                "<?xml version=\"1.0\"?>\r\n<list>\r\n",
                "<directory mtime=\"2026-11-25T21:22:00Z\">sub</directory>\r\n",
                "<file mtime=\"2026-11-25T21:22:00Z\" size=\"42\">a'&lt;b&gt;&quot;&amp;</file>\r\n",
                "</list>\r\n"
            )
        );
    }

    #[test]
    fn json_empty() {
        assert_eq!(render_json(&mut []), "[\r\n]\r\n");
    }

    #[test]
    fn json_escaping() {
        let mut e = vec![
            file(b"q\"b\\s", 1),
            file(b"c\x01\n\t\x1f\x7f", 1),
            file(b"bad\xff", 1),
            file("\u{e9}\u{2028}".as_bytes(), 1),
            file(b"</script>", 1),
        ];
        let json = render_json(&mut e);
        assert!(json.contains("\"name\":\"q\\\"b\\\\s\""));
        assert!(json.contains("\"name\":\"c\\u0001\\u000a\\u0009\\u001f\x7f\""));
        assert!(json.contains("\"name\":\"bad\u{fffd}\""));
        assert!(json.contains("\"name\":\"\u{e9}\u{2028}\""));
        // No raw control characters leak into the output besides our CRLFs.
        for line in json.split("\r\n") {
            assert!(!line.chars().any(|c| (c as u32) < 0x20), "{line:?}");
        }
    }

    #[test]
    fn json_is_well_formed_enough() {
        let mut e = vec![dir(b"d"), file(b"f", 9)];
        let json = render_json(&mut e);
        assert_eq!(json.matches('{').count(), 2);
        assert_eq!(json.matches('}').count(), 2);
        assert!(json.contains("\"size\":9 }"));
        assert!(!json.contains("\"size\":4096"));
    }
}
