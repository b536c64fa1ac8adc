//! Encrypted private keys (`ssl_password_file`): PKCS#8 `ENCRYPTED PRIVATE KEY` with
//! PBES2 (PBKDF2 with HMAC-SHA1/SHA-256/384/512, AES-128/192/256-CBC), which is what
//! OpenSSL 3 writes for `openssl genrsa -aes128`, `openssl req -newkey` with a pass phrase
//! and `openssl pkcs8 -topk8`.
//!
//! Where it sits: `config::resolve::tls` reads a key file; when it holds an encrypted key
//! it calls [`decrypt`] with each pass phrase of the password file in turn, as nginx does,
//! at load time only. The decrypted key never reaches the disk. Sans-io; the primitives
//! are aws-lc-rs's. The traditional `Proc-Type: 4,ENCRYPTED` PEM form (OpenSSL 1.x's
//! default, key derived with MD5) is refused with a message saying how to convert it.

use std::num::NonZeroU32;

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Reader, SliceReader};

const PBES2: &str = "1.2.840.113549.1.5.13";
const PBKDF2: &str = "1.2.840.113549.1.5.12";

/// The pass phrases of a password file: one a line, line ends (`\n`, `\r\n`) not part of
/// them (nginx's reading).
pub fn passwords(file: &[u8]) -> Vec<Vec<u8>> {
    file.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Decrypts a PKCS#8 `EncryptedPrivateKeyInfo` (DER) with `password`, giving the
/// `PrivateKeyInfo` DER. Errors say what is wrong (a wrong pass phrase shows as "bad
/// decrypt", OpenSSL's words).
pub fn decrypt(der: &[u8], password: &[u8]) -> Result<Vec<u8>, String> {
    let bad = |e: der::Error| format!("bad encrypted key: {e}");
    let outer = AnyRef::from_der(der).map_err(bad)?;
    let mut r = SliceReader::new(outer.value()).map_err(bad)?;
    let alg: AnyRef<'_> = r.decode().map_err(bad)?;
    let data: OctetStringRef<'_> = r.decode().map_err(bad)?;

    let mut alg_r = SliceReader::new(alg.value()).map_err(bad)?;
    let oid: ObjectIdentifier = alg_r.decode().map_err(bad)?;
    if oid.to_string() != PBES2 {
        return Err(format!(
            "unsupported key encryption {oid} (only PKCS#5 v2 / PBES2 is read)"
        ));
    }
    let params: AnyRef<'_> = alg_r.decode().map_err(bad)?;
    let mut p = SliceReader::new(params.value()).map_err(bad)?;
    let kdf: AnyRef<'_> = p.decode().map_err(bad)?;
    let scheme: AnyRef<'_> = p.decode().map_err(bad)?;

    // keyDerivationFunc: PBKDF2 { salt, iterationCount, keyLength?, prf? }
    let mut k = SliceReader::new(kdf.value()).map_err(bad)?;
    let kdf_oid: ObjectIdentifier = k.decode().map_err(bad)?;
    if kdf_oid.to_string() != PBKDF2 {
        return Err(format!("unsupported key derivation {kdf_oid}"));
    }
    let kdf_params: AnyRef<'_> = k.decode().map_err(bad)?;
    let mut kp = SliceReader::new(kdf_params.value()).map_err(bad)?;
    let salt: OctetStringRef<'_> = kp.decode().map_err(bad)?;
    let iterations: u32 = kp.decode().map_err(bad)?;
    let mut prf = aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA1;
    while !kp.is_finished() {
        let item: AnyRef<'_> = kp.decode().map_err(bad)?;
        if der::Tagged::tag(&item) == der::Tag::Sequence {
            let mut pr = SliceReader::new(item.value()).map_err(bad)?;
            let prf_oid: ObjectIdentifier = pr.decode().map_err(bad)?;
            prf = match prf_oid.to_string().as_str() {
                "1.2.840.113549.2.7" => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA1,
                "1.2.840.113549.2.9" => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
                "1.2.840.113549.2.10" => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA384,
                "1.2.840.113549.2.11" => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA512,
                other => return Err(format!("unsupported PBKDF2 hash {other}")),
            };
        }
    }

    // encryptionScheme: aes-N-cbc with its IV.
    let mut s = SliceReader::new(scheme.value()).map_err(bad)?;
    let cipher_oid: ObjectIdentifier = s.decode().map_err(bad)?;
    let iv: OctetStringRef<'_> = s.decode().map_err(bad)?;
    let (cipher, key_len) = match cipher_oid.to_string().as_str() {
        "2.16.840.1.101.3.4.1.2" => (&aws_lc_rs::cipher::AES_128, 16),
        "2.16.840.1.101.3.4.1.22" => (&aws_lc_rs::cipher::AES_192, 24),
        "2.16.840.1.101.3.4.1.42" => (&aws_lc_rs::cipher::AES_256, 32),
        other => return Err(format!("unsupported key cipher {other} (AES-CBC is read)")),
    };
    let iterations = NonZeroU32::new(iterations).ok_or("bad PBKDF2 iteration count")?;
    let mut key = vec![0u8; key_len];
    aws_lc_rs::pbkdf2::derive(prf, iterations, salt.as_bytes(), password, &mut key);
    let iv: [u8; 16] = iv.as_bytes().try_into().map_err(|_| "bad AES-CBC IV")?;
    let unbound = aws_lc_rs::cipher::UnboundCipherKey::new(cipher, &key)
        .map_err(|_| "bad AES key".to_string())?;
    let decrypting = aws_lc_rs::cipher::PaddedBlockDecryptingKey::cbc_pkcs7(unbound)
        .map_err(|_| "bad AES key".to_string())?;
    let mut buf = data.as_bytes().to_vec();
    let plain = decrypting
        .decrypt(
            &mut buf,
            aws_lc_rs::cipher::DecryptionContext::Iv128(iv.into()),
        )
        .map_err(|_| "bad decrypt".to_string())?;
    // A wrong pass phrase can still unpad by chance: the result must be DER.
    AnyRef::from_der(plain).map_err(|_| "bad decrypt".to_string())?;
    Ok(plain.to_vec())
}

/// The DER inside the first `-----BEGIN {label}-----` section of a PEM file, if any.
pub fn pem_section(file: &[u8], label: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(file).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    base64_decode(&text[start..stop])
}

/// Whether a PEM key file is in the traditional encrypted form (`Proc-Type: 4,ENCRYPTED`).
pub fn is_traditional_encrypted(file: &[u8]) -> bool {
    const MARK: &[u8] = b"Proc-Type: 4,ENCRYPTED";
    file.windows(MARK.len()).any(|w| w == MARK)
}

/// Standard base64 (padding optional, white space skipped); `None` on another byte.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_lines() {
        assert_eq!(
            passwords(b"wrong\r\nlocalhost\r\n"),
            vec![b"wrong".to_vec(), b"localhost".to_vec()]
        );
        assert_eq!(passwords(b"one"), vec![b"one".to_vec()]);
    }

    #[test]
    fn pem_sections_decode() {
        let pem = b"x\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAEC\nAw==\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            pem_section(pem, "ENCRYPTED PRIVATE KEY"),
            Some(vec![0, 1, 2, 3])
        );
        assert_eq!(pem_section(pem, "PRIVATE KEY"), None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decrypt(b"\x30\x00", b"x").is_err());
        assert!(decrypt(b"junk", b"x").is_err());
    }
}
