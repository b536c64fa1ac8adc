use super::*;

fn v2_header(ver_cmd: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.push(ver_cmd);
    out.push(family);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn tlv(code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![code];
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn inet4_body(tlvs: &[u8]) -> Vec<u8> {
    let mut body = vec![192, 0, 2, 1, 192, 0, 2, 2];
    body.extend_from_slice(&123u16.to_be_bytes());
    body.extend_from_slice(&5678u16.to_be_bytes());
    body.extend_from_slice(tlvs);
    body
}

fn header(parsed: Parsed) -> (usize, ProxyHeader) {
    match parsed {
        Parsed::Done {
            len,
            header: Some(h),
        } => (len, h),
        other => panic!("expected a header, got {other:?}"),
    }
}

fn value(h: &ProxyHeader, name: &str) -> Option<String> {
    let mut out = Vec::new();
    h.tlv(&TlvName::parse(name), &mut out)
        .unwrap()
        .then(|| String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn v1_tcp4_line_and_what_follows_it() {
    let input = b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 5678\r\nGET / HTTP/1.0\r\n\r\n";
    let (len, h) = header(parse(input));
    assert_eq!(&input[len..], b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.src_addr, "192.0.2.1");
    assert_eq!(h.dst_addr, "192.0.2.2");
    assert_eq!((h.src_port, h.dst_port), (1234, 5678));
}

#[test]
fn v1_tcp6_and_unknown() {
    let (_, h) = header(parse(b"PROXY TCP6 2001:db8::1 ::1 80 443\r\n"));
    assert_eq!(h.src_addr, "2001:db8::1");
    assert_eq!(h.dst_port, 443);
    assert_eq!(
        parse(b"PROXY UNKNOWN whatever\r\nGET"),
        Parsed::Done {
            len: 24,
            header: None
        }
    );
}

#[test]
fn v1_waits_for_the_rest_of_a_valid_start() {
    for cut in [1, 5, 6, 20, 41] {
        let line = b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 5678\r\n";
        assert_eq!(parse(&line[..cut]), Parsed::Incomplete, "cut at {cut}");
    }
}

#[test]
fn v1_malformed_lines_are_broken() {
    let cases: [&[u8]; 8] = [
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP5 1.1.1.1 1.1.1.1 1 1\r\n",
        b"PROXY TCP4 1.1.1.x 1.1.1.1 1 1\r\n",
        b"PROXY TCP4 1.1.1.1 1.1.1.1 1 65536\r\n",
        b"PROXY TCP4 1.1.1.1 1.1.1.1 -1 1\r\n",
        b"PROXY TCP4 1.1.1.1 1.1.1.1 1 1\n",
        b"PROXY TCP4 1.1.1.1 1.1.1.1 1 1 extra\r\n",
        b"PROXY TCP4 1.1.1.1 1.1.1.1 1\r\n",
    ];
    for case in cases {
        assert!(
            matches!(parse(case), Parsed::Broken(_)),
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
    assert_eq!(
        parse(b"PROXY TCP4 1.1.1.x 1.1.1.1 1 1\r\n"),
        Parsed::Broken("broken header: \"PROXY TCP4 1.1.1.x 1.1.1.1 1 1\"".to_string())
    );
}

#[test]
fn v1_longer_than_107_bytes_is_broken() {
    let mut line = b"PROXY TCP6 ".to_vec();
    line.extend(std::iter::repeat_n(b'a', 120));
    assert!(matches!(parse(&line), Parsed::Broken(_)));
    // Short of the limit and no line end yet: still arriving.
    assert_eq!(parse(&line[..100]), Parsed::Incomplete);
}

#[test]
fn v2_inet4_with_tlvs() {
    let mut tlvs = tlv(0x01, b"h2");
    tlvs.extend(tlv(0x02, b"example.com"));
    tlvs.extend(tlv(0xae, b"12345"));
    let mut ssl = vec![0x01, 0, 0, 0, 255];
    ssl.extend(tlv(0x21, b"TLSv1.3"));
    ssl.extend(tlv(0x22, b"client.example"));
    tlvs.extend(tlv(0x20, &ssl));
    let mut input = v2_header(0x21, 0x11, &inet4_body(&tlvs));
    let total = input.len();
    input.extend_from_slice(b"GET /");
    let (len, h) = header(parse(&input));
    assert_eq!(len, total);
    assert_eq!(h.src_addr, "192.0.2.1");
    assert_eq!(h.dst_addr, "192.0.2.2");
    assert_eq!((h.src_port, h.dst_port), (123, 5678));
    assert_eq!(value(&h, "alpn").as_deref(), Some("h2"));
    assert_eq!(value(&h, "0x01").as_deref(), Some("h2"));
    assert_eq!(value(&h, "authority").as_deref(), Some("example.com"));
    assert_eq!(value(&h, "0x000ae").as_deref(), Some("12345"));
    assert_eq!(value(&h, "ssl_verify").as_deref(), Some("255"));
    assert_eq!(value(&h, "ssl_version").as_deref(), Some("TLSv1.3"));
    assert_eq!(value(&h, "ssl_0x22").as_deref(), Some("client.example"));
    assert_eq!(value(&h, "ssl_cipher"), None);
    assert_eq!(value(&h, "netns"), None);
    assert_eq!(value(&h, "0x0f"), None);
    let mut raw = Vec::new();
    assert_eq!(h.tlv(&TlvName::parse("ssl"), &mut raw), Ok(true));
    assert_eq!(raw, ssl);
}

#[test]
fn v2_inet6() {
    let mut body = Vec::new();
    body.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    body.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    body.extend_from_slice(&[0, 80, 1, 187]);
    let (_, h) = header(parse(&v2_header(0x21, 0x21, &body)));
    assert_eq!(h.src_addr, "2001:db8::1");
    assert_eq!(h.dst_addr, "::1");
    assert_eq!((h.src_port, h.dst_port), (80, 443));
}

#[test]
fn v2_local_and_other_families_are_skipped() {
    let local = v2_header(0x20, 0x11, &inet4_body(&[]));
    assert_eq!(
        parse(&local),
        Parsed::Done {
            len: local.len(),
            header: None
        }
    );
    let unix = v2_header(0x21, 0x31, &[0u8; 216]);
    assert_eq!(
        parse(&unix),
        Parsed::Done {
            len: unix.len(),
            header: None
        }
    );
    let dgram = v2_header(0x21, 0x12, &inet4_body(&[]));
    assert!(matches!(parse(&dgram), Parsed::Done { header: None, .. }));
}

#[test]
fn v2_truncated_waits_and_bad_input_is_broken() {
    let full = v2_header(0x21, 0x11, &inet4_body(&tlv(1, b"x")));
    for cut in [1, 11, 12, 15, 16, full.len() - 1] {
        assert_eq!(parse(&full[..cut]), Parsed::Incomplete, "cut at {cut}");
    }
    assert_eq!(
        parse(&v2_header(0x11, 0x11, &inet4_body(&[]))),
        Parsed::Broken("unknown PROXY protocol version: 1".to_string())
    );
    assert!(matches!(
        parse(&v2_header(0x21, 0x11, &[1, 2, 3])),
        Parsed::Broken(_)
    ));
    let mut huge = SIGNATURE.to_vec();
    huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    assert_eq!(
        parse(&huge),
        Parsed::Broken("header is too large".to_string())
    );
}

#[test]
fn broken_tlvs_are_errors_when_read() {
    let mut tlvs = tlv(0x01, b"ok");
    tlvs.extend_from_slice(&[0x02, 0x00, 0x09, b'x']);
    let (_, h) = header(parse(&v2_header(0x21, 0x11, &inet4_body(&tlvs))));
    let mut out = Vec::new();
    assert_eq!(h.tlv(&TlvName::parse("alpn"), &mut out), Ok(true));
    assert_eq!(
        h.tlv(&TlvName::parse("authority"), &mut out),
        Err(TlvError::Broken)
    );
    // An SSL TLV shorter than its fixed part.
    let (_, h) = header(parse(&v2_header(
        0x21,
        0x11,
        &inet4_body(&tlv(0x20, &[1, 0])),
    )));
    assert_eq!(
        h.tlv(&TlvName::parse("ssl_verify"), &mut out),
        Err(TlvError::Broken)
    );
}

#[test]
fn tlv_names() {
    assert_eq!(
        TlvName::parse("0x3"),
        TlvName::Type {
            ssl: false,
            code: 3
        }
    );
    assert_eq!(
        TlvName::parse("ssl_key_alg"),
        TlvName::Type {
            ssl: true,
            code: 0x25
        }
    );
    assert_eq!(
        TlvName::parse("ssl"),
        TlvName::Type {
            ssl: false,
            code: 0x20
        }
    );
    assert_eq!(TlvName::parse("ssl_verify"), TlvName::SslVerify);
    assert!(matches!(TlvName::parse("bogus"), TlvName::Unknown(_)));
    assert!(matches!(TlvName::parse("0xzz"), TlvName::Unknown(_)));
    assert!(matches!(TlvName::parse("0x"), TlvName::Unknown(_)));
}
