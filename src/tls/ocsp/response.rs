//! Checking an OCSP response before it is stapled, sans-io. Whatever `ssl_stapling_verify`
//! says, a response is stapled only when it is a successful basic response with an entry
//! for this certificate's [`CertId`](x509_ocsp::CertId), whose status is "good" and which
//! is current: thisUpdate not in the future and nextUpdate (when given) not past, with
//! nginx's five minutes of leeway for clock skew. With verification on, it must also be
//! signed as OpenSSL's `OCSP_basic_verify` requires: by the issuer or another certificate
//! of the server's chain, or by a certificate the response carries that chains to
//! `ssl_trusted_certificate` and is the issuer or a responder the issuer gave
//! `OCSPSigning` (RFC 6960 §4.2.2.2).
//!
//! nginx checks the signature even with verification off, but then trusts any signer the
//! response brings along, which proves nothing; anx skips it then.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use rustls::pki_types::{CertificateDer, UnixTime};
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::Certificate;
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus, ResponderId};

use super::plan::Plan;
use super::signed::{sha1, split, verify};

/// Clock skew allowed on thisUpdate and nextUpdate (nginx's, from OpenSSL's
/// `OCSP_check_validity` call).
pub const LEEWAY_SECS: u64 = 300;

/// How many issuers a responder's certificate may have above it (OpenSSL's default
/// verify depth, which nginx leaves to the store).
const SIGNER_DEPTH: u32 = 100;

const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// A response fit to staple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Good {
    /// The response as received: what goes into the handshake.
    pub der: Vec<u8>,
    /// thisUpdate, seconds since the Unix epoch.
    pub this_update: u64,
    /// nextUpdate; `None` when the responder gave none (then the staple never expires
    /// by itself and is refreshed on the hourly schedule).
    pub next_update: Option<u64>,
}

impl Good {
    /// Whether the staple is still usable at `now` (Unix seconds).
    pub fn current(&self, now: u64) -> bool {
        self.next_update
            .is_none_or(|next| now <= next.saturating_add(LEEWAY_SECS))
    }
}

/// Why a response is not stapled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The responder says "revoked" or "unknown": a staple kept from before must go too.
    Status(&'static str),
    /// Anything else (malformed, not for this certificate, stale, badly signed): an
    /// earlier good staple stays until it expires, as in nginx.
    Invalid(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Status(s) => write!(f, "certificate status \"{s}\" in the OCSP response"),
            Refusal::Invalid(m) => f.write_str(m),
        }
    }
}

impl From<String> for Refusal {
    fn from(m: String) -> Refusal {
        Refusal::Invalid(m)
    }
}

impl From<&str> for Refusal {
    fn from(m: &str) -> Refusal {
        Refusal::Invalid(m.to_string())
    }
}

/// What a response says of one certificate (RFC 6960's CertStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertState {
    Good,
    Revoked,
    Unknown,
}

impl CertState {
    /// OpenSSL's name (`OCSP_cert_status_str`).
    pub fn name(self) -> &'static str {
        match self {
            CertState::Good => "good",
            CertState::Revoked => "revoked",
            CertState::Unknown => "unknown",
        }
    }
}

/// Checks `der` against `plan` at `now` (Unix seconds); a refusal reads as nginx's log
/// message. Only a "good" answer staples.
pub fn check(der: &[u8], plan: &Plan, now: u64) -> Result<Good, Refusal> {
    match read(der, plan, now)? {
        (CertState::Good, good) => Ok(good),
        (state, _) => Err(Refusal::Status(state.name())),
    }
}

/// Every check of a response but its status, in nginx's order (`ngx_ssl_ocsp_verify`):
/// a successful basic response, signed as `plan` requires (with `plan.verify`), with an
/// entry for the certificate, current. The status and the times are the caller's to judge.
pub fn read(der: &[u8], plan: &Plan, now: u64) -> Result<(CertState, Good), String> {
    let response = OcspResponse::from_der(der)
        .map_err(|e| format!("d2i_OCSP_RESPONSE() failed (cannot parse the response: {e})"))?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(format!(
            "OCSP response not successful ({})",
            status_name(response.response_status)
        ));
    }
    let bytes = response
        .response_bytes
        .ok_or("OCSP response is successful but carries no response")?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(format!(
            "OCSP response of type {} is not a basic response",
            bytes.response_type
        ));
    }
    let basic_der = bytes.response.as_bytes();
    let basic = BasicOcspResponse::from_der(basic_der)
        .map_err(|e| format!("OCSP_response_get1_basic() failed ({e})"))?;
    if plan.verify {
        verify_signer(basic_der, &basic, plan, now)?;
    }
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|s| same_cert(&s.cert_id, &plan.cert_id))
        .ok_or("certificate status not found in the OCSP response")?;
    let state = match &single.cert_status {
        CertStatus::Good(_) => CertState::Good,
        CertStatus::Revoked(_) => CertState::Revoked,
        CertStatus::Unknown(_) => CertState::Unknown,
    };
    let this_update = single.this_update.0.to_unix_duration().as_secs();
    let next_update = single
        .next_update
        .as_ref()
        .map(|t| t.0.to_unix_duration().as_secs());
    if this_update > now.saturating_add(LEEWAY_SECS) {
        return Err("OCSP_check_validity() failed (status not yet valid)".into());
    }
    if let Some(next) = next_update {
        if next < this_update {
            return Err("OCSP_check_validity() failed (nextUpdate before thisUpdate)".into());
        }
    }
    let good = Good {
        der: der.to_vec(),
        this_update,
        next_update,
    };
    if !good.current(now) {
        return Err("OCSP_check_validity() failed (status expired)".into());
    }
    Ok((state, good))
}

/// CertIDs match by hash algorithm (OID; parameters may be NULL or absent), both hashes
/// and the serial number.
fn same_cert(a: &x509_ocsp::CertId, b: &x509_ocsp::CertId) -> bool {
    a.hash_algorithm.oid == b.hash_algorithm.oid
        && a.issuer_name_hash == b.issuer_name_hash
        && a.issuer_key_hash == b.issuer_key_hash
        && a.serial_number == b.serial_number
}

/// OpenSSL's `OCSP_basic_verify`, as nginx calls it. With `plan.trust_other` (stapling:
/// `OCSP_TRUSTOTHER`) a signer among the certificate's own chain (or its issuer, wherever
/// it was found) is trusted as it is. Any other signer (every one, for client
/// certificates) must chain to the trusted certificates and be the issuer itself or a
/// responder the issuer gave `OCSPSigning` (a trusted root that is neither is "root ca
/// not trusted": OpenSSL takes one only with an explicit OCSP-signing trust setting, which
/// a PEM certificate does not carry).
fn verify_signer(
    basic_der: &[u8],
    basic: &BasicOcspResponse,
    plan: &Plan,
    now: u64,
) -> Result<(), String> {
    let failed = |why: &str| format!("OCSP_basic_verify() failed ({why})");
    let signed = split(basic_der).map_err(|e| failed(&e))?;
    let responder = &basic.tbs_response_data.responder_id;
    let signature = |signer: &Certificate| {
        verify(&signed, &signer.tbs_certificate.subject_public_key_info)
            .map_err(|_| failed("signature failure"))
    };
    let mut own: Vec<Certificate> = plan
        .chain
        .iter()
        .filter_map(|c| Certificate::from_der(c).ok())
        .collect();
    if plan.trust_other {
        own.push(plan.issuer.clone());
    }
    let carried: Vec<&Certificate> = basic.certs.iter().flatten().collect();
    // OpenSSL takes the first certificate the ResponderID names, right key or not: from
    // the chain it was given first, then from the response.
    let (signer, as_is) = match own.iter().find(|c| names(responder, c)) {
        Some(c) => (c, plan.trust_other),
        None => (
            carried
                .iter()
                .copied()
                .find(|c| names(responder, c))
                .ok_or_else(|| failed("signer certificate not found"))?,
            false,
        ),
    };
    signature(signer)?;
    if as_is {
        return Ok(());
    }
    let signer_der = signer.to_der().map_err(|e| failed(&e.to_string()))?;
    let mut untrusted: Vec<CertificateDer<'static>> = carried
        .iter()
        .filter_map(|c| c.to_der().ok().map(CertificateDer::from))
        .collect();
    untrusted.extend(plan.chain.iter().cloned());
    let check = crate::tls::chain::Check {
        roots: &plan.trusted,
        crls: &[],
        depth: SIGNER_DEPTH,
        purpose: crate::tls::chain::Purpose::OcspSigner,
    };
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now));
    crate::tls::chain::verify(&signer_der, &untrusted, &check, at)
        .map_err(|e| failed(&format!("signer certificate verify error: {e}")))?;
    let is_issuer = signer.tbs_certificate.subject == plan.issuer.tbs_certificate.subject
        && signer.tbs_certificate.subject_public_key_info
            == plan.issuer.tbs_certificate.subject_public_key_info;
    if is_issuer || delegated_by(signer, &plan.issuer) {
        Ok(())
    } else {
        Err(failed("root ca not trusted"))
    }
}

/// Whether the ResponderID names `cert` (by subject, or by the SHA-1 of its key).
fn names(id: &ResponderId, cert: &Certificate) -> bool {
    match id {
        ResponderId::ByName(name) => *name == cert.tbs_certificate.subject,
        ResponderId::ByKey(hash) => {
            let key = cert
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes();
            hash.as_bytes() == sha1(key).as_slice()
        }
    }
}

/// Whether `issuer` signed `cert` and gave it the OCSPSigning extended key usage.
fn delegated_by(cert: &Certificate, issuer: &Certificate) -> bool {
    let ocsp_signing = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .filter_map(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok())
        .any(|eku| eku.0.contains(&ID_KP_OCSP_SIGNING));
    if !ocsp_signing || cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return false;
    }
    cert.to_der().is_ok_and(|der| {
        split(&der)
            .is_ok_and(|s| verify(&s, &issuer.tbs_certificate.subject_public_key_info).is_ok())
    })
}

fn status_name(status: OcspResponseStatus) -> &'static str {
    match status {
        OcspResponseStatus::Successful => "successful",
        OcspResponseStatus::MalformedRequest => "malformedrequest",
        OcspResponseStatus::InternalError => "internalerror",
        OcspResponseStatus::TryLater => "trylater",
        OcspResponseStatus::SigRequired => "sigrequired",
        OcspResponseStatus::Unauthorized => "unauthorized",
    }
}
