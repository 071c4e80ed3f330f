//! Random identifiers and secrets (tokens, codes, grant ids) and the hashing used to store
//! them. Randomness here comes from the OS: these are secrets, not generated world data.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::TryRngCore;
use rand::rngs::OsRng;

/// `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let mut rng = OsRng.unwrap_err();
    rng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    OsRng.unwrap_err().fill_bytes(&mut buf);
    buf
}

/// A secret with a readable prefix, e.g. `sbat_…` for access tokens.
pub fn prefixed_secret(prefix: &str) -> String {
    format!("{prefix}_{}", random_token(32))
}

/// A short id with a readable prefix, e.g. `grt_…` for grants.
pub fn prefixed_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_token(12))
}

/// SHA-256, base64url: how tokens, codes and secrets are stored.
pub fn sha256_b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, data))
}

/// Salted hash of a password or client secret.
pub fn hash_secret(salt: &str, secret: &str) -> String {
    sha256_b64(format!("{salt}:{secret}").as_bytes())
}

/// PKCE S256 (RFC 7636 §4.2): BASE64URL(SHA256(ASCII(code_verifier))).
pub fn pkce_s256(verifier: &str) -> String {
    sha256_b64(verifier.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
