//! The `Date` header value, formatted at most once per second per shard.
//!
//! Every response carries a Date; formatting one costs more than the rest of a cached
//! response's head, so each shard (thread) keeps the current one and reformats it only when
//! the coarse wall clock moves to the next second.

use std::cell::RefCell;

thread_local! {
    static CACHED: RefCell<(i64, [u8; 29])> = const { RefCell::new((i64::MIN, [0; 29])) };
}

/// Seconds since the epoch from the coarse real-time clock (no syscall: vDSO, ~tick precision).
pub fn now_secs() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    ts.tv_sec
}

/// Appends the current IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") to `out`.
pub fn append_now(out: &mut Vec<u8>) {
    let now = now_secs();
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != now {
            let text = httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.max(0) as u64),
            );
            let bytes = text.as_bytes();
            if bytes.len() == 29 {
                c.1.copy_from_slice(bytes);
                c.0 = now;
            }
        }
        out.extend_from_slice(&c.1);
    });
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31), the proleptic Gregorian calendar.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_imf_fixdate() {
        let mut v = Vec::new();
        super::append_now(&mut v);
        let s = String::from_utf8(v).unwrap();
        assert_eq!(s.len(), 29);
        assert!(s.ends_with(" GMT"));
        assert!(httpdate::parse_http_date(&s).is_ok());
    }
}
