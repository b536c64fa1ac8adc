//! What to ask which responder about one certificate: the OCSP request, where to send it,
//! and the certificates that may sign the answer. Sans-io, from one configuration
//! generation's model; `config::resolve` calls [`plan`] at load time to report what cannot
//! staple, `tls::acceptor` again to build the fetcher's targets.
//!
//! nginx's rules: the responder is `ssl_stapling_responder` if set, otherwise the first
//! OCSP URL in the leaf's Authority Information Access; the issuer is the certificate after
//! the leaf in `ssl_certificate`'s chain whose name and key issued the leaf, or else such a
//! certificate from `ssl_trusted_certificate`.

use der::asn1::OctetString;
use der::{Decode, Encode};
use rustls::pki_types::CertificateDer;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_ocsp::{CertId, OcspRequest, Request, TbsRequest, Version};

use super::http::{parse_url, Url};
use super::signed::{sha1, split, verify};

const ID_PE_AUTHORITY_INFO_ACCESS: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
const ID_AD_OCSP: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const ID_SHA1: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.14.3.2.26");

/// Everything one fetch needs, derived once per generation.
#[derive(Debug, Clone)]
pub struct Plan {
    pub url: Url,
    /// The certificate the request names (matched against the response's entries).
    pub cert_id: CertId,
    /// The DER OCSP request (one certificate, no nonce, unsigned, as nginx sends).
    pub request: Vec<u8>,
    /// The leaf's issuer: it signs the response or the delegated responder's certificate.
    pub issuer: Certificate,
    /// The certificates after the leaf in `ssl_certificate`: a signer found among them is
    /// trusted as it is (OpenSSL's `OCSP_TRUSTOTHER`, which nginx sets for verification).
    pub chain: Vec<CertificateDer<'static>>,
    /// `ssl_trusted_certificate`: where the chain of a signer the response brings along
    /// must end, with `ssl_stapling_verify`.
    pub trusted: Vec<CertificateDer<'static>>,
    /// `ssl_stapling_verify`.
    pub verify: bool,
    /// A signer found in `chain` is trusted without further checks (OpenSSL's
    /// `OCSP_TRUSTOTHER`: nginx sets it for stapling, not for client certificates).
    pub trust_other: bool,
}

/// The plan for the leaf of `chain`, or why it cannot staple (an nginx-style message
/// without the certificate's path; the caller adds it).
pub fn plan(
    chain: &[CertificateDer<'_>],
    responder: Option<&str>,
    trusted: &[CertificateDer<'_>],
    verify: bool,
) -> Result<Plan, String> {
    let (leaf_der, rest) = chain.split_first().ok_or("no certificate")?;
    let leaf = Certificate::from_der(leaf_der).map_err(|e| format!("cannot parse: {e}"))?;
    let parse_all = |certs: &[CertificateDer<'_>]| -> Vec<(Certificate, Vec<u8>)> {
        certs
            .iter()
            .filter_map(|c| Certificate::from_der(c).ok().map(|p| (p, c.to_vec())))
            .collect()
    };
    let in_chain = parse_all(rest);
    let in_trusted = parse_all(trusted);
    let issuer = in_chain
        .iter()
        .chain(in_trusted.iter())
        .find(|(c, _)| issued(&leaf, leaf_der, c))
        .map(|(c, _)| c.clone())
        .ok_or("issuer certificate not found")?;
    // nginx looks for the issuer first, then for the responder.
    let url = match responder {
        Some(url) => parse_url(url)?,
        None => {
            let aia = responder_in(&leaf).ok_or("no OCSP responder URL")?;
            parse_url(&aia).map_err(|e| format!("invalid OCSP responder \"{aia}\" ({e})"))?
        }
    };
    let cert_id = cert_id(&leaf, &issuer)?;
    let request = OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id.clone(),
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(|e| format!("cannot encode the OCSP request: {e}"))?;
    Ok(Plan {
        url,
        cert_id,
        request,
        issuer,
        chain: rest.iter().map(|c| c.clone().into_owned()).collect(),
        trusted: trusted.iter().map(|c| c.clone().into_owned()).collect(),
        verify,
        trust_other: true,
    })
}

/// The first OCSP URL in the certificate's Authority Information Access.
pub fn responder_in(cert: &Certificate) -> Option<String> {
    let ext = cert
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == ID_PE_AUTHORITY_INFO_ACCESS)?;
    let aia = AuthorityInfoAccessSyntax::from_der(ext.extn_value.as_bytes()).ok()?;
    aia.0.iter().find_map(|d| match &d.access_location {
        GeneralName::UniformResourceIdentifier(uri) if d.access_method == ID_AD_OCSP => {
            Some(uri.as_str().to_string())
        }
        _ => None,
    })
}

/// Whether `candidate` issued `leaf`: its subject is the leaf's issuer and its key
/// verifies the leaf's signature.
fn issued(leaf: &Certificate, leaf_der: &[u8], candidate: &Certificate) -> bool {
    candidate.tbs_certificate.subject == leaf.tbs_certificate.issuer
        && split(leaf_der)
            .is_ok_and(|s| verify(&s, &candidate.tbs_certificate.subject_public_key_info).is_ok())
}

/// RFC 6960's CertID with SHA-1 (RFC 5019's profile): hashes of the issuer's name and
/// public key, and the leaf's serial number.
pub fn cert_id(leaf: &Certificate, issuer: &Certificate) -> Result<CertId, String> {
    let name = issuer
        .tbs_certificate
        .subject
        .to_der()
        .map_err(|e| format!("cannot encode the issuer's name: {e}"))?;
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let octets = |v: Vec<u8>| OctetString::new(v).map_err(|e| e.to_string());
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ID_SHA1,
            parameters: Some(der::Any::null()),
        },
        issuer_name_hash: octets(sha1(&name))?,
        issuer_key_hash: octets(sha1(key))?,
        serial_number: leaf.tbs_certificate.serial_number.clone(),
    })
}
