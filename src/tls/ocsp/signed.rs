//! Signatures over DER structures, for OCSP: the signed-data shape that certificates and
//! OCSP basic responses share (`SEQUENCE { tbs, algorithm, BIT STRING signature, … }`),
//! checked with the crypto provider anx serves with.
//!
//! Sans-io; used by [`super::plan`] (which certificate issued the leaf) and
//! [`super::response`] (who signed a response). The signed bytes are taken from the input
//! as they are, never re-encoded, so a response verifies exactly as its signer wrote it.

use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Encode, Reader, SliceReader};
use rustls::pki_types::SignatureVerificationAlgorithm;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

/// The parts of a signed structure, borrowed from its DER.
pub struct Signed<'a> {
    /// The signed bytes: the first element's whole encoding (tag, length, value).
    pub tbs: &'a [u8],
    /// The contents of the signature's AlgorithmIdentifier SEQUENCE.
    pub algorithm: &'a [u8],
    pub signature: &'a [u8],
}

/// Splits `der` (a certificate or a BasicOCSPResponse) into what was signed and the
/// signature; elements after the signature (a response's certificates) are left alone.
pub fn split(der: &[u8]) -> Result<Signed<'_>, String> {
    let outer = AnyRef::from_der(der).map_err(|e| format!("bad DER: {e}"))?;
    let body = outer.value();
    let mut reader = SliceReader::new(body).map_err(|e| format!("bad DER: {e}"))?;
    let tbs: AnyRef<'_> = reader.decode().map_err(|e| format!("bad DER: {e}"))?;
    // DER has one encoding per value, so the decoded element's length is its length in
    // the input.
    let tbs_len = tbs
        .encoded_len()
        .ok()
        .and_then(|l| usize::try_from(l).ok())
        .filter(|&l| l <= body.len())
        .ok_or("bad DER length")?;
    let algorithm: AnyRef<'_> = reader.decode().map_err(|e| format!("bad DER: {e}"))?;
    let signature: BitStringRef<'_> = reader.decode().map_err(|e| format!("bad DER: {e}"))?;
    Ok(Signed {
        tbs: &body[..tbs_len],
        algorithm: algorithm.value(),
        signature: signature.raw_bytes(),
    })
}

/// Whether `signed` carries a valid signature by the key in `spki`. Algorithms are those
/// of `tls::provider()` (RSA PKCS#1 and PSS, ECDSA P-256/P-384/P-521, Ed25519), matched by
/// their DER identifiers as webpki does.
pub fn verify(signed: &Signed<'_>, spki: &SubjectPublicKeyInfoOwned) -> Result<(), String> {
    let key_alg = spki
        .algorithm
        .to_der()
        .ok()
        .and_then(|d| AnyRef::from_der(&d).ok().map(|a| a.value().to_vec()))
        .ok_or("bad public key algorithm")?;
    let key = spki.subject_public_key.raw_bytes();
    let provider = crate::tls::provider();
    let alg: &dyn SignatureVerificationAlgorithm = provider
        .signature_verification_algorithms
        .all
        .iter()
        .copied()
        .find(|a| {
            a.signature_alg_id().as_ref() == signed.algorithm
                && a.public_key_alg_id().as_ref() == key_alg.as_slice()
        })
        .ok_or("unsupported signature algorithm")?;
    alg.verify_signature(key, signed.tbs, signed.signature)
        .map_err(|_| "signature verify error".to_string())
}

/// SHA-1 of `data`: RFC 5019 (the profile every public responder serves) names
/// certificates by SHA-1 hashes of the issuer's name and key. Not used for security: the
/// response's own signature is what is trusted.
pub fn sha1(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}
