//! Time as nginx's variables print it: `$time_local`, `$time_iso8601`, `$msec`.
//!
//! Used by the variable evaluator ([`super::vars`]) and the access log's built-in formats.
//! The two calendar forms are formatted at most once per second per shard (thread) and then
//! copied, like the `Date` header in `http::date`.

use std::cell::RefCell;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

struct Cached {
    secs: i64,
    local: String,
    iso: String,
}

thread_local! {
    static CACHED: RefCell<Cached> = const {
        RefCell::new(Cached { secs: i64::MIN, local: String::new(), iso: String::new() })
    };
}

fn with_cached(f: impl FnOnce(&Cached)) {
    let now = crate::http::date::now_secs();
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.secs != now {
            let tm = local_tm(now);
            c.local = format_local(&tm);
            c.iso = format_iso(&tm);
            c.secs = now;
        }
        f(&c);
    });
}

/// Appends `$time_local` ("25/Nov/2026:21:22:00 +0000") for now.
pub fn append_time_local(out: &mut Vec<u8>) {
    with_cached(|c| out.extend_from_slice(c.local.as_bytes()));
}

/// Appends `$time_iso8601` ("2026-11-25T21:22:00+00:00") for now.
pub fn append_time_iso8601(out: &mut Vec<u8>) {
    with_cached(|c| out.extend_from_slice(c.iso.as_bytes()));
}

/// Appends `$msec`: seconds since the epoch with millisecond resolution ("1700000000.123").
pub fn append_msec(out: &mut Vec<u8>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    out.extend_from_slice(itoa::Buffer::new().format(now.as_secs()).as_bytes());
    out.push(b'.');
    append_millis(out, now.subsec_millis());
}

/// Appends a duration in nginx's `$request_time` form: seconds with three decimals.
pub fn append_seconds_millis(out: &mut Vec<u8>, d: std::time::Duration) {
    out.extend_from_slice(itoa::Buffer::new().format(d.as_secs()).as_bytes());
    out.push(b'.');
    append_millis(out, d.subsec_millis());
}

fn append_millis(out: &mut Vec<u8>, ms: u32) {
    out.push(b'0' + (ms / 100 % 10) as u8);
    out.push(b'0' + (ms / 10 % 10) as u8);
    out.push(b'0' + (ms % 10) as u8);
}

fn local_tm(secs: i64) -> libc::tm {
    // SAFETY: localtime_r only writes into `tm`; a zeroed tm is a valid initial value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let t: libc::time_t = secs;
    unsafe { libc::localtime_r(&t, &mut tm) };
    tm
}

fn offset(tm: &libc::tm) -> (char, i64, i64) {
    let off = tm.tm_gmtoff / 60;
    let sign = if off < 0 { '-' } else { '+' };
    (sign, off.abs() / 60, off.abs() % 60)
}

fn format_local(tm: &libc::tm) -> String {
    let (sign, h, m) = offset(tm);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} {}{:02}{:02}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        sign,
        h,
        m
    )
}

fn format_iso(tm: &libc::tm) -> String {
    let (sign, h, m) = offset(tm);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        sign,
        h,
        m
    )
}

/// `$time_local` for an arbitrary time (tests and tools).
pub fn format_time_local(secs: i64) -> String {
    format_local(&local_tm(secs))
}

/// Seconds from `now` to the next `at` seconds after local midnight (`expires @15h30m`).
pub fn next_daily(now: i64, at: u32) -> i64 {
    let tm = local_tm(now);
    let since_midnight =
        i64::from(tm.tm_hour) * 3600 + i64::from(tm.tm_min) * 60 + i64::from(tm.tm_sec);
    let mut target = now - since_midnight + i64::from(at);
    if target <= now {
        target += 86400;
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let mut v = Vec::new();
        append_time_local(&mut v);
        assert_eq!(v.len(), 26, "{}", String::from_utf8_lossy(&v));
        v.clear();
        append_time_iso8601(&mut v);
        assert_eq!(v.len(), 25, "{}", String::from_utf8_lossy(&v));
        assert_eq!(v[10], b'T');
        v.clear();
        append_seconds_millis(&mut v, std::time::Duration::from_millis(1005));
        assert_eq!(v, b"1.005");
        v.clear();
        append_msec(&mut v);
        assert_eq!(v[v.len() - 4], b'.');
    }

    #[test]
    fn daily_is_within_a_day() {
        let now = 1_700_000_000;
        let t = next_daily(now, 3600);
        assert!(t > now && t <= now + 86400);
    }
}
